//! The audit files on disk: the active `audit.jsonl` and its closed segments.
//!
//! Past [`Retention::segment_bytes`] the active file is closed under a name
//! holding the time it was closed (`audit.20261202T101500.123456Z.jsonl`) and
//! a new one begun. Closed segments go by age ([`Retention::max_age`]), and
//! only past a total size ([`Retention::max_total_bytes`]) that is many times
//! what one run may write ([`super::AuditLimits::check`] refuses a ceiling
//! below [`super::MIN_RUNS_RETAINED`] runs): one run, however busy, cannot
//! push the records of the runs before it out of the log. Files of an older
//! clambot (`audit.1.jsonl`, …) are closed segments like any other.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

/// When closed segments are deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// The active file is closed when a line would take it past this.
    pub segment_bytes: u64,
    /// Closed segments older than this are deleted.
    pub max_age: Duration,
    /// Past this total (all segments, the active one included) the oldest
    /// closed segments are deleted.
    pub max_total_bytes: u64,
}

/// The active file and what the directory holds.
#[derive(Debug)]
pub(super) struct Segments {
    active: PathBuf,
    file: File,
    /// Bytes in the active file.
    size: u64,
    /// Bytes in every segment.
    total: u64,
    retention: Retention,
}

impl Segments {
    pub(super) fn open(dir: &Path, retention: Retention) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let active = dir.join("audit.jsonl");
        let file = open_append(&active)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let total = closed_segments(dir)?.iter().map(|s| s.size).sum::<u64>() + size;
        Ok(Self {
            active,
            file,
            size,
            total,
            retention,
        })
    }

    pub(super) fn active(&self) -> &Path {
        &self.active
    }

    /// Appends one line (one `write`), closing the segment first if it is full.
    /// Returns whether closed segments were deleted by age (the index follows).
    pub(super) fn append(&mut self, line: &[u8]) -> Result<Option<SystemTime>> {
        let mut pruned = None;
        if self.size > 0 && self.size + line.len() as u64 > self.retention.segment_bytes {
            self.close_segment()?;
            pruned = self.prune()?;
        }
        self.file
            .write_all(line)
            .with_context(|| format!("writing {}", self.active.display()))?;
        self.size += line.len() as u64;
        self.total += line.len() as u64;
        Ok(pruned)
    }

    fn close_segment(&mut self) -> Result<()> {
        let dir = self.active.parent().unwrap_or(Path::new("."));
        let stamp = humantime::format_rfc3339_micros(SystemTime::now())
            .to_string()
            .replace([':', '-'], "");
        let mut closed = dir.join(format!("audit.{stamp}.jsonl"));
        let mut n = 1;
        while closed.exists() {
            closed = dir.join(format!("audit.{stamp}-{n}.jsonl"));
            n += 1;
        }
        std::fs::rename(&self.active, &closed)
            .with_context(|| format!("closing the audit segment {}", self.active.display()))?;
        self.file = open_append(&self.active)?;
        self.size = 0;
        Ok(())
    }

    /// Deletes closed segments past the age, then the oldest ones past the total.
    /// Returns the age cut-off when anything went by age.
    fn prune(&mut self) -> Result<Option<SystemTime>> {
        let dir = self.active.parent().unwrap_or(Path::new("."));
        let mut closed = closed_segments(dir)?;
        closed.sort_by_key(|s| s.modified);
        let cutoff = SystemTime::now().checked_sub(self.retention.max_age);
        let mut total = closed.iter().map(|s| s.size).sum::<u64>() + self.size;
        // Room for the active segment to fill, so the total never passes the ceiling.
        let ceiling = self
            .retention
            .max_total_bytes
            .saturating_sub(self.retention.segment_bytes);
        let mut by_age = false;
        for segment in &closed {
            let too_old = cutoff.is_some_and(|c| segment.modified < c);
            if !too_old && total <= ceiling {
                break;
            }
            std::fs::remove_file(&segment.path)
                .with_context(|| format!("deleting {}", segment.path.display()))?;
            total -= segment.size;
            by_age |= too_old;
        }
        self.total = total;
        Ok(cutoff.filter(|_| by_age))
    }
}

struct Closed {
    path: PathBuf,
    size: u64,
    modified: SystemTime,
}

/// `audit.*.jsonl` in `dir`, the active file excluded.
fn closed_segments(dir: &Path) -> Result<Vec<Closed>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == "audit.jsonl" || !(name.starts_with("audit.") && name.ends_with(".jsonl")) {
            continue;
        }
        let metadata = entry.metadata()?;
        if metadata.is_file() {
            found.push(Closed {
                path: entry.path(),
                size: metadata.len(),
                modified: metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            });
        }
    }
    Ok(found)
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))
}
