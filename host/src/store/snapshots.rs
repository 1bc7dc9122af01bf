//! Policy snapshots: the texts of the policies runs made scheduled jobs under,
//! keyed by their SHA-256, so that a job's calls can be judged by the policy it
//! was made under long after `policy.toml` changed. A snapshot is written once
//! and never changed; on reading, its text must still hash to its key, so a
//! damaged or edited row is refused rather than trusted.

use std::sync::Arc;

use anyhow::{Result, bail};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::Store;

/// The snapshots table.
#[derive(Debug, Clone)]
pub struct PolicySnapshots {
    store: Arc<Store>,
}

/// One stored policy text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub sha256: String,
    /// The policy's name when it was recorded (its file).
    pub name: String,
    pub text: String,
}

impl PolicySnapshots {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// Keeps `text` (named `name`); returns its SHA-256. Idempotent.
    pub fn save(&self, name: &str, text: &str) -> Result<String> {
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        self.store.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO policy_snapshots (sha256, name, text, created_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![sha256, name, text, super::now_ms()],
            )
        })?;
        Ok(sha256)
    }

    /// The snapshot with this hash; an error if its text no longer hashes to it.
    pub fn get(&self, sha256: &str) -> Result<Option<Snapshot>> {
        let row = self.store.with(|c| {
            c.query_row(
                "SELECT name, text FROM policy_snapshots WHERE sha256 = ?1",
                [sha256],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()
        })?;
        let Some((name, text)) = row else {
            return Ok(None);
        };
        if hex::encode(Sha256::digest(text.as_bytes())) != sha256 {
            bail!("the stored policy {sha256} does not match its hash (the database was changed)");
        }
        Ok(Some(Snapshot {
            sha256: sha256.to_owned(),
            name,
            text,
        }))
    }
}
