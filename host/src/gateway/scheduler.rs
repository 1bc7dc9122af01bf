//! The cron scheduler: due jobs run through the agent (a clam with its
//! arguments, or a prompt), so every call they make passes the same gate.
//!
//! Jobs run unattended: their approver is [`NonInteractive`], so an `ask` rule
//! is a denial, and the result (with what was denied and how to allow it) is
//! delivered to the job's channel, or to the owner.
//!
//! Missed runs: a job whose time passed while the gateway was not running runs
//! **once** when it next looks, however many times it was missed, and the
//! delivery says it ran late; its next run is then the first scheduled time
//! after now. There is never a burst of catch-up runs. The next run is recorded
//! *before* the job starts, so a crash during a run cannot make it run again in
//! a loop (at most once per scheduled time).
//!
//! Rights: an owner-made job runs under the current policy. A job a run made
//! runs under the current policy narrowed by every policy it was made under
//! ([`crate::policy::bounds`]), so it never has more rights than its maker,
//! nor more than the owner allows now. A job whose maker is unknown, or whose
//! recorded policy cannot be read back, is not run: the reason is logged and
//! delivered.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use super::Deliver;
use crate::agent::turn::{ClamRequest, Quiet, TurnRequest, Turns};
use crate::gate::approver::NonInteractive;
use crate::jobs::{millis, next_run};
use crate::store::cron::{CronJobs, Job};

/// What time it is; tests move it by hand.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How late a run may be before its delivery says so.
const LATE: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// Runs due jobs.
#[derive(Debug, Clone)]
pub struct Scheduler {
    pub jobs: CronJobs,
    pub turns: Arc<dyn Turns>,
    pub deliver: Arc<dyn Deliver>,
    pub clock: Arc<dyn Clock>,
    /// Cancels a running job (shutdown).
    pub cancel: CancellationToken,
}

impl Scheduler {
    /// Checks for due jobs every `every` until `stop`.
    pub async fn run(&self, every: Duration, stop: CancellationToken) {
        loop {
            if let Err(error) = self.tick().await {
                crate::gateway_log!("the scheduler: {error:#}");
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }

    /// Runs every job due now, one after another; returns how many ran.
    pub async fn tick(&self) -> Result<usize> {
        let now = self.clock.now();
        let due = self.jobs.due(millis(now))?;
        for job in &due {
            self.run_job(job, now).await;
        }
        Ok(due.len())
    }

    async fn run_job(&self, job: &Job, now: DateTime<Utc>) {
        let next = next_run(job, now);
        if let Err(error) = self.jobs.record_run(&job.id, millis(now), next) {
            // Not recorded means it could run again at once: do not run it now.
            self.deliver
                .deliver(
                    job.channel.as_deref(),
                    &format!("Job {} was not run: {error:#}", job.name),
                )
                .await;
            return;
        }
        let scheduled = job
            .next_run_ms
            .and_then(|ms| DateTime::from_timestamp_millis(ms as i64));
        let late = scheduled
            .filter(|&at| now - at > LATE)
            .map(|at| {
                format!(
                    " (scheduled for {}, ran late: clambot was not running)",
                    at.to_rfc3339()
                )
            })
            .unwrap_or_default();
        let book = crate::jobs::JobBook {
            jobs: self.jobs.clone(),
            snapshots: self.jobs.snapshots(),
        };
        let bounds = match book.bounds_of(job) {
            Ok(bounds) => bounds,
            Err(error) => {
                let text = format!("Job {} was not run: {error:#}", job.name);
                crate::gateway_log!("the scheduler: {text}");
                self.deliver.deliver(job.channel.as_deref(), &text).await;
                return;
            }
        };
        let session = format!("cron:{}", job.id);
        let result = if let Some(clam) = job.action.get("clam") {
            let args = clam
                .get("args-json")
                .and_then(Json::as_str)
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_else(|| Json::Object(Default::default()));
            self.turns
                .run_clam_within(
                    ClamRequest {
                        session,
                        clam: clam
                            .get("clam")
                            .and_then(Json::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        args,
                        approver: Arc::new(NonInteractive),
                        progress: Arc::new(Quiet),
                        cancel: self.cancel.child_token(),
                    },
                    bounds,
                )
                .await
        } else {
            let prompt = job
                .action
                .get("prompt")
                .and_then(Json::as_str)
                .unwrap_or_default();
            self.turns
                .turn_within(
                    TurnRequest {
                        session,
                        message: prompt.to_owned(),
                        approver: Arc::new(NonInteractive),
                        progress: Arc::new(Quiet),
                        cancel: self.cancel.child_token(),
                    },
                    bounds,
                )
                .await
        };
        let text = match result {
            Ok(reply) => {
                let mut text = format!("Job {}{late}:\n{}", job.name, reply.text);
                if !reply.denied.is_empty() && !reply.text.contains("policy denied") {
                    text.push_str(&format!(
                        "\n\nDenied while running unattended: {}. Jobs cannot ask for approval; \
                         to let this job do it, add an [[allow]] rule for it to the policy.",
                        reply.denied.join(", ")
                    ));
                }
                text
            }
            Err(error) => format!("Job {}{late} failed: {error:#}", job.name),
        };
        self.deliver.deliver(job.channel.as_deref(), &text).await;
    }
}
