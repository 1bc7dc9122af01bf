//! Grants: a person's answers to `ask` rules, kept so they are not asked again.
//!
//! "This turn" grants live in memory and end with the turn. "Always" grants are
//! stored in `$CLAMBOT_HOME/data/grants.json` (0600, written atomically) — never in
//! `policy.toml`, so the reviewed file cannot change behind the reviewer's back.
//! A grant only ever answers an `ask` rule: a `deny` rule, or a rule that no longer
//! exists, makes it irrelevant, because the policy is consulted first.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::policy::Scope;

/// One stored "always" grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Short id for `clambot grants revoke` (the fingerprint's first 12 hex digits).
    pub id: String,
    pub fingerprint: String,
    /// `interface.function`.
    pub function: String,
    /// What the grant covers, in words.
    pub scope: String,
    /// The rule that asked.
    pub rule: String,
    /// RFC 3339.
    pub created: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantFile {
    version: u32,
    grants: Vec<Grant>,
}

const FILE_VERSION: u32 = 1;

/// The grants in force for an agent (shared by its runs).
#[derive(Debug)]
pub struct Grants {
    path: Option<PathBuf>,
    always: Mutex<Vec<Grant>>,
    turn: Mutex<HashSet<String>>,
}

impl Grants {
    /// Grants that are never stored (tests, one-off runs without a home).
    pub fn in_memory() -> Self {
        Self {
            path: None,
            always: Mutex::new(Vec::new()),
            turn: Mutex::new(HashSet::new()),
        }
    }

    /// Loads the stored grants (none if the file does not exist yet).
    pub fn open(path: &Path) -> Result<Self> {
        let always = match std::fs::read_to_string(path) {
            Ok(text) => {
                let file: GrantFile = serde_json::from_str(&text)
                    .with_context(|| format!("{} is damaged", path.display()))?;
                if file.version != FILE_VERSION {
                    bail!(
                        "{} has version {}; this clambot reads version {FILE_VERSION}",
                        path.display(),
                        file.version
                    );
                }
                file.grants
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Self {
            path: Some(path.to_owned()),
            always: Mutex::new(always),
            turn: Mutex::new(HashSet::new()),
        })
    }

    /// Whether a grant covers this fingerprint.
    pub fn covers(&self, fingerprint: &str) -> bool {
        self.turn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(fingerprint)
            || self
                .always
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .any(|g| g.fingerprint == fingerprint)
    }

    /// Grants this scope until the turn ends.
    pub fn grant_turn(&self, scope: &Scope) {
        self.turn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(scope.fingerprint());
    }

    /// Ends the turn: its grants go.
    pub fn end_turn(&self) {
        self.turn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Grants this scope from now on, and stores it.
    pub fn grant_always(&self, scope: &Scope, rule: &str) -> Result<Grant> {
        let fingerprint = scope.fingerprint();
        let grant = Grant {
            id: fingerprint[..12].to_owned(),
            fingerprint,
            function: scope.function.clone(),
            scope: scope.summary.clone(),
            rule: rule.to_owned(),
            created: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        };
        let mut always = self.always.lock().unwrap_or_else(PoisonError::into_inner);
        if !always.iter().any(|g| g.fingerprint == grant.fingerprint) {
            let mut next = always.clone();
            next.push(grant.clone());
            self.store(&next)?;
            *always = next;
        }
        Ok(grant)
    }

    /// The stored grants.
    pub fn list(&self) -> Vec<Grant> {
        self.always
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Removes the grants whose id (or fingerprint) starts with `prefix`; returns them.
    pub fn revoke(&self, prefix: &str) -> Result<Vec<Grant>> {
        if prefix.len() < 4 {
            bail!("give at least 4 characters of the grant id");
        }
        let mut always = self.always.lock().unwrap_or_else(PoisonError::into_inner);
        let (gone, kept): (Vec<Grant>, Vec<Grant>) = always
            .iter()
            .cloned()
            .partition(|g| g.fingerprint.starts_with(prefix));
        if !gone.is_empty() {
            self.store(&kept)?;
            *always = kept;
        }
        Ok(gone)
    }

    /// Removes every stored grant; returns how many there were.
    pub fn revoke_all(&self) -> Result<usize> {
        let mut always = self.always.lock().unwrap_or_else(PoisonError::into_inner);
        let count = always.len();
        self.store(&[])?;
        always.clear();
        Ok(count)
    }

    fn store(&self, grants: &[Grant]) -> Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let file = GrantFile {
            version: FILE_VERSION,
            grants: grants.to_vec(),
        };
        let text = serde_json::to_string_pretty(&file).context("encoding grants")?;
        crate::atomic::write_private(path, text.as_bytes())
    }
}
