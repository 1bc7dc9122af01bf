//! Grants: a person's answers to `ask` rules, kept so they are not asked again.
//!
//! "This turn" grants live in memory and end with the turn. "Always" grants are
//! rows in the state database — never in `policy.toml`, so the reviewed file
//! cannot change behind the reviewer's back. They are looked up in the database
//! on every check rather than cached, so `clambot grants revoke` in another
//! process takes effect at the next call of a running agent. A grant only ever
//! answers an `ask` rule: a `deny` rule, or a rule that no longer exists, makes it
//! irrelevant, because the policy is consulted first.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Result, bail};
use rusqlite::{OptionalExtension, params};

use crate::policy::Scope;
use crate::store::Store;

/// One stored "always" grant.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The grants in force for an agent (shared by its runs).
#[derive(Debug)]
pub struct Grants {
    store: Arc<Store>,
    turn: Mutex<HashSet<String>>,
}

impl Grants {
    /// Grants kept in a private in-memory database (tests, one-off runs).
    pub fn in_memory() -> Self {
        // An in-memory SQLite database cannot fail to open short of allocation failure.
        let store = Store::in_memory().unwrap_or_else(|e| panic!("in-memory database: {e:#}"));
        Self::open(Arc::new(store))
    }

    /// The grants stored in `store`.
    pub fn open(store: Arc<Store>) -> Self {
        Self {
            store,
            turn: Mutex::new(HashSet::new()),
        }
    }

    /// Whether a grant covers this fingerprint. A database error counts as "no
    /// grant": the person is asked instead, which is the safe side.
    pub fn covers(&self, fingerprint: &str) -> bool {
        if self
            .turn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(fingerprint)
        {
            return true;
        }
        self.store
            .with(|c| {
                c.query_row(
                    "SELECT 1 FROM grants WHERE fingerprint = ?1",
                    [fingerprint],
                    |_| Ok(()),
                )
                .optional()
            })
            .is_ok_and(|found| found.is_some())
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
        self.store.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO grants (fingerprint, function, scope, rule, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    grant.fingerprint,
                    grant.function,
                    grant.scope,
                    grant.rule,
                    grant.created
                ],
            )
        })?;
        Ok(grant)
    }

    /// The stored grants, oldest first.
    pub fn list(&self) -> Result<Vec<Grant>> {
        self.store.with(|c| {
            let mut statement = c.prepare(
                "SELECT fingerprint, function, scope, rule, created FROM grants ORDER BY created, fingerprint",
            )?;
            let rows = statement.query_map([], |row| {
                let fingerprint: String = row.get(0)?;
                Ok(Grant {
                    id: fingerprint.get(..12).unwrap_or(&fingerprint).to_owned(),
                    fingerprint,
                    function: row.get(1)?,
                    scope: row.get(2)?,
                    rule: row.get(3)?,
                    created: row.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Removes the grants whose id (or fingerprint) starts with `prefix`; returns them.
    pub fn revoke(&self, prefix: &str) -> Result<Vec<Grant>> {
        if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("give at least 4 hex digits of the grant id");
        }
        let prefix = prefix.to_ascii_lowercase();
        let gone: Vec<Grant> = self
            .list()?
            .into_iter()
            .filter(|g| g.fingerprint.starts_with(&prefix))
            .collect();
        self.store.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            for grant in &gone {
                tx.execute(
                    "DELETE FROM grants WHERE fingerprint = ?1",
                    [&grant.fingerprint],
                )?;
            }
            tx.commit()
        })?;
        Ok(gone)
    }

    /// Removes every stored grant; returns how many there were.
    pub fn revoke_all(&self) -> Result<usize> {
        self.store.with(|c| c.execute("DELETE FROM grants", []))
    }
}
