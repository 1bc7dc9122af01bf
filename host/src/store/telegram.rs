//! The Telegram gateway's two tables: the outbox and the handled update ids.
//!
//! Threat model: Telegram (or the network in front of it) fails, answers late,
//! or delivers an update twice. An answer is written here *before* it is sent
//! and removed only once Telegram confirmed it, so a failed send, a stopped
//! gateway or a crash loses nothing: the rows are delivered when Telegram is
//! back, in order per chat. An update id is claimed here before the update is
//! acted on, so a redelivered update (a lost `getUpdates` confirmation, a
//! restart before the offset moved on) is recognised and not answered again.
//! Rows hold the text the bot sends, which the chat already shows; they never
//! hold secrets (the `/secret` value is never an answer).

use std::sync::Arc;

use anyhow::Result;
use rusqlite::params;

use super::{Store, now_ms};

/// How long handled update ids are kept: Telegram keeps an unconfirmed update
/// for 24 hours, so an id older than this cannot come back.
pub const KEEP_HANDLED_MS: u64 = 3 * 24 * 60 * 60 * 1000;

/// What a row asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// Send one piece of an answer.
    Text {
        /// The piece escaped for MarkdownV2.
        markdown: String,
        /// The same piece as written, for when Telegram refuses the formatting.
        plain: String,
    },
    /// Delete a message (a status message, once the answer is out).
    Delete(i64),
}

/// One row waiting to be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub id: i64,
    pub chat: i64,
    pub outgoing: Outgoing,
    pub attempts: u32,
}

/// The outbox table.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: Arc<Store>,
}

impl Outbox {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// Queues what one answer needs (in order, in one transaction); returns the row ids.
    pub fn enqueue(&self, chat: i64, rows: &[Outgoing]) -> Result<Vec<i64>> {
        let now = now_ms() as i64;
        self.store.with(|c| {
            let tx = c.transaction()?;
            let mut ids = Vec::with_capacity(rows.len());
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO telegram_outbox (chat, markdown, plain, delete_id, created_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for row in rows {
                    let (markdown, plain, delete) = match row {
                        Outgoing::Text { markdown, plain } => {
                            (markdown.as_str(), plain.as_str(), None)
                        }
                        Outgoing::Delete(message) => ("", "", Some(*message)),
                    };
                    insert.execute(params![chat, markdown, plain, delete, now])?;
                    ids.push(tx.last_insert_rowid());
                }
            }
            tx.commit()?;
            Ok(ids)
        })
    }

    /// The pieces waiting for `chat`, oldest first.
    pub fn pending(&self, chat: i64) -> Result<Vec<Pending>> {
        self.store.with(|c| {
            let mut select = c.prepare_cached(
                "SELECT id, chat, markdown, plain, delete_id, attempts FROM telegram_outbox \
                 WHERE chat = ?1 ORDER BY id",
            )?;
            let rows = select.query_map([chat], |r| {
                let outgoing = match r.get::<_, Option<i64>>(4)? {
                    Some(message) => Outgoing::Delete(message),
                    None => Outgoing::Text {
                        markdown: r.get(2)?,
                        plain: r.get(3)?,
                    },
                };
                Ok(Pending {
                    id: r.get(0)?,
                    chat: r.get(1)?,
                    outgoing,
                    attempts: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Chats with something waiting.
    pub fn chats(&self) -> Result<Vec<i64>> {
        self.store.with(|c| {
            let mut select = c.prepare_cached(
                "SELECT chat FROM telegram_outbox GROUP BY chat ORDER BY MIN(id)",
            )?;
            let rows = select.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// How many pieces are waiting, in all chats.
    pub fn len(&self) -> Result<usize> {
        self.store
            .with(|c| c.query_row("SELECT COUNT(*) FROM telegram_outbox", [], |r| r.get(0)))
    }

    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Telegram confirmed the piece (or refused it for good): it leaves the outbox.
    pub fn remove(&self, id: i64) -> Result<()> {
        self.store.with(|c| {
            c.prepare_cached("DELETE FROM telegram_outbox WHERE id = ?1")?
                .execute([id])
                .map(drop)
        })
    }

    /// A failed attempt: counted, with why (already scrubbed of the token).
    pub fn failed(&self, id: i64, error: &str) -> Result<()> {
        self.store.with(|c| {
            c.prepare_cached(
                "UPDATE telegram_outbox SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
            )?
            .execute(params![id, error])
            .map(drop)
        })
    }
}

/// The handled update ids, per bot (the numeric id at the head of its token, so
/// a new bot's ids never collide with an old one's).
#[derive(Debug, Clone)]
pub struct HandledUpdates {
    store: Arc<Store>,
    bot: i64,
}

impl HandledUpdates {
    pub fn new(store: Arc<Store>, bot: i64) -> Self {
        Self { store, bot }
    }

    /// Claims `update_id`: true if it is new (the caller handles it), false if
    /// it was handled before. Committed before the update is acted on.
    pub fn claim(&self, update_id: i64) -> Result<bool> {
        let now = now_ms() as i64;
        self.store.with(|c| {
            c.prepare_cached(
                "INSERT OR IGNORE INTO telegram_updates (bot, update_id, handled_ms) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![self.bot, update_id, now])
            .map(|inserted| inserted == 1)
        })
    }

    /// The next offset to ask for: past the newest handled id, if any.
    pub fn next_offset(&self) -> Result<Option<i64>> {
        self.store.with(|c| {
            c.query_row(
                "SELECT MAX(update_id) FROM telegram_updates WHERE bot = ?1",
                [self.bot],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|max| max.map(|id| id.saturating_add(1)))
        })
    }

    /// Forgets ids older than [`KEEP_HANDLED_MS`] (the newest is always kept, for the offset).
    pub fn prune(&self) -> Result<usize> {
        let cutoff = now_ms().saturating_sub(KEEP_HANDLED_MS) as i64;
        self.store.with(|c| {
            c.execute(
                "DELETE FROM telegram_updates WHERE bot = ?1 AND handled_ms < ?2 \
                 AND update_id < (SELECT MAX(update_id) FROM telegram_updates WHERE bot = ?1)",
                params![self.bot, cutoff],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_rows_survive_a_reopen_in_order_and_leave_when_delivered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("clambot.db");
        let outbox = Outbox::new(Arc::new(Store::open(&path).expect("open")));
        let text = |m: &str, p: &str| Outgoing::Text {
            markdown: m.into(),
            plain: p.into(),
        };
        let rows = [text("a\\.", "a."), text("b", "b"), Outgoing::Delete(99)];
        let ids = outbox.enqueue(7, &rows).expect("enqueue");
        outbox.enqueue(8, &rows[..1]).expect("enqueue");
        outbox.failed(ids[0], "HTTP 502").expect("failed");
        drop(outbox);
        let outbox = Outbox::new(Arc::new(Store::open(&path).expect("reopen")));
        assert_eq!(outbox.chats().expect("chats"), [7, 8]);
        let pending = outbox.pending(7).expect("pending");
        assert_eq!(
            pending
                .iter()
                .map(|p| p.outgoing.clone())
                .collect::<Vec<_>>(),
            rows
        );
        assert_eq!(pending[0].attempts, 1);
        outbox.remove(ids[0]).expect("remove");
        assert_eq!(outbox.pending(7).expect("pending").len(), 2);
        assert_eq!(outbox.len().expect("len"), 3);
    }

    #[test]
    fn an_update_is_claimed_once_per_bot_and_across_a_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("clambot.db");
        let store = Arc::new(Store::open(&path).expect("open"));
        let handled = HandledUpdates::new(Arc::clone(&store), 1);
        assert_eq!(handled.next_offset().expect("offset"), None);
        assert!(handled.claim(10).expect("claim"));
        assert!(!handled.claim(10).expect("again"));
        assert!(
            HandledUpdates::new(Arc::clone(&store), 2)
                .claim(10)
                .expect("another bot")
        );
        drop((handled, store));
        let handled = HandledUpdates::new(Arc::new(Store::open(&path).expect("reopen")), 1);
        assert!(!handled.claim(10).expect("after a restart"));
        assert_eq!(handled.next_offset().expect("offset"), Some(11));
        assert_eq!(handled.prune().expect("prune"), 0, "recent ids stay");
    }
}
