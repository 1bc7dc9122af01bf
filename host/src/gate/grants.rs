//! Grants: a person's answers to `ask` rules, kept so they are not asked again.
//!
//! "This turn" grants live in memory and end with the turn. "Always" grants are
//! rows in the state database (or, for [`Grants::in_memory`], kept in memory) — never in `policy.toml`, so the reviewed file
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
    /// Where "always" grants live; `None` keeps them in memory only.
    store: Option<Arc<Store>>,
    always: Mutex<Vec<Grant>>,
    turn: Mutex<HashSet<String>>,
}

impl Grants {
    /// Grants that are never stored (tests, one-off runs, `GateSetup::deny_all`,
    /// which is built per probe: opening even an in-memory database would cost
    /// more than a whole run).
    pub fn in_memory() -> Self {
        Self {
            store: None,
            always: Mutex::new(Vec::new()),
            turn: Mutex::new(HashSet::new()),
        }
    }

    /// The grants stored in `store`.
    pub fn open(store: Arc<Store>) -> Self {
        Self {
            store: Some(store),
            always: Mutex::new(Vec::new()),
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
        let Some(store) = &self.store else {
            return self
                .always
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .any(|g| g.fingerprint == fingerprint);
        };
        store
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
        let Some(store) = &self.store else {
            let mut always = self.always.lock().unwrap_or_else(PoisonError::into_inner);
            if !always.iter().any(|g| g.fingerprint == grant.fingerprint) {
                always.push(grant.clone());
            }
            return Ok(grant);
        };
        store.with(|c| {
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
        let Some(store) = &self.store else {
            return Ok(self
                .always
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone());
        };
        store.with(|c| {
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
        let Some(store) = &self.store else {
            self.always
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|g| !g.fingerprint.starts_with(&prefix));
            return Ok(gone);
        };
        store.with(|c| {
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
        let Some(store) = &self.store else {
            let mut always = self.always.lock().unwrap_or_else(PoisonError::into_inner);
            let count = always.len();
            always.clear();
            return Ok(count);
        };
        store.with(|c| c.execute("DELETE FROM grants", []))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(path: &str) -> Scope {
        Scope {
            function: "fs.write-text".into(),
            value: serde_json::json!({ "paths": [path] }),
            summary: format!("fs.write-text {path}"),
            rule: Some("3:abc".into()),
        }
    }

    #[test]
    fn in_memory_and_stored_grants_behave_alike() {
        let stored = Grants::open(Arc::new(Store::in_memory().expect("store")));
        for grants in [Grants::in_memory(), stored] {
            let (a, b) = (scope("a.md"), scope("b.md"));
            assert!(!grants.covers(&a.fingerprint()));
            let grant = grants.grant_always(&a, "rule").expect("grant");
            grants.grant_always(&a, "rule").expect("twice is once");
            assert!(grants.covers(&a.fingerprint()) && !grants.covers(&b.fingerprint()));
            assert_eq!(grants.list().expect("list").len(), 1);
            grants.grant_turn(&b);
            assert!(grants.covers(&b.fingerprint()));
            grants.end_turn();
            assert!(!grants.covers(&b.fingerprint()));
            assert_eq!(grants.revoke(&grant.id[..6]).expect("revoke").len(), 1);
            assert!(!grants.covers(&a.fingerprint()));
            grants.grant_always(&b, "rule").expect("grant");
            assert_eq!(grants.revoke_all().expect("all"), 1);
        }
    }
}
