//! The audit index: one row per gated call, beside the JSONL log, so "what did
//! run X do" and "what was denied today" are queries instead of file scans. The
//! JSONL file stays the complete record (arguments included); the index holds no
//! arguments at all, so it cannot leak what the log redacts.

use rusqlite::params;

use super::Store;
use crate::gate::audit::AuditRecord;

/// Adds `record` to the index.
pub fn insert(store: &Store, record: &AuditRecord<'_>) -> anyhow::Result<()> {
    let decision = serde_json::to_value(record.decision)?;
    store.with_bulk(|c| {
        c.prepare_cached(
            "INSERT INTO audit (time, run, function, decision, rule, fingerprint, error, duration_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            record.time,
            record.run,
            record.function,
            decision.as_str().unwrap_or_default(),
            record.rule,
            record.fingerprint,
            record.error,
            record.duration_us,
        ])
        .map(drop)
    })
}

/// One row of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub time: String,
    pub run: String,
    pub function: String,
    pub decision: String,
    pub rule: String,
    pub error: Option<String>,
}

/// The calls of one run, in order.
pub fn calls_of_run(store: &Store, run: &str) -> anyhow::Result<Vec<AuditRow>> {
    store.with(|c| {
        let mut statement = c.prepare_cached(
            "SELECT time, run, function, decision, rule, error FROM audit WHERE run = ?1 ORDER BY id",
        )?;
        let rows = statement.query_map([run], |row| {
            Ok(AuditRow {
                time: row.get(0)?,
                run: row.get(1)?,
                function: row.get(2)?,
                decision: row.get(3)?,
                rule: row.get(4)?,
                error: row.get(5)?,
            })
        })?;
        rows.collect()
    })
}
