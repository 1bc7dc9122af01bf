//! Scheduled jobs: the checks every job passes when it is added — the schedule
//! parses and has a next run, the time zone exists, a clam name is well-formed
//! and its arguments are a JSON object — so a bad job is an error to whoever
//! wrote it (a script through the gated `cron` interface, or the owner at
//! `clambot cron add`), not a silent failure at 3 a.m.
//!
//! Every job records who made it ([`Origin`]): the owner, or a run — with the
//! policies that run was under, kept as snapshots — so that when it fires it
//! has no more rights than its maker had ([`crate::policy::bounds`]). A job
//! whose maker is not recorded does not run until the owner adopts it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value as Json, json};

use crate::gate::ToolError;
use crate::policy::bounds::Bound;
use crate::policy::{Caller, Policy};
use crate::schedule::{Schedule, ScheduleSpec};
use crate::store::Store;
use crate::store::cron::{CronJobs, Job, Origin, RecordedBound};
use crate::store::snapshots::PolicySnapshots;

/// Longest job name and prompt.
const MAX_NAME_CHARS: usize = 64;
const MAX_PROMPT_CHARS: usize = 4_000;
const MAX_ARGS_BYTES: usize = 64 * 1024;

/// The job table with its rules: what the `cron` host interface serves (through
/// the gate), what `clambot cron` edits for the owner, what the scheduler reads.
#[derive(Debug, Clone)]
pub struct JobBook {
    pub jobs: CronJobs,
    pub snapshots: PolicySnapshots,
}

impl JobBook {
    pub fn new(store: Arc<Store>) -> Self {
        Self {
            jobs: CronJobs::new(Arc::clone(&store)),
            snapshots: PolicySnapshots::new(store),
        }
    }

    /// The origin of a job `caller` makes in run `run` under `policy`: the
    /// policy (and every policy it is narrowed by) is kept as a snapshot.
    pub fn origin_of_run(
        &self,
        policy: &Policy,
        caller: &Caller,
        run: &str,
    ) -> Result<Origin, ToolError> {
        let mut bounds = Vec::new();
        for bound in policy.lineage(caller) {
            if bound.policy.is_implicit() {
                return Err(ToolError::Denied {
                    rule: crate::policy::DEFAULT_DENY_RULE.into(),
                    reason: "no policy is in force, so no job can be made".into(),
                });
            }
            let sha256 = self
                .snapshots
                .save(bound.policy.name(), bound.policy.source())
                .map_err(failed)?;
            let recorded = RecordedBound {
                policy_sha256: sha256,
                maker: bound.maker.to_string(),
            };
            // A chain of jobs making jobs under one policy records it once.
            if !bounds.contains(&recorded) {
                bounds.push(recorded);
            }
        }
        Ok(Origin::Run {
            run: run.to_owned(),
            bounds,
        })
    }

    /// The policies a stored job must be judged under besides the current one:
    /// none for an owner-made job; the recorded ones for a run-made job; an
    /// error (the job must not run) when its maker is unknown or a recorded
    /// policy cannot be read back.
    pub fn bounds_of(&self, job: &Job) -> anyhow::Result<Vec<Bound>> {
        let bounds = match &job.origin {
            Origin::Owner => return Ok(Vec::new()),
            Origin::Unrecorded => anyhow::bail!(
                "it was stored without a record of who made it (by an older clambot, or the record is damaged), \
                 so the rights it may run with are unknown. If you made it, `clambot cron adopt {}` runs it \
                 under the current policy; otherwise `clambot cron remove {}`",
                job.id,
                job.id
            ),
            Origin::Run { bounds, .. } => bounds,
        };
        if bounds.is_empty() {
            anyhow::bail!("it records no policy it was made under");
        }
        let mut out = Vec::new();
        for recorded in bounds {
            let snapshot = self
                .snapshots
                .get(&recorded.policy_sha256)?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "the policy it was made under ({}) is not in the database",
                        recorded.policy_sha256
                    )
                })?;
            let short = snapshot.sha256.get(..12).unwrap_or(&snapshot.sha256);
            // A policy recorded from a recorded one is named `NAME@SHORT` already.
            let name = match snapshot.name.ends_with(&format!("@{short}")) {
                true => snapshot.name.clone(),
                false => format!("{}@{short}", snapshot.name),
            };
            let policy = Policy::parse(&name, &snapshot.text).map_err(|e| {
                anyhow::anyhow!("the policy it was made under ({short}) no longer loads: {e}")
            })?;
            let maker = match recorded.maker.as_str() {
                "script" => Caller::Script,
                other => match other.strip_prefix("tools.") {
                    Some(tool) if crate::policy::is_tool_name(tool) => {
                        Caller::Tool(tool.to_owned())
                    }
                    _ => anyhow::bail!("it records an unknown maker `{other}`"),
                },
            };
            out.push(Bound {
                policy: Arc::new(policy),
                maker,
            });
        }
        Ok(out)
    }

    /// Validates and stores a job (`spec` is the WIT `job-spec` as JSON); its
    /// results go to `channel` (`telegram:<chat id>`), or to the owner.
    /// `origin` says who made it, which decides its rights when it fires.
    pub fn add(
        &self,
        spec: &Json,
        channel: Option<String>,
        origin: Origin,
        now: DateTime<Utc>,
    ) -> Result<Json, ToolError> {
        let name = crate::tools::string_arg(spec, "name")?.trim();
        if name.is_empty()
            || name.chars().count() > MAX_NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(ToolError::Invalid(format!(
                "a job name must be 1 to {MAX_NAME_CHARS} characters on one line"
            )));
        }
        let schedule = parse_schedule(&spec["schedule"], now, now)?;
        check_action(&spec["action"])?;
        let job = Job {
            id: format!("job-{}", uuid::Uuid::now_v7().simple()),
            name: name.to_owned(),
            schedule: spec["schedule"].clone(),
            action: spec["action"].clone(),
            once: spec["once"].as_bool().unwrap_or(false),
            enabled: true,
            created_ms: millis(now),
            next_run_ms: schedule.next_after(now).map(millis),
            last_run_ms: None,
            channel,
            origin,
        };
        self.jobs.insert(&job).map_err(|e| {
            if e.to_string().contains("exists already") || e.to_string().contains("at most") {
                ToolError::Invalid(e.to_string())
            } else {
                ToolError::Failed(format!("storing the job: {e:#}"))
            }
        })?;
        Ok(job_json(&job))
    }

    /// Enables (computing the next run from now) or disables a job.
    pub fn set_enabled(
        &self,
        id: &str,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<(), ToolError> {
        let job = self
            .jobs
            .get(id)
            .map_err(failed)?
            .filter(|j| j.id == id)
            .ok_or_else(|| not_found(id))?;
        let next = if enabled { next_run(&job, now) } else { None };
        if enabled && next.is_none() {
            return Err(ToolError::Invalid(format!(
                "job `{}` has no future run time to enable",
                job.name
            )));
        }
        self.jobs.set_enabled(id, enabled, next).map_err(failed)?;
        Ok(())
    }
}

/// A stored job's next run after `now`, in milliseconds: its schedule is
/// re-parsed anchored at the job's creation time (so `every` stays on its
/// grid). `None` when there is none — the job was valid when added, so that is
/// an `at` in the past, not an error.
pub(crate) fn next_run(job: &Job, now: DateTime<Utc>) -> Option<u64> {
    let anchor = DateTime::from_timestamp_millis(job.created_ms as i64).unwrap_or(now);
    parse_schedule(&job.schedule, anchor, anchor)
        .ok()
        .and_then(|schedule| schedule.next_after(now))
        .map(millis)
}

/// The WIT `schedule` JSON as a checked [`Schedule`].
pub fn parse_schedule(
    value: &Json,
    anchor: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Schedule, ToolError> {
    let spec = schedule_spec(value)?;
    Schedule::parse(&spec, anchor, now).map_err(|e| ToolError::Invalid(e.to_string()))
}

/// The WIT `schedule` JSON as a [`ScheduleSpec`].
pub fn schedule_spec(value: &Json) -> Result<ScheduleSpec, ToolError> {
    if let Some(cron) = value.get("cron") {
        Ok(ScheduleSpec::Cron {
            expr: crate::tools::string_arg(cron, "expr")?.to_owned(),
            timezone: cron["timezone"].as_str().map(str::to_owned),
        })
    } else if let Some(seconds) = value.get("every").and_then(Json::as_u64) {
        Ok(ScheduleSpec::Every { seconds })
    } else if let Some(time) = value.get("at").and_then(Json::as_str) {
        Ok(ScheduleSpec::At {
            time: time.to_owned(),
        })
    } else {
        Err(ToolError::Invalid(
            "a schedule is {cron: {expr, timezone}}, {every: seconds} or {at: \"RFC 3339 time\"}"
                .into(),
        ))
    }
}

fn check_action(action: &Json) -> Result<(), ToolError> {
    if let Some(clam) = action.get("clam") {
        let name = crate::tools::string_arg(clam, "clam")?;
        let well_formed = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(ToolError::Invalid(format!(
                "`{name}` is not a clam name (lowercase letters, digits, `-`, `_`)"
            )));
        }
        let args = crate::tools::string_arg(clam, "args-json")?;
        if args.len() > MAX_ARGS_BYTES {
            return Err(ToolError::Invalid(format!(
                "the clam's arguments are larger than {}",
                crate::size::show_size(MAX_ARGS_BYTES as u64)
            )));
        }
        match serde_json::from_str::<Json>(args) {
            Ok(Json::Object(_)) => Ok(()),
            Ok(_) => Err(ToolError::Invalid(
                "`argsJson` must be a JSON object, e.g. \"{}\"".into(),
            )),
            Err(e) => Err(ToolError::Invalid(format!("`argsJson` is not JSON: {e}"))),
        }
    } else if let Some(prompt) = action.get("prompt").and_then(Json::as_str) {
        if prompt.trim().is_empty() || prompt.chars().count() > MAX_PROMPT_CHARS {
            return Err(ToolError::Invalid(format!(
                "a prompt must be 1 to {MAX_PROMPT_CHARS} characters"
            )));
        }
        Ok(())
    } else {
        Err(ToolError::Invalid(
            "an action is {clam: {clam, argsJson}} or {prompt: \"…\"}".into(),
        ))
    }
}

/// A job as the WIT `job` record.
pub fn job_json(job: &Job) -> Json {
    json!({
        "id": job.id,
        "name": job.name,
        "schedule": job.schedule,
        "action": job.action,
        "enabled": job.enabled,
        "next-run-ms": job.next_run_ms,
    })
}

/// `time` as milliseconds since the Unix epoch (0 before it).
pub(crate) fn millis(time: DateTime<Utc>) -> u64 {
    u64::try_from(time.timestamp_millis()).unwrap_or(0)
}

pub(crate) fn failed(e: anyhow::Error) -> ToolError {
    ToolError::Failed(format!("the job store: {e:#}"))
}

pub(crate) fn not_found(id: &str) -> ToolError {
    ToolError::NotFound(format!(
        "no job has the id `{id}` (see `cron.list` or `clambot cron list`)"
    ))
}
