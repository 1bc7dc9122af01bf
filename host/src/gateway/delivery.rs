//! The one way anything reaches Telegram: every send, edit and delete goes
//! through [`Delivery::retry`], and every answer (chat replies, cron and
//! heartbeat results, the clean-up of status messages) through the outbox.
//!
//! Threat model: Telegram fails in every way a remote service can — 5xx for a
//! while, 429 with `retry_after`, connections refused or dropped mid-request,
//! answers that never come — and none of it may lose an answer or show one
//! twice in a different form. So:
//!
//! - A failure that says Telegram did not act (no connection, 429) or may not
//!   have (5xx, no answer) is retried with exponential backoff and jitter,
//!   `retry_after` honoured, within a total time; a refusal (4xx) is not.
//! - The plain-text fallback is used only when Telegram refuses the formatting
//!   (400 "can't parse entities"), which means nothing was sent. Never on a 5xx
//!   or a timeout: the MarkdownV2 message may have arrived, and a plain copy
//!   would show it twice.
//! - An answer is written to the outbox before it is sent and leaves it only
//!   when Telegram confirmed it. When the total time runs out the failure is
//!   logged and the rows stay; they are delivered, in order per chat, when
//!   Telegram is back — by the next answer to that chat, by the background
//!   flush, or after a restart.
//!
//! What remains: a request Telegram acted on but answered with a 5xx (or not
//! at all) is retried as the *same* message, since the Bot API has no
//! idempotency key; the person may then see that identical message twice, never
//! a different copy. Status messages are sent without such retries, so none is
//! left behind unknown; a status message whose send outcome was unknown cannot
//! be named, and so cannot be deleted.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::telegram::api::{ApiError, BotApi, Message};
use super::telegram::format::reply_chunks;
use crate::store::Store;
use crate::store::telegram::{Outbox, Outgoing, Pending};

/// How long and how often to try one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first wait; each further wait doubles, up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// No retry starts after this much time since the first attempt.
    pub total: Duration,
    /// Retry when the outcome is unknown (5xx, no answer), not only when Telegram
    /// certainly did not act. Off for what must not be doubled unseen.
    pub retry_unknown: bool,
}

impl RetryPolicy {
    /// Answers: worth a minute of trying before they wait in the outbox.
    pub const ANSWERS: Self = Self {
        first_delay: Duration::from_millis(250),
        max_delay: Duration::from_secs(8),
        total: Duration::from_secs(60),
        retry_unknown: true,
    };

    /// Status messages, button answers: useful only while the turn runs.
    pub fn short(self) -> Self {
        Self {
            total: self.total.min(Duration::from_secs(15)),
            ..self
        }
    }

    /// The same policy, but only retrying what Telegram certainly did not do.
    pub fn certain_only(self) -> Self {
        Self {
            retry_unknown: false,
            ..self
        }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::ANSWERS
    }
}

/// A number in [0, 1), fresh each call (std's randomly keyed hasher: jitter needs
/// no cryptographic randomness, only that two gateways do not retry in step).
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Half the delay, plus up to the other half at random ("equal jitter").
fn jittered(delay: Duration) -> Duration {
    delay / 2 + delay.mul_f64(random_unit() / 2.0)
}

/// Retries `attempt` under `policy`; returns the last error when it gives up.
pub async fn retry<T, F, Fut>(policy: RetryPolicy, mut attempt: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let started = Instant::now();
    let mut delay = policy.first_delay;
    loop {
        let error = match attempt().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if !error.is_transient() || (!policy.retry_unknown && !error.certainly_not_done()) {
            return Err(error);
        }
        let wait = match &error {
            ApiError::RateLimited {
                retry_after: Some(after),
                ..
            } => *after + jittered(Duration::from_millis(100)),
            _ => jittered(delay),
        };
        if started.elapsed() + wait > policy.total {
            return Err(error);
        }
        tokio::time::sleep(wait).await;
        delay = (delay * 2).min(policy.max_delay);
    }
}

/// What became of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Everything waiting for the chat was sent.
    Sent,
    /// Telegram did not take it in time: it waits in the outbox.
    Kept(ApiError),
}

/// The delivery path, shared by the bot, the approver, cron and the heartbeat.
#[derive(Debug, Clone)]
pub struct Delivery {
    api: BotApi,
    outbox: Outbox,
    policy: RetryPolicy,
    /// One flush per chat at a time, so pieces go out in order.
    chats: Arc<Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>>,
}

impl Delivery {
    pub fn new(api: BotApi, store: Arc<Store>) -> Self {
        Self {
            api,
            outbox: Outbox::new(store),
            policy: RetryPolicy::default(),
            chats: Arc::default(),
        }
    }

    /// The same delivery with another retry policy (tests use short ones).
    #[must_use]
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    pub fn api(&self) -> &BotApi {
        &self.api
    }

    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Sends a message that is not an answer (a question with buttons, a
    /// refusal), with retries but not kept when they run out.
    pub async fn send_now(
        &self,
        chat: i64,
        text: &str,
        buttons: Option<&[Vec<super::telegram::api::Button>]>,
    ) -> Result<Message, ApiError> {
        retry(self.policy.short(), || {
            self.api.send_message(chat, text, false, buttons)
        })
        .await
    }

    /// Edits a message's text; "not modified" counts as done.
    pub async fn edit(&self, chat: i64, message: i64, text: &str) -> Result<(), ApiError> {
        match retry(self.policy.short(), || {
            self.api.edit_message_text(chat, message, text)
        })
        .await
        {
            Err(error) if error.is_not_modified() => Ok(()),
            other => other,
        }
    }

    /// Answers a button press.
    pub async fn answer_callback(&self, id: &str, text: &str) -> Result<(), ApiError> {
        retry(self.policy.short(), || {
            self.api.answer_callback_query(id, text)
        })
        .await
    }

    /// Queues an answer (its pieces, then the deletion of `status` if given),
    /// committed before anything is sent; marks `turn` finished in the same commit.
    pub fn enqueue(
        &self,
        chat: i64,
        text: &str,
        status: Option<i64>,
        turn: Option<i64>,
    ) -> anyhow::Result<()> {
        let mut rows: Vec<Outgoing> = reply_chunks(text)
            .into_iter()
            .map(|piece| Outgoing::Text {
                markdown: piece.markdown,
                plain: piece.plain,
            })
            .collect();
        rows.extend(status.map(Outgoing::Delete));
        self.outbox.enqueue_finishing(chat, &rows, turn)
    }

    /// Queues and delivers an answer.
    pub async fn answer(&self, chat: i64, text: &str) -> Delivered {
        self.answer_turn(chat, text, None, None).await
    }

    /// Queues and delivers a turn's answer, then the deletion of its status message.
    pub async fn answer_turn(
        &self,
        chat: i64,
        text: &str,
        status: Option<i64>,
        turn: Option<i64>,
    ) -> Delivered {
        if let Err(error) = self.enqueue(chat, text, status, turn) {
            // The database refused the row: deliver without it rather than drop the answer.
            crate::gateway_log!(
                "could not keep an answer for chat {chat} in the outbox \
                 ({error:#}); sending it without a copy"
            );
            for piece in reply_chunks(text) {
                if let Err(error) = self.send_piece(chat, &piece.markdown, &piece.plain).await {
                    crate::gateway_log!("an answer to chat {chat} is lost: {error}");
                    return Delivered::Kept(error);
                }
            }
            return Delivered::Sent;
        }
        self.flush(chat).await
    }

    /// Sends one piece: MarkdownV2, or plain text if (and only if) Telegram
    /// refused the formatting.
    async fn send_piece(&self, chat: i64, markdown: &str, plain: &str) -> Result<(), ApiError> {
        match retry(self.policy, || {
            self.api.send_message(chat, markdown, true, None)
        })
        .await
        {
            Ok(_) => Ok(()),
            Err(ApiError::Entities { .. }) => retry(self.policy, || {
                self.api.send_message(chat, plain, false, None)
            })
            .await
            .map(drop),
            Err(error) => Err(error),
        }
    }

    async fn deliver_row(&self, row: &Pending) -> Result<(), ApiError> {
        match &row.outgoing {
            Outgoing::Text { markdown, plain } => self.send_piece(row.chat, markdown, plain).await,
            Outgoing::Delete(message) => {
                retry(self.policy, || self.api.delete_message(row.chat, *message)).await
            }
        }
    }

    fn chat_lock(&self, chat: i64) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(
            self.chats
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(chat)
                .or_default(),
        )
    }

    /// Delivers everything waiting for `chat`, oldest first; stops at the first
    /// row Telegram did not take in time (it and the rest wait).
    pub async fn flush(&self, chat: i64) -> Delivered {
        let lock = self.chat_lock(chat);
        let _turn = lock.lock().await;
        let rows = match self.outbox.pending(chat) {
            Ok(rows) => rows,
            Err(error) => {
                crate::gateway_log!("reading the outbox: {error:#}");
                return Delivered::Sent;
            }
        };
        for row in rows {
            match self.deliver_row(&row).await {
                Ok(()) => {}
                Err(error) if !error.is_transient() => {
                    // Refused for good (the chat is gone, the bot was blocked, the
                    // message to delete is gone): keeping it would block the chat.
                    if !matches!(row.outgoing, Outgoing::Delete(_)) {
                        crate::gateway_log!(
                            "Telegram refused a message to chat {chat}; dropped: {error}"
                        );
                    }
                }
                Err(error) => {
                    crate::gateway_log!(
                        "could not deliver to chat {chat} within {}: {error}; \
                         kept in the outbox",
                        humantime::format_duration(self.policy.total)
                    );
                    if let Err(db) = self.outbox.failed(row.id, &error.to_string()) {
                        crate::gateway_log!("recording the failure: {db:#}");
                    }
                    return Delivered::Kept(error);
                }
            }
            if let Err(error) = self.outbox.remove(row.id) {
                // Sent but still listed: it would go out again. Say so loudly.
                crate::gateway_log!(
                    "a delivered message to chat {chat} could not leave the \
                     outbox ({error:#}); it may be sent again"
                );
            }
        }
        Delivered::Sent
    }

    /// Delivers what waits for every chat; returns how many chats are still waiting.
    pub async fn flush_all(&self) -> usize {
        let chats = match self.outbox.chats() {
            Ok(chats) => chats,
            Err(error) => {
                crate::gateway_log!("reading the outbox: {error:#}");
                return 0;
            }
        };
        let mut waiting = 0;
        for chat in chats {
            if matches!(self.flush(chat).await, Delivered::Kept(_)) {
                waiting += 1;
            }
        }
        waiting
    }

    /// Flushes the outbox at once (what a previous run left) and then every `every`, until `stop`.
    pub async fn run(self, every: Duration, stop: CancellationToken) {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = self.flush_all() => {}
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_whole_of_the_delay() {
        let delay = Duration::from_millis(1000);
        let waits: Vec<Duration> = (0..200).map(|_| jittered(delay)).collect();
        assert!(waits.iter().all(|w| *w >= delay / 2 && *w <= delay));
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 100, "jitter varies: {}", distinct.len());
    }

    fn server_error() -> ApiError {
        ApiError::Server {
            method: "sendMessage".into(),
            status: 502,
            description: "Bad Gateway".into(),
        }
    }

    #[tokio::test]
    async fn retries_5xx_with_growing_waits_and_gives_up_after_the_total() {
        let policy = RetryPolicy {
            first_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(160),
            total: Duration::from_millis(1000),
            retry_unknown: true,
        };
        let started = Instant::now();
        let mut attempts = Vec::new();
        let result: Result<(), _> = retry(policy, || {
            attempts.push(started.elapsed());
            async { Err(server_error()) }
        })
        .await;
        assert_eq!(result, Err(server_error()));
        let slack = Duration::from_millis(400);
        assert!(
            started.elapsed() <= policy.total + slack,
            "{:?}",
            started.elapsed()
        );
        assert!(attempts.len() >= 6, "{attempts:?}");
        let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[0] >= Duration::from_millis(10), "{gaps:?}");
        assert!(
            gaps.iter().all(|g| *g <= policy.max_delay + slack),
            "{gaps:?}"
        );
        assert!(gaps[4] > gaps[0], "backoff grows: {gaps:?}");
    }

    #[tokio::test]
    async fn honours_retry_after_and_never_retries_a_refusal() {
        let started = Instant::now();
        let mut calls = 0;
        let result = retry(RetryPolicy::ANSWERS, || {
            calls += 1;
            let first = calls == 1;
            async move {
                if first {
                    Err(ApiError::RateLimited {
                        method: "sendMessage".into(),
                        retry_after: Some(Duration::from_secs(1)),
                    })
                } else {
                    Ok(calls)
                }
            }
        })
        .await;
        assert_eq!(result, Ok(2));
        assert!(started.elapsed() >= Duration::from_secs(1));
        for refusal in [
            ApiError::Entities {
                method: "sendMessage".into(),
                description: "Bad Request: can't parse entities".into(),
            },
            ApiError::Refused {
                method: "sendMessage".into(),
                status: 403,
                description: "Forbidden: bot was blocked by the user".into(),
            },
        ] {
            let mut calls = 0;
            let result: Result<(), _> = retry(RetryPolicy::ANSWERS, || {
                calls += 1;
                let refusal = refusal.clone();
                async move { Err(refusal) }
            })
            .await;
            assert_eq!(result, Err(refusal));
            assert_eq!(calls, 1);
        }
        // Unknown outcomes are not retried under certain_only.
        let mut calls = 0;
        let _ = retry(RetryPolicy::ANSWERS.certain_only(), || {
            calls += 1;
            async { Err::<(), _>(server_error()) }
        })
        .await;
        assert_eq!(calls, 1);
    }
}
