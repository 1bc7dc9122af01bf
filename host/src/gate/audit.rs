//! The audit log: one JSON line per host call, whatever the decision.
//!
//! Records carry the run, the script's SHA-256, the function, the decision and
//! the rule behind it, the fingerprint of the call's scope, the arguments with
//! secrets redacted, the duration and the result size. Lines are appended to
//! `audit.jsonl` as they happen (no buffering: a crash loses no decided call);
//! past a size the file is rotated to `audit.1.jsonl`, … keeping a few. With a
//! state database attached, each record is also indexed there (without its
//! arguments), so calls can be queried by run and time.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value as Json;

/// Rotate when the log passes this size.
pub const DEFAULT_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated files kept besides the current one.
pub const DEFAULT_KEEP: usize = 5;

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

/// One audit line.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord<'a> {
    /// RFC 3339 with microseconds.
    pub time: String,
    pub run: &'a str,
    pub script_sha256: &'a str,
    pub function: &'a str,
    pub decision: Verdict,
    pub rule: &'a str,
    pub fingerprint: &'a str,
    pub args: &'a Json,
    pub duration_us: u64,
    pub result_bytes: u64,
    /// The error code when the call did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// An append-only, rotated JSONL file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: Mutex<(File, u64)>,
    index: Option<Arc<crate::store::Store>>,
    /// Index rows not yet in the database: written in one transaction per run
    /// (or every [`INDEX_BATCH`] rows), because a transaction per call cost ten
    /// times the call itself.
    pending: Mutex<Vec<crate::store::audit::AuditRow>>,
}

/// Index rows written together at most.
pub const INDEX_BATCH: usize = 256;

impl AuditLog {
    /// Opens (creating) `dir/audit.jsonl`.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::with_rotation(dir, DEFAULT_MAX_BYTES, DEFAULT_KEEP)
    }

    pub fn with_rotation(dir: &Path, max_bytes: u64, keep: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("audit.jsonl");
        let file = open_append(&path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self {
            path,
            max_bytes,
            keep,
            file: Mutex::new((file, size)),
            index: None,
            pending: Mutex::new(Vec::new()),
        })
    }

    /// Also indexes every record in `store`.
    pub fn with_index(mut self, store: Arc<crate::store::Store>) -> Self {
        self.index = Some(store);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record (one `write` of one line).
    pub fn record(&self, record: &AuditRecord<'_>) -> Result<()> {
        let mut line = serde_json::to_vec(record).context("encoding an audit record")?;
        line.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.1 + line.len() as u64 > self.max_bytes && guard.1 > 0 {
            self.rotate()?;
            *guard = (open_append(&self.path)?, 0);
        }
        guard
            .0
            .write_all(&line)
            .with_context(|| format!("writing {}", self.path.display()))?;
        guard.1 += line.len() as u64;
        drop(guard);
        if self.index.is_some() {
            let full = {
                let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                pending.push(crate::store::audit::AuditRow::from_record(record)?);
                pending.len() >= INDEX_BATCH
            };
            if full {
                self.flush_index()?;
            }
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

    fn rotate(&self) -> Result<()> {
        let rotated = |n: usize| self.path.with_file_name(format!("audit.{n}.jsonl"));
        let _ = std::fs::remove_file(rotated(self.keep));
        for n in (1..self.keep).rev() {
            let _ = std::fs::rename(rotated(n), rotated(n + 1));
        }
        std::fs::rename(&self.path, rotated(1))
            .with_context(|| format!("rotating {}", self.path.display()))
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        let _ = self.flush_index();
    }
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}
