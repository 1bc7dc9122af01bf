//! `clambot:host/cron`: add, list, remove, enable and disable scheduled jobs,
//! reached only through the gate. The rules for a job live in [`crate::jobs`];
//! firing jobs is the scheduler's work (the gateway), and a fired job runs
//! through the same sandbox and gate as any other run, non-interactively, and
//! with no more rights than the run that added it (see [`crate::jobs`]).

use std::sync::Arc;

use chrono::Utc;
use serde_json::Value as Json;

use crate::gate::{BoxFuture, HostInterface, RunContext, ToolError};
use crate::jobs::{JobBook, failed, job_json, not_found};
use crate::store::Store;

#[derive(Debug, Clone)]
pub struct Cron {
    book: JobBook,
}

impl Cron {
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            book: JobBook::new(store),
        }
    }
}

impl HostInterface for Cron {
    fn call<'a>(
        &'a self,
        function: &'a str,
        args: Json,
        run: &'a RunContext,
    ) -> BoxFuture<'a, Result<Json, ToolError>> {
        Box::pin(async move {
            let now = Utc::now();
            match function {
                // The job records the policies this run is under and who made
                // it: it will never run with more rights than this call had.
                "add" => {
                    let origin =
                        self.book
                            .origin_of_run(&run.gate.policy, &run.caller, &run.run_id)?;
                    self.book.add(&args["spec"], None, origin, now)
                }
                "list" => Ok(Json::Array(
                    self.book
                        .jobs
                        .list()
                        .map_err(failed)?
                        .iter()
                        .map(job_json)
                        .collect(),
                )),
                "remove" => {
                    let id = super::string_arg(&args, "id")?;
                    if self.book.jobs.remove(id).map_err(failed)? {
                        Ok(Json::Null)
                    } else {
                        Err(not_found(id))
                    }
                }
                "enable" => self
                    .book
                    .set_enabled(super::string_arg(&args, "id")?, true, now)
                    .map(|()| Json::Null),
                "disable" => self
                    .book
                    .set_enabled(super::string_arg(&args, "id")?, false, now)
                    .map(|()| Json::Null),
                other => Err(super::unknown_function("cron", other)),
            }
        })
    }
}
