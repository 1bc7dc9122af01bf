//! Agent sessions: the conversation a model sees, per session key.
//!
//! Turns are stored once, in the searchable `history` table; a session is a
//! window onto it (rows after `start_after`) plus, once compacted, a summary of
//! what came before. Compaction and `/new` only move the window.

use std::sync::Arc;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};

use super::memory::Role;
use super::{Store, now_ms};

/// One turn in a session's window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// The history row id.
    pub id: i64,
    pub role: String,
    pub text: String,
}

/// What a model is shown of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionContext {
    /// A summary of the turns before the window, if compacted.
    pub summary: Option<String>,
    pub turns: Vec<Turn>,
}

/// Sessions over the state database.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: Arc<Store>,
}

impl Sessions {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// The summary and the turns in the window, oldest first.
    pub fn context(&self, key: &str) -> Result<SessionContext> {
        self.store.with(|c| {
            let (summary, start_after): (Option<String>, i64) = c
                .query_row(
                    "SELECT summary, start_after FROM sessions WHERE key = ?1",
                    [key],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?
                .unwrap_or((None, 0));
            let mut statement = c.prepare_cached(
                "SELECT id, role, text FROM history WHERE session = ?1 AND id > ?2 ORDER BY id",
            )?;
            let turns = statement
                .query_map(params![key, start_after], |row| {
                    Ok(Turn {
                        id: row.get(0)?,
                        role: row.get(1)?,
                        text: row.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(SessionContext { summary, turns })
        })
    }

    /// Appends the user's message and the answer, together (one transaction).
    pub fn append_exchange(&self, key: &str, user: &str, assistant: &str) -> Result<()> {
        // On the bulk connection: this commit sits between the model's answer
        // and the reply, on every turn. It survives a crash or a kill (WAL); a
        // power cut may lose the last exchanges of a conversation, never an
        // answer in the outbox or a grant.
        self.store.with_bulk(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let now = now_ms();
            for (role, text) in [(Role::User, user), (Role::Assistant, assistant)] {
                tx.execute(
                    "INSERT INTO history (session, role, text, created_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![key, role.as_str(), text, now],
                )?;
            }
            tx.execute(
                "INSERT INTO sessions (key, updated_ms) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET updated_ms = excluded.updated_ms",
                params![key, now],
            )?;
            tx.commit()
        })
    }

    /// Replaces the turns up to and including `through` (a history id) by `summary`.
    pub fn compact(&self, key: &str, summary: &str, through: i64) -> Result<()> {
        self.store.with(|c| {
            c.execute(
                "INSERT INTO sessions (key, summary, start_after, updated_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(key) DO UPDATE SET summary = excluded.summary,
                     start_after = excluded.start_after, updated_ms = excluded.updated_ms",
                params![key, summary, through, now_ms()],
            )
            .map(drop)
        })
    }

    /// Starts the session afresh (`/new`); the history stays searchable.
    pub fn reset(&self, key: &str) -> Result<()> {
        self.store.with(|c| {
            c.execute(
                "INSERT INTO sessions (key, summary, start_after, updated_ms)
                 VALUES (?1, NULL, (SELECT COALESCE(MAX(id), 0) FROM history), ?2)
                 ON CONFLICT(key) DO UPDATE SET summary = NULL,
                     start_after = excluded.start_after, updated_ms = excluded.updated_ms",
                params![key, now_ms()],
            )
            .map(drop)
        })
    }

    /// The most recently used session whose key starts with `prefix`.
    pub fn latest(&self, prefix: &str) -> Result<Option<String>> {
        self.store.with(|c| {
            c.query_row(
                "SELECT key FROM sessions WHERE substr(key, 1, length(?1)) = ?1
                 ORDER BY updated_ms DESC, rowid DESC LIMIT 1",
                [prefix],
                |row| row.get(0),
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_compaction_and_reset() {
        let sessions = Sessions::new(Arc::new(Store::in_memory().expect("store")));
        for i in 0..3 {
            sessions
                .append_exchange("cli:a", &format!("q{i}"), &format!("a{i}"))
                .expect("append");
        }
        sessions
            .append_exchange("cli:b", "other", "x")
            .expect("append");
        let context = sessions.context("cli:a").expect("context");
        assert_eq!(context.turns.len(), 6);
        assert_eq!(context.turns[0].text, "q0");

        let through = context.turns[3].id;
        sessions
            .compact("cli:a", "earlier: q0 q1", through)
            .expect("compact");
        let context = sessions.context("cli:a").expect("context");
        assert_eq!(context.summary.as_deref(), Some("earlier: q0 q1"));
        assert_eq!(
            context
                .turns
                .iter()
                .map(|t| t.text.as_str())
                .collect::<Vec<_>>(),
            ["q2", "a2"]
        );

        sessions.reset("cli:a").expect("reset");
        assert_eq!(
            sessions.context("cli:a").expect("context"),
            SessionContext::default()
        );
        assert_eq!(sessions.context("cli:b").expect("context").turns.len(), 2);
        // The most recently used session, by its last write (ms clock).
        std::thread::sleep(std::time::Duration::from_millis(5));
        sessions
            .append_exchange("cli:a", "again", "yes")
            .expect("append");
        assert_eq!(
            sessions.latest("cli:").expect("latest").as_deref(),
            Some("cli:a")
        );
    }
}
