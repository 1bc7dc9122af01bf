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
            let ids = insert_rows(&tx, chat, rows, now)?;
            tx.commit()?;
            Ok(ids)
        })
    }

    /// Queues what a turn's answer needs and, in the same transaction, marks
    /// the turn finished: from then on the outbox answers for it.
    ///
    /// On the bulk connection: the answer is sent right after this commit, so
    /// waiting for an fsync here would delay every reply. The row survives a
    /// crash or a kill (WAL); should the send fail, [`Outbox::failed`] commits
    /// with a full sync, which makes the waiting row safe from a power cut too.
    pub fn enqueue_finishing(&self, chat: i64, rows: &[Outgoing], turn: Option<i64>) -> Result<()> {
        let now = now_ms() as i64;
        self.store.with_bulk(|c| {
            let tx = c.transaction()?;
            insert_rows(&tx, chat, rows, now)?;
            if let Some(turn) = turn {
                tx.execute("DELETE FROM telegram_turns WHERE id = ?1", [turn])?;
            }
            tx.commit()
        })
    }

    /// Turns a stop cut short (started, never finished): each gets `notice` and
    /// the deletion of its status message queued, and is marked finished.
    /// Returns how many there were.
    pub fn recover_unfinished(&self, notice: &(String, String)) -> Result<usize> {
        let now = now_ms() as i64;
        self.store.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let turns: Vec<(i64, i64, Option<i64>)> = {
                let mut select =
                    tx.prepare("SELECT id, chat, status_id FROM telegram_turns ORDER BY id")?;
                select
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<rusqlite::Result<_>>()?
            };
            for (id, chat, status) in &turns {
                let mut rows = vec![Outgoing::Text {
                    markdown: notice.0.clone(),
                    plain: notice.1.clone(),
                }];
                rows.extend(status.map(Outgoing::Delete));
                insert_rows(&tx, *chat, &rows, now)?;
                tx.execute("DELETE FROM telegram_turns WHERE id = ?1", [id])?;
            }
            tx.commit()?;
            Ok(turns.len())
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

    /// Telegram confirmed the piece (or refused it for good): it leaves the
    /// outbox (on the bulk connection: a removal lost to a power cut would at
    /// worst send the piece again, like a lost confirmation).
    pub fn remove(&self, id: i64) -> Result<()> {
        self.store.with_bulk(|c| {
            c.prepare_cached("DELETE FROM telegram_outbox WHERE id = ?1")?
                .execute([id])
                .map(drop)
        })
    }

    /// A failed attempt: counted, with why (already scrubbed of the token).
    /// Committed with a full sync, which also makes the waiting rows written
    /// on the bulk connection durable: the WAL is one file.
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

fn insert_rows(
    tx: &rusqlite::Transaction<'_>,
    chat: i64,
    rows: &[Outgoing],
    now: i64,
) -> rusqlite::Result<Vec<i64>> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO telegram_outbox (chat, markdown, plain, delete_id, created_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        let (markdown, plain, delete) = match row {
            Outgoing::Text { markdown, plain } => (markdown.as_str(), plain.as_str(), None),
            Outgoing::Delete(message) => ("", "", Some(*message)),
        };
        insert.execute(params![chat, markdown, plain, delete, now])?;
        ids.push(tx.last_insert_rowid());
    }
    Ok(ids)
}

/// Turns under way. Written on the bulk connection (no fsync per commit): a
/// power cut may lose the mark, and with it only the restart notice.
#[derive(Debug, Clone)]
pub struct LiveTurns {
    store: Arc<Store>,
}

impl LiveTurns {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// A turn starts in `chat`; returns its id.
    pub fn begin(&self, chat: i64) -> Result<i64> {
        let now = now_ms() as i64;
        self.store.with_bulk(|c| {
            c.prepare_cached("INSERT INTO telegram_turns (chat, started_ms) VALUES (?1, ?2)")?
                .execute(params![chat, now])?;
            Ok(c.last_insert_rowid())
        })
    }

    /// The turn's status message, to delete if the turn is cut short.
    pub fn status(&self, turn: i64, message: i64) -> Result<()> {
        self.store.with_bulk(|c| {
            c.prepare_cached("UPDATE telegram_turns SET status_id = ?2 WHERE id = ?1")?
                .execute(params![turn, message])
                .map(drop)
        })
    }

    /// How many are under way (or were, when a stop cut them short).
    pub fn count(&self) -> Result<usize> {
        self.store
            .with(|c| c.query_row("SELECT COUNT(*) FROM telegram_turns", [], |r| r.get(0)))
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
    /// it was handled before. Committed before the update is acted on, on the
    /// bulk connection: it is on every message's critical path, and without an
    /// fsync it costs microseconds instead of milliseconds. A crash of the
    /// process loses nothing (WAL); a power cut may lose the last claims, and
    /// an update Telegram then delivers again would be answered again.
    pub fn claim(&self, update_id: i64) -> Result<bool> {
        let now = now_ms() as i64;
        self.store.with_bulk(|c| {
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
    fn a_turn_cut_short_gets_a_notice_and_its_status_deleted_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(&dir.path().join("clambot.db")).expect("open"));
        let (live, outbox) = (
            LiveTurns::new(Arc::clone(&store)),
            Outbox::new(Arc::clone(&store)),
        );
        let finished = live.begin(7).expect("begin");
        let cut = live.begin(8).expect("begin");
        live.status(cut, 555).expect("status");
        outbox
            .enqueue_finishing(7, &[Outgoing::Delete(1)], Some(finished))
            .expect("finish");
        assert_eq!(live.count().expect("count"), 1);
        let notice = ("stopped\\.".to_owned(), "stopped.".to_owned());
        assert_eq!(outbox.recover_unfinished(&notice).expect("recover"), 1);
        assert_eq!(outbox.recover_unfinished(&notice).expect("again"), 0);
        let rows: Vec<Outgoing> = outbox
            .pending(8)
            .expect("pending")
            .into_iter()
            .map(|p| p.outgoing)
            .collect();
        assert_eq!(
            rows,
            [
                Outgoing::Text {
                    markdown: notice.0.clone(),
                    plain: notice.1.clone()
                },
                Outgoing::Delete(555)
            ]
        );
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
