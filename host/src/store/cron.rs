//! Cron jobs as rows. The schedule and action are kept as the JSON the WIT
//! types give them (`{"cron": {...}}`, `{"clam": {...}}`), so what a script
//! added is what `list` shows; the scheduler re-parses them when they fire.

use std::sync::Arc;

use anyhow::{Result, bail};
use rusqlite::{OptionalExtension, params};
use serde_json::Value as Json;

use super::Store;

/// Most jobs one clambot keeps.
pub const MAX_JOBS: usize = 200;

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub name: String,
    /// The WIT `schedule` value as JSON.
    pub schedule: Json,
    /// The WIT `action` value as JSON.
    pub action: Json,
    pub once: bool,
    pub enabled: bool,
    pub created_ms: u64,
    pub next_run_ms: Option<u64>,
    pub last_run_ms: Option<u64>,
    /// Where results go (a chat), when the job was made from one.
    pub channel: Option<String>,
    /// Who made the job, and so what rights it runs with.
    pub origin: Origin,
}

/// Who made a job. A job never has more rights than whoever made it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Origin {
    /// The owner, at `clambot cron add` (or `clambot cron adopt`): the job runs
    /// under the policy in force when it fires.
    Owner,
    /// A run, through the gated `cron` interface: the job runs under the
    /// current policy narrowed by every policy recorded here.
    Run {
        /// The run that made it.
        run: String,
        /// The policies it was made under (SHA-256 of their text, kept in
        /// `policy_snapshots`) and whose rights it had in each.
        bounds: Vec<RecordedBound>,
    },
    /// Stored by a clambot that did not record who made jobs: not run until
    /// the owner adopts it (`clambot cron adopt`).
    Unrecorded,
}

/// One policy a job was made under.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedBound {
    pub policy_sha256: String,
    /// `script` or `tools.NAME`.
    pub maker: String,
}

impl Origin {
    /// How `clambot cron list` shows it.
    pub fn describe(&self) -> String {
        match self {
            Self::Owner => "made by the owner".into(),
            Self::Run { run, bounds } => format!(
                "made by run {run} (rights of policy {})",
                bounds
                    .iter()
                    .map(|b| format!(
                        "{} as {}",
                        b.policy_sha256.get(..12).unwrap_or(&b.policy_sha256),
                        b.maker
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Unrecorded => "maker unknown: not run until adopted".into(),
        }
    }

    fn to_column(&self) -> Option<String> {
        match self {
            Self::Unrecorded => None,
            other => Some(serde_json::to_string(other).expect("an origin encodes")),
        }
    }
}

/// The jobs table.
#[derive(Debug, Clone)]
pub struct CronJobs {
    store: Arc<Store>,
}

const COLUMNS: &str = "id, name, schedule, action, once, enabled, created_ms, next_run_ms, last_run_ms, channel, origin";

impl CronJobs {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// Adds a job; its name must be new.
    pub fn insert(&self, job: &Job) -> Result<()> {
        let outcome = self.store.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let count: usize = tx.query_row("SELECT COUNT(*) FROM cron_jobs", [], |r| r.get(0))?;
            let taken = tx
                .query_row("SELECT 1 FROM cron_jobs WHERE name = ?1", [&job.name], |_| {
                    Ok(())
                })
                .optional()?
                .is_some();
            if count >= MAX_JOBS || taken {
                return Ok(Some((count, taken)));
            }
            tx.execute(
                &format!("INSERT INTO cron_jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                params![
                    job.id,
                    job.name,
                    job.schedule.to_string(),
                    job.action.to_string(),
                    job.once,
                    job.enabled,
                    job.created_ms,
                    job.next_run_ms,
                    job.last_run_ms,
                    job.channel,
                    job.origin.to_column()
                ],
            )?;
            tx.commit()?;
            Ok(None)
        })?;
        match outcome {
            Some((_, true)) => bail!("a job named `{}` exists already", job.name),
            Some((count, false)) => bail!("there are {count} jobs already; at most {MAX_JOBS}"),
            None => Ok(()),
        }
    }

    /// Every job, by name.
    pub fn list(&self) -> Result<Vec<Job>> {
        self.store.with(|c| {
            let mut statement =
                c.prepare_cached(&format!("SELECT {COLUMNS} FROM cron_jobs ORDER BY name"))?;
            let rows = statement.query_map([], job_from_row)?;
            rows.collect()
        })
    }

    /// One job by id, or by name.
    pub fn get(&self, id_or_name: &str) -> Result<Option<Job>> {
        self.store.with(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM cron_jobs WHERE id = ?1 OR name = ?1"),
                [id_or_name],
                job_from_row,
            )
            .optional()
        })
    }

    /// Removes a job; false if there was none.
    pub fn remove(&self, id: &str) -> Result<bool> {
        Ok(self
            .store
            .with(|c| c.execute("DELETE FROM cron_jobs WHERE id = ?1", [id]))?
            > 0)
    }

    /// The policy snapshots in the same database (what run-made jobs record).
    pub fn snapshots(&self) -> super::snapshots::PolicySnapshots {
        super::snapshots::PolicySnapshots::new(Arc::clone(&self.store))
    }

    /// Records that the owner vouches for a job: it becomes owner-made and runs
    /// under the current policy alone. False if there was none.
    pub fn adopt(&self, id: &str) -> Result<bool> {
        let origin = Origin::Owner.to_column();
        Ok(self.store.with(|c| {
            c.execute(
                "UPDATE cron_jobs SET origin = ?2 WHERE id = ?1",
                params![id, origin],
            )
        })? > 0)
    }

    /// Enables or disables a job and sets its next run; false if there was none.
    pub fn set_enabled(&self, id: &str, enabled: bool, next_run_ms: Option<u64>) -> Result<bool> {
        Ok(self.store.with(|c| {
            c.execute(
                "UPDATE cron_jobs SET enabled = ?2, next_run_ms = ?3 WHERE id = ?1",
                params![id, enabled, next_run_ms],
            )
        })? > 0)
    }

    /// Enabled jobs whose next run is at or before `now_ms`, earliest first.
    pub fn due(&self, now_ms: u64) -> Result<Vec<Job>> {
        self.store.with(|c| {
            let mut statement = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM cron_jobs
                 WHERE enabled = 1 AND next_run_ms IS NOT NULL AND next_run_ms <= ?1
                 ORDER BY next_run_ms"
            ))?;
            let rows = statement.query_map([now_ms], job_from_row)?;
            rows.collect()
        })
    }

    /// Records that a job ran: a one-off job is removed, another gets its next run.
    pub fn record_run(&self, id: &str, ran_ms: u64, next_run_ms: Option<u64>) -> Result<()> {
        self.store.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let once: Option<bool> = tx
                .query_row("SELECT once FROM cron_jobs WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()?;
            match once {
                Some(true) => {
                    tx.execute("DELETE FROM cron_jobs WHERE id = ?1", [id])?;
                }
                Some(false) => {
                    tx.execute(
                        "UPDATE cron_jobs SET last_run_ms = ?2, next_run_ms = ?3,
                         enabled = CASE WHEN ?3 IS NULL THEN 0 ELSE enabled END WHERE id = ?1",
                        params![id, ran_ms, next_run_ms],
                    )?;
                }
                None => {}
            }
            tx.commit()
        })
    }
}

fn job_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    let json = |i: usize| -> rusqlite::Result<Json> {
        let text: String = row.get(i)?;
        serde_json::from_str(&text).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
        })
    };
    Ok(Job {
        id: row.get(0)?,
        name: row.get(1)?,
        schedule: json(2)?,
        action: json(3)?,
        once: row.get(4)?,
        enabled: row.get(5)?,
        created_ms: row.get(6)?,
        next_run_ms: row.get(7)?,
        last_run_ms: row.get(8)?,
        channel: row.get(9)?,
        // A value this clambot cannot read is treated like no record: the job
        // does not run until the owner adopts it.
        origin: row
            .get::<_, Option<String>>(10)?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Origin::Unrecorded),
    })
}
