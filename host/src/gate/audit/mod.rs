//! The audit log: a record of every host call a script cannot erase or flood.
//!
//! For each call the gate writes a `decided` record — the run, the script's
//! SHA-256, the call's sequence number in the run, the function, the decision
//! and its rule, the fingerprint of the call's scope and the arguments (secrets
//! redacted, large values reduced to size + SHA-256 + prefix by [`bounded`]) —
//! **before** anything happens. An allowed call is then followed by a
//! `completed` record with its final outcome: a refusal by the host tool after
//! the gate (an SSRF address, a path leaving the workspace, a special file, a
//! size cap) is recorded as that refusal, not as `allow`; a call cut short by
//! cancellation or the run's deadline is completed as `interrupted` when the
//! host drops it. Lines are appended as they happen (no buffering).
//!
//! What a script cannot do:
//! - make one record large: a record never passes [`AuditLimits::record_bytes`];
//! - make the log large: a run's records are counted against
//!   [`AuditLimits::run_bytes`]; past it every further call fails with `limit`
//!   (the first such refusal is on record, later ones are counted in one
//!   `suppressed` record at the end of the run), and tool components serving
//!   the run draw on the same budget;
//! - rotate earlier runs away: segments are deleted by age, and by size only
//!   past a total many runs' budgets large ([`segments`]).
//!
//! With a state database attached, each call is also indexed there (final
//! decision, no arguments), so calls can be queried by run and time.

pub mod bounded;
pub mod segments;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value as Json;

pub use segments::Retention;
use segments::Segments;

/// A run may write this many bytes of audit records (about 6,000 calls).
pub const DEFAULT_RUN_BYTES: u64 = 4 * 1024 * 1024;
/// No record is larger than this.
pub const DEFAULT_RECORD_BYTES: usize = 8 * 1024;
/// The active file is closed past this.
pub const DEFAULT_SEGMENT_BYTES: u64 = 16 * 1024 * 1024;
/// Closed segments are kept this long…
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(90 * 24 * 3600);
/// …unless the log passes this size: 256 runs at their maximum volume.
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 1024 * 1024 * 1024;
/// The size ceiling must hold at least this many runs at their maximum volume
/// (beside a full active segment), so that no run's volume deletes the records
/// of the runs just before it.
pub const MIN_RUNS_RETAINED: u64 = 16;

/// The rule named when a run's audit volume is used up.
pub const AUDIT_VOLUME_RULE: &str = "audit-volume";

/// How large records, runs and the log may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditLimits {
    pub record_bytes: usize,
    pub run_bytes: u64,
    pub retention: Retention,
}

impl Default for AuditLimits {
    fn default() -> Self {
        Self {
            record_bytes: DEFAULT_RECORD_BYTES,
            run_bytes: DEFAULT_RUN_BYTES,
            retention: Retention {
                segment_bytes: DEFAULT_SEGMENT_BYTES,
                max_age: DEFAULT_MAX_AGE,
                max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            },
        }
    }
}

impl AuditLimits {
    /// Refuses limits under which one run could rotate earlier runs away.
    pub fn check(&self) -> Result<()> {
        let needed = MIN_RUNS_RETAINED
            .saturating_mul(self.run_bytes + 2 * self.record_bytes as u64)
            .saturating_add(self.retention.segment_bytes);
        if self.retention.max_total_bytes < needed {
            bail!(
                "the audit log's size ceiling ({} bytes) must hold {MIN_RUNS_RETAINED} runs at their \
                 maximum volume plus a segment ({needed} bytes)",
                self.retention.max_total_bytes
            );
        }
        if self.record_bytes < 1024 || self.run_bytes < 4 * self.record_bytes as u64 {
            bail!(
                "the audit record ceiling must be at least 1 KiB and a run's volume four records"
            );
        }
        Ok(())
    }
}

/// How a call was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// An allow rule.
    Allow,
    /// An ask rule, answered by a stored or turn grant.
    Granted,
    /// An ask rule, answered yes by a person.
    Approved,
    /// An ask rule, answered no (or not at all).
    Rejected,
    /// A deny rule, or nothing allowed it.
    Deny,
    /// A budget ran out.
    Limit,
    /// The arguments could not be judged (malformed URL, path outside the workspace).
    Invalid,
}

impl Verdict {
    /// The kebab-case name, as records and the index spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Granted => "granted",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Deny => "deny",
            Self::Limit => "limit",
            Self::Invalid => "invalid",
        }
    }
}

/// What kind of line a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// The gate's decision, before any effect.
    Decided,
    /// How an allowed call ended.
    Completed,
    /// Calls refused for the run's audit volume and not recorded one by one.
    Suppressed,
}

/// How a call ended: `ok`, the WIT error code, or `interrupted`.
pub const OUTCOME_OK: &str = "ok";
/// A call the run's cancellation or deadline cut short.
pub const OUTCOME_INTERRUPTED: &str = "interrupted";

/// One audit line.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord<'a> {
    /// RFC 3339 with microseconds.
    pub time: String,
    pub run: &'a str,
    /// The call's number in its run (a `decided` and its `completed` share it).
    pub call: u64,
    pub event: Event,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script_sha256: Option<&'a str>,
    pub function: &'a str,
    /// For a `completed` record, the final decision: a host tool's refusal
    /// after the gate turns `allow` into `deny`, `invalid` or `limit`.
    pub decision: Verdict,
    pub rule: &'a str,
    /// The gate's rule, when a host tool refused what it allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<&'a str>,
    /// Redacted and bounded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<&'a Json>,
    /// `ok`, an error code or `interrupted`; absent on a `decided` record of a
    /// call that goes ahead (its `completed` record says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_bytes: Option<u64>,
    /// For a `suppressed` record: how many calls it stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<u64>,
}

/// The files, the index and the limits every run's records go to.
#[derive(Debug)]
pub struct AuditLog {
    segments: Mutex<Segments>,
    limits: AuditLimits,
    index: Option<Arc<crate::store::Store>>,
    /// Index rows not yet in the database: written in one transaction per run
    /// (or every [`INDEX_BATCH`] rows), because a transaction per call cost ten
    /// times the call itself.
    pending: Mutex<Vec<crate::store::audit::AuditRow>>,
}

/// Index rows written together at most.
pub const INDEX_BATCH: usize = 256;

impl AuditLog {
    /// Opens (creating) `dir/audit.jsonl` with the default limits.
    pub fn open(dir: &std::path::Path) -> Result<Self> {
        Self::with_limits(dir, AuditLimits::default())
    }

    pub fn with_limits(dir: &std::path::Path, limits: AuditLimits) -> Result<Self> {
        limits.check()?;
        Ok(Self {
            segments: Mutex::new(Segments::open(dir, limits.retention)?),
            limits,
            index: None,
            pending: Mutex::new(Vec::new()),
        })
    }

    /// Also indexes every call in `store`.
    pub fn with_index(mut self, store: Arc<crate::store::Store>) -> Self {
        self.index = Some(store);
        self
    }

    /// The active file.
    pub fn path(&self) -> std::path::PathBuf {
        self.segments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .active()
            .to_owned()
    }

    pub fn limits(&self) -> &AuditLimits {
        &self.limits
    }

    /// Appends one line (one `write`).
    fn append(&self, line: &[u8]) -> Result<()> {
        let pruned = self
            .segments
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .append(line)?;
        if let (Some(cutoff), Some(store)) = (pruned, &self.index) {
            // The index keeps what the files keep, by age; never by size.
            let cutoff = humantime::format_rfc3339_micros(cutoff).to_string();
            crate::store::audit::delete_before(store, &cutoff)
                .context("pruning the audit index")?;
        }
        Ok(())
    }

    fn index(&self, row: crate::store::audit::AuditRow) -> Result<()> {
        if self.index.is_none() {
            return Ok(());
        }
        let full = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.push(row);
            pending.len() >= INDEX_BATCH
        };
        if full {
            self.flush_index()?;
        }
        Ok(())
    }

    /// Writes the pending index rows to the database (the sandbox calls this at
    /// the end of every run).
    pub fn flush_index(&self) -> Result<()> {
        let Some(store) = &self.index else {
            return Ok(());
        };
        let rows =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if rows.is_empty() {
            return Ok(());
        }
        crate::store::audit::insert_all(store, &rows).context("indexing audit records")
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let _ = self.flush_index();
    }
}

/// One run's share of the audit log: its sequence numbers and its volume.
/// Shared by the gates of the tool components serving the run, so their calls
/// draw on the same budget. When the last holder drops it, calls refused for
/// volume and not recorded one by one are summed up in one record.
#[derive(Debug)]
pub struct RunAudit {
    log: Arc<AuditLog>,
    run: String,
    next_call: AtomicU64,
    /// Bytes this run has written.
    written: AtomicU64,
    /// Calls refused after the volume ran out (the first is recorded).
    over: AtomicU64,
}

/// A call as the gate decided it, for [`RunAudit::decided`].
#[derive(Debug, Clone, Copy)]
pub struct Decided<'a> {
    /// The script's (or tool component's) SHA-256.
    pub script_sha256: &'a str,
    pub function: &'a str,
    pub verdict: Verdict,
    pub rule: &'a str,
    pub fingerprint: &'a str,
    /// Redacted (not yet bounded).
    pub args: &'a Json,
}

/// Why [`RunAudit::decided`] stopped a call the gate allowed.
#[derive(Debug)]
pub enum Stopped {
    /// The run's audit volume is used up (this refusal is on record).
    Volume { reason: String },
    /// The record could not be written, so the call is not made.
    Unwritable(anyhow::Error),
}

impl RunAudit {
    pub fn new(log: Arc<AuditLog>, run: &str) -> Self {
        Self {
            log,
            run: run.to_owned(),
            next_call: AtomicU64::new(1),
            written: AtomicU64::new(0),
            over: AtomicU64::new(0),
        }
    }

    /// Records a decision before anything happens. For an allowed call it
    /// returns the [`PendingCall`] whose completion follows the effect; for a
    /// refused one (`refusal` is its error code) the record is the last word.
    pub fn decided(
        self: &Arc<Self>,
        decided: &Decided<'_>,
        refusal: Option<&str>,
        started: Instant,
    ) -> Result<Option<PendingCall>, Stopped> {
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        let bounded = bounded::bounded(decided.args);
        let mut record = AuditRecord {
            time: now(),
            run: &self.run,
            call,
            event: Event::Decided,
            script_sha256: Some(decided.script_sha256),
            function: clip(decided.function),
            decision: decided.verdict,
            rule: clip(decided.rule),
            allowed_by: None,
            fingerprint: Some(decided.fingerprint),
            args: Some(&bounded),
            outcome: refusal,
            duration_us: refusal.map(|_| micros(started.elapsed())),
            result_bytes: None,
            calls: None,
        };
        let mut line = self.line(&record);
        // Bounded parts can still add up (many medium strings): past the
        // ceiling the arguments are summarised as one value.
        let whole;
        if line.len() > self.log.limits.record_bytes {
            whole = bounded::summary(&bounded);
            record.args = Some(&whole);
            line = self.line(&record);
        }
        self.admit(&line, &record, started)
    }

    /// Writes `line` if the run's volume has room for it (and, for a call that
    /// goes ahead, for its completion).
    fn admit(
        self: &Arc<Self>,
        line: &[u8],
        record: &AuditRecord<'_>,
        started: Instant,
    ) -> Result<Option<PendingCall>, Stopped> {
        let goes_ahead = record.outcome.is_none();
        let reserve = if goes_ahead { COMPLETION_RESERVE } else { 0 };
        let cost = line.len() as u64 + reserve;
        let before = self.written.fetch_add(cost, Ordering::Relaxed);
        if before + cost > self.log.limits.run_bytes {
            self.written.fetch_sub(cost, Ordering::Relaxed);
            return self.over_volume(record);
        }
        self.log.append(line).map_err(Stopped::Unwritable)?;
        if !goes_ahead {
            self.log
                .index(row(record, record.outcome))
                .map_err(Stopped::Unwritable)?;
            return Ok(None);
        }
        Ok(Some(PendingCall {
            audit: Arc::clone(self),
            call: record.call,
            function: record.function.to_owned(),
            verdict: record.decision,
            rule: record.rule.to_owned(),
            fingerprint: record.fingerprint.unwrap_or_default().to_owned(),
            started,
            reserved: reserve,
            done: false,
        }))
    }

    /// The volume is used up: the first such call is recorded (as `limit`),
    /// later ones are counted.
    fn over_volume(
        self: &Arc<Self>,
        record: &AuditRecord<'_>,
    ) -> Result<Option<PendingCall>, Stopped> {
        let reason = format!(
            "this run has written its {} of audit records; no further host calls are made",
            crate::size::show_size(self.log.limits.run_bytes)
        );
        if self.over.fetch_add(1, Ordering::Relaxed) == 0 {
            let refusal = AuditRecord {
                time: now(),
                decision: Verdict::Limit,
                rule: AUDIT_VOLUME_RULE,
                allowed_by: (record.outcome.is_none()).then_some(record.rule),
                args: None,
                outcome: Some("limit"),
                duration_us: Some(0),
                ..record.clone()
            };
            let line = self.line(&refusal);
            self.written.fetch_add(line.len() as u64, Ordering::Relaxed);
            self.log.append(&line).map_err(Stopped::Unwritable)?;
            self.log
                .index(row(&refusal, refusal.outcome))
                .map_err(Stopped::Unwritable)?;
        }
        Err(Stopped::Volume { reason })
    }

    /// Bytes this run has written (and reserved for completions under way).
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    fn line(&self, record: &AuditRecord<'_>) -> Vec<u8> {
        let mut line = serde_json::to_vec(record).unwrap_or_else(|e| {
            format!(r#"{{"event":"unencodable","error":{:?}}}"#, e.to_string()).into_bytes()
        });
        line.push(b'\n');
        line
    }
}

impl Drop for RunAudit {
    fn drop(&mut self) {
        // The first call over the volume has its own record; the rest are summed.
        let untold = self.over.load(Ordering::Relaxed).saturating_sub(1);
        if untold == 0 {
            return;
        }
        let record = AuditRecord {
            time: now(),
            run: &self.run,
            call: 0,
            event: Event::Suppressed,
            script_sha256: None,
            function: "*",
            decision: Verdict::Limit,
            rule: AUDIT_VOLUME_RULE,
            allowed_by: None,
            fingerprint: None,
            args: None,
            outcome: Some("limit"),
            duration_us: None,
            result_bytes: None,
            calls: Some(untold),
        };
        let line = self.line(&record);
        if self.log.append(&line).is_ok() {
            let _ = self.log.index(row(&record, Some("limit")));
            let _ = self.log.flush_index();
        }
    }
}

/// What a `completed` record takes at most (its names are [`clip`]ped, so even
/// fully escaped they fit): reserved when the call is admitted.
const COMPLETION_RESERVE: u64 = 4096;

/// An allowed call under way: completed with its outcome, or, if dropped
/// first (the run was cancelled or ran out of time mid-call), completed as
/// `interrupted`.
#[derive(Debug)]
pub struct PendingCall {
    audit: Arc<RunAudit>,
    call: u64,
    function: String,
    verdict: Verdict,
    rule: String,
    fingerprint: String,
    started: Instant,
    reserved: u64,
    done: bool,
}

/// How an allowed call ended, for [`PendingCall::complete`].
#[derive(Debug, Clone, Copy)]
pub struct Ending<'a> {
    /// The WIT error code, if it failed.
    pub error: Option<&'a str>,
    /// The rule a host tool refused it under (`ssrf:loopback`, `workspace-boundary`).
    pub refused_by: Option<&'a str>,
    pub result_bytes: u64,
}

impl PendingCall {
    /// Writes the `completed` record. The final decision is the host tool's
    /// when it refused the call: `denied` → `deny`, `invalid`, `limit`.
    pub fn complete(mut self, ending: &Ending<'_>) -> Result<()> {
        self.done = true;
        self.write(ending.error, ending.refused_by, Some(ending.result_bytes))
    }

    fn write(
        &self,
        outcome: Option<&str>,
        refused_by: Option<&str>,
        result_bytes: Option<u64>,
    ) -> Result<()> {
        let decision = match outcome {
            Some("denied") => Verdict::Deny,
            Some("invalid") => Verdict::Invalid,
            Some("limit") => Verdict::Limit,
            _ => self.verdict,
        };
        let changed = decision != self.verdict;
        let rule = match (changed, refused_by) {
            (true, Some(rule)) => clip(rule),
            _ => self.rule.as_str(),
        };
        let record = AuditRecord {
            time: now(),
            run: &self.audit.run,
            call: self.call,
            event: Event::Completed,
            script_sha256: None,
            function: &self.function,
            decision,
            rule,
            allowed_by: changed.then_some(clip(&self.rule)),
            fingerprint: None,
            args: None,
            outcome: Some(outcome.unwrap_or(OUTCOME_OK)),
            duration_us: Some(micros(self.started.elapsed())),
            result_bytes,
            calls: None,
        };
        let line = self.audit.line(&record);
        // The reservation made at admission is replaced by what was written.
        self.audit
            .written
            .fetch_add(line.len() as u64, Ordering::Relaxed);
        self.audit
            .written
            .fetch_sub(self.reserved, Ordering::Relaxed);
        self.audit.log.append(&line)?;
        let mut indexed = row(&record, record.outcome.filter(|o| *o != OUTCOME_OK));
        indexed.fingerprint = self.fingerprint.clone();
        self.audit.log.index(indexed)
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.write(Some(OUTCOME_INTERRUPTED), None, None);
        }
    }
}

/// The index row of a record.
fn row(record: &AuditRecord<'_>, error: Option<&str>) -> crate::store::audit::AuditRow {
    crate::store::audit::AuditRow {
        time: record.time.clone(),
        run: record.run.to_owned(),
        function: record.function.to_owned(),
        decision: record.decision.as_str().to_owned(),
        rule: record.rule.to_owned(),
        fingerprint: record.fingerprint.unwrap_or_default().to_owned(),
        error: error.map(str::to_owned),
        duration_us: record.duration_us.unwrap_or_default(),
    }
}

/// Names a record repeats (functions, rules) cut to a size no record can
/// outgrow: at most [`MAX_NAME_BYTES`], on a character boundary.
fn clip(text: &str) -> &str {
    if text.len() <= MAX_NAME_BYTES {
        return text;
    }
    let mut end = MAX_NAME_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Longest function or rule name a record carries.
const MAX_NAME_BYTES: usize = 160;

fn now() -> String {
    humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string()
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
