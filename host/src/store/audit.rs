//! The audit index: one row per gated call, beside the JSONL log (written in
//! batches: at the end of each run, or every few hundred calls), so "what did
//! run X do" and "what was denied today" are queries instead of file scans. A
//! row carries the call's final decision: a host tool's refusal after the gate
//! is `deny`/`invalid`/`limit` here, and a call cut short is `interrupted` in
//! `error`. The JSONL file stays the complete record (arguments included); the
//! index holds no arguments at all, so it cannot leak what the log redacts. It
//! is the per-run index: pruned by age with the files, never by size.

use rusqlite::params;

use super::Store;

/// One row of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub time: String,
    pub run: String,
    pub function: String,
    pub decision: String,
    pub rule: String,
    pub fingerprint: String,
    pub error: Option<String>,
    pub duration_us: u64,
}

/// Adds `rows` to the index in one transaction.
pub fn insert_all(store: &Store, rows: &[AuditRow]) -> anyhow::Result<()> {
    store.with_bulk(|c| {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut statement = tx.prepare_cached(
                "INSERT INTO audit (time, run, function, decision, rule, fingerprint, error, duration_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for row in rows {
                statement.execute(params![
                    row.time,
                    row.run,
                    row.function,
                    row.decision,
                    row.rule,
                    row.fingerprint,
                    row.error,
                    row.duration_us,
                ])?;
            }
        }
        tx.commit()
    })
}

/// Deletes the rows older than `time` (RFC 3339, the index's own format): the
/// index keeps calls as long as the audit files do by age, and is never pruned
/// by size.
pub fn delete_before(store: &Store, time: &str) -> anyhow::Result<usize> {
    store.with_bulk(|c| c.execute("DELETE FROM audit WHERE time < ?1", [time]))
}

/// The calls of one run, in order.
pub fn calls_of_run(store: &Store, run: &str) -> anyhow::Result<Vec<AuditRow>> {
    store.with(|c| {
        let mut statement = c.prepare_cached(
            "SELECT time, run, function, decision, rule, fingerprint, error, duration_us
             FROM audit WHERE run = ?1 ORDER BY id",
        )?;
        let rows = statement.query_map([run], |row| {
            Ok(AuditRow {
                time: row.get(0)?,
                run: row.get(1)?,
                function: row.get(2)?,
                decision: row.get(3)?,
                rule: row.get(4)?,
                fingerprint: row.get(5)?,
                error: row.get(6)?,
                duration_us: row.get(7)?,
            })
        })?;
        rows.collect()
    })
}

/// Which indexed calls [`query`] returns; every filter given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this run's calls.
    pub run: Option<String>,
    /// Only calls that did not go through: `deny`, `rejected`, `limit`, `invalid`.
    pub denied: bool,
    /// Only calls at or after this RFC 3339 time (the index's own format,
    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, which sorts as text).
    pub since: Option<String>,
}

/// The decisions [`AuditQuery::denied`] selects: every call the gate did not let through.
pub const REFUSED_DECISIONS: [&str; 4] = ["deny", "rejected", "limit", "invalid"];

/// The indexed calls matching `filter`, oldest first.
pub fn query(store: &Store, filter: &AuditQuery) -> anyhow::Result<Vec<AuditRow>> {
    store.with(|c| {
        let mut statement = c.prepare_cached(
            "SELECT time, run, function, decision, rule, fingerprint, error, duration_us
             FROM audit
             WHERE (?1 IS NULL OR run = ?1)
               AND (?2 = 0 OR decision IN ('deny', 'rejected', 'limit', 'invalid'))
               AND (?3 IS NULL OR time >= ?3)
             ORDER BY id",
        )?;
        let rows = statement.query_map(
            params![filter.run, i64::from(filter.denied), filter.since],
            |row| {
                Ok(AuditRow {
                    time: row.get(0)?,
                    run: row.get(1)?,
                    function: row.get(2)?,
                    decision: row.get(3)?,
                    rule: row.get(4)?,
                    fingerprint: row.get(5)?,
                    error: row.get(6)?,
                    duration_us: row.get(7)?,
                })
            },
        )?;
        rows.collect()
    })
}
