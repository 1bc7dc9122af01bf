//! `clambot cron list|add|remove|enable|disable|adopt`: the owner's view of the
//! scheduled jobs (the same checks as the `cron` host interface). Jobs added
//! here are owner-made: they run under the policy in force when they fire. Jobs
//! a script added run with no more rights than that script had; `list` says
//! which is which.

use std::process::ExitCode;

use super::exit::Exit;
use anyhow::{Result, bail};
use clap::Subcommand;
use serde_json::{Value as Json, json};

use clambot::home::Home;
use clambot::jobs::{JobBook, parse_schedule};
use clambot::store::cron::Origin;
use clambot::terminal;

#[derive(Debug, Subcommand)]
pub enum CronCommand {
    /// The jobs, with their schedules and next run times.
    List {
        /// A JSON array: id, name, enabled, once, schedule, schedule_text, action,
        /// next_run, last_run, created, channel.
        #[arg(long)]
        json: bool,
    },
    /// Adds a job: one schedule (--cron, --every or --at) and one action (--clam or --prompt).
    Add {
        name: String,
        /// A 5-field cron expression, e.g. "0 9 * * 1-5".
        #[arg(long, value_name = "EXPR", group = "schedule")]
        cron: Option<String>,
        /// The IANA time zone of --cron [default: UTC].
        #[arg(long, value_name = "ZONE", requires = "cron")]
        tz: Option<String>,
        /// An interval, e.g. 15m, 2h.
        #[arg(long, value_name = "DURATION", group = "schedule")]
        every: Option<String>,
        /// Once, at an RFC 3339 time.
        #[arg(long, value_name = "TIME", group = "schedule")]
        at: Option<String>,
        /// Run this saved clam.
        #[arg(long, value_name = "NAME", group = "action")]
        clam: Option<String>,
        /// The clam's arguments, as JSON.
        #[arg(long, value_name = "JSON", requires = "clam", default_value = "{}")]
        args: String,
        /// Hand this prompt to the agent.
        #[arg(long, value_name = "TEXT", group = "action")]
        prompt: Option<String>,
        /// Remove the job after its first run.
        #[arg(long)]
        once: bool,
        /// Where results go, e.g. telegram:123456 [default: the owner's chat].
        #[arg(long, value_name = "CHANNEL")]
        channel: Option<String>,
    },
    /// Removes a job (by id or name).
    Remove { job: String },
    /// Enables a job (by id or name).
    Enable { job: String },
    /// Disables a job (by id or name).
    Disable { job: String },
    /// Vouches for a job whose maker was not recorded (stored by an older
    /// clambot): it becomes owner-made and runs under the current policy.
    Adopt { job: String },
}

pub fn run(command: CronCommand) -> Result<ExitCode> {
    let home = Home::from_env()?;
    let store = std::sync::Arc::new(home.open_store()?);
    let cron = JobBook::new(store);
    let jobs = &cron.jobs;
    let now = chrono::Utc::now();
    let find = |job: &str| -> Result<clambot::store::cron::Job> {
        jobs.get(job)?.ok_or_else(|| {
            anyhow::Error::new(Exit::not_found(format!(
                "no job has the id or name {job:?} (see `clambot cron list`)"
            )))
        })
    };
    match command {
        CronCommand::List { json: true } => {
            let list: Vec<_> = jobs
                .list()?
                .into_iter()
                .map(|job| {
                    let anchor = chrono::DateTime::from_timestamp_millis(job.created_ms as i64)
                        .unwrap_or(now);
                    serde_json::json!({
                        "id": job.id, "name": job.name, "enabled": job.enabled,
                        "once": job.once, "schedule": job.schedule,
                        "schedule_text": parse_schedule(&job.schedule, anchor, anchor)
                            .map(|s| s.describe()).ok(),
                        "action": job.action,
                        "next_run": super::output::rfc3339_ms(job.next_run_ms),
                        "last_run": super::output::rfc3339_ms(job.last_run_ms),
                        "created": super::output::rfc3339_ms(Some(job.created_ms)),
                        "channel": job.channel,
                    })
                })
                .collect();
            super::output::print_json(&list)?;
            Ok(ExitCode::SUCCESS)
        }
        CronCommand::List { json: false } => {
            let all = jobs.list()?;
            if all.is_empty() {
                println!("No jobs.");
            }
            for job in all {
                let anchor =
                    chrono::DateTime::from_timestamp_millis(job.created_ms as i64).unwrap_or(now);
                let schedule = parse_schedule(&job.schedule, anchor, anchor)
                    .map(|s| s.describe())
                    .unwrap_or_else(|e| format!("invalid schedule: {e}"));
                let next = job
                    .next_run_ms
                    .and_then(|ms| chrono::DateTime::from_timestamp_millis(ms as i64))
                    .map_or("—".to_owned(), |t| t.to_rfc3339());
                // A script can add jobs (cron.add): names and actions are its text.
                let line = format!(
                    "{}  {:<20} {:<8} {}  next {}  → {}  {}  ({})",
                    job.id,
                    job.name,
                    if job.enabled { "enabled" } else { "disabled" },
                    schedule,
                    next,
                    describe_action(&job.action),
                    job.channel.as_deref().unwrap_or("owner"),
                    job.origin.describe()
                );
                println!("{}", terminal::inline(&line));
            }
            Ok(ExitCode::SUCCESS)
        }
        CronCommand::Add {
            name,
            cron: expr,
            tz,
            every,
            at,
            clam,
            args,
            prompt,
            once,
            channel,
        } => {
            let schedule = match (expr, every, at) {
                (Some(expr), None, None) => json!({"cron": {"expr": expr, "timezone": tz}}),
                (None, Some(every), None) => {
                    let seconds = clambot::size::parse_duration(&every)
                        .map_err(|e| Exit::usage(format!("--every: {e}")))?
                        .as_secs();
                    json!({"every": seconds})
                }
                (None, None, Some(at)) => json!({"at": at}),
                _ => bail!(Exit::usage(
                    "give one schedule: --cron EXPR [--tz ZONE], --every DURATION or --at TIME"
                )),
            };
            let action = match (clam, prompt) {
                (Some(clam), None) => json!({"clam": {"clam": clam, "args-json": args}}),
                (None, Some(prompt)) => json!({"prompt": prompt}),
                _ => bail!(Exit::usage(
                    "give one action: --clam NAME [--args JSON] or --prompt TEXT"
                )),
            };
            if let Some(channel) = &channel
                && channel
                    .strip_prefix("telegram:")
                    .is_none_or(|id| id.parse::<i64>().is_err())
            {
                bail!(Exit::usage("--channel must look like telegram:123456789"));
            }
            let spec = json!({"name": name, "schedule": schedule, "action": action, "once": once});
            // The job book refuses a bad schedule or action: invalid input.
            let job = cron
                .add(&spec, channel, Origin::Owner, now)
                .map_err(|e| Exit::not_found(e.to_string()))?;
            println!(
                "added {} ({}), next run {}",
                job["id"].as_str().unwrap_or_default(),
                name,
                job["next-run-ms"]
                    .as_i64()
                    .and_then(chrono::DateTime::from_timestamp_millis)
                    .map_or("—".to_owned(), |t| t.to_rfc3339())
            );
            Ok(ExitCode::SUCCESS)
        }
        CronCommand::Remove { job } => {
            let job = find(&job)?;
            jobs.remove(&job.id)?;
            println!("removed {} ({})", job.id, terminal::inline(&job.name));
            Ok(ExitCode::SUCCESS)
        }
        CronCommand::Enable { job } => toggle(&cron, &find(&job)?, true, now),
        CronCommand::Disable { job } => toggle(&cron, &find(&job)?, false, now),
        CronCommand::Adopt { job } => {
            let job = find(&job)?;
            let refusal = match &job.origin {
                Origin::Unrecorded => None,
                Origin::Owner => Some(format!(
                    "job {} ({}) is owner-made already",
                    job.id, job.name
                )),
                // A script's job keeps its maker's rights: adopting it would
                // hand it the owner's. Re-add it with `cron add` instead.
                Origin::Run { .. } => Some(format!(
                    "job {} ({}) was made by a run and keeps that run's rights; to give it yours, \
                     remove it and add it again with `clambot cron add`",
                    job.id, job.name
                )),
            };
            if let Some(refusal) = refusal {
                eprintln!("clambot: {refusal}");
                return Ok(ExitCode::from(1));
            }
            jobs.adopt(&job.id)?;
            println!(
                "adopted {} ({}): it runs under the current policy",
                job.id, job.name
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn toggle(
    cron: &JobBook,
    job: &clambot::store::cron::Job,
    enabled: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ExitCode> {
    cron.set_enabled(&job.id, enabled, now)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "{} {} ({})",
        if enabled { "enabled" } else { "disabled" },
        job.id,
        terminal::inline(&job.name)
    );
    Ok(ExitCode::SUCCESS)
}

fn describe_action(action: &Json) -> String {
    if let Some(clam) = action.get("clam") {
        format!(
            "clam {} {}",
            clam["clam"].as_str().unwrap_or("?"),
            clam["args-json"].as_str().unwrap_or("{}")
        )
    } else {
        format!("prompt {:?}", action["prompt"].as_str().unwrap_or_default())
    }
}
