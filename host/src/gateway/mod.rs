//! `clambot gateway`: the long-running mode. Telegram, the cron scheduler and
//! the heartbeat all hand their work to the agent ([`Turns`]), whose runs all
//! pass the one gate; nothing here touches the sandbox or a tool.
//!
//! Lifecycle: SIGINT or SIGTERM stops polling and scheduling at once; turns in
//! progress get `shutdown-grace` to finish, then are cancelled (their sandbox
//! runs stop within an epoch tick). Everything committed is in SQLite with
//! `synchronous=FULL`, so nothing committed is lost. A turn that fails or
//! panics is reported in its chat; the gateway keeps serving.

pub mod approver;
pub mod config;
pub mod delivery;
pub mod heartbeat;
pub mod log;
pub mod scheduler;
pub mod telegram;

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::gate::BoxFuture;
use delivery::Delivery;

/// Where results that no person is waiting for go (cron, heartbeat).
pub trait Deliver: Send + Sync + std::fmt::Debug {
    /// `channel` is a job's channel (`telegram:<chat id>`), or `None` for the owner.
    fn deliver<'a>(&'a self, channel: Option<&'a str>, text: &'a str) -> BoxFuture<'a, ()>;
}

/// Delivers to Telegram chats: the job's, else the owner's. Results go
/// through the outbox, so one that Telegram does not take now is delivered later.
#[derive(Debug, Clone)]
pub struct TelegramDelivery {
    pub delivery: Delivery,
    pub owner_chat: Option<i64>,
}

impl Deliver for TelegramDelivery {
    fn deliver<'a>(&'a self, channel: Option<&'a str>, text: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let chat = channel
                .and_then(|c| c.strip_prefix("telegram:"))
                .and_then(|id| id.parse().ok())
                .or(self.owner_chat);
            let Some(chat) = chat else {
                crate::gateway_log!("no chat to deliver to (set [telegram] owner-chat):\n{text}");
                return;
            };
            // A result Telegram did not take is kept and delivered later (and logged).
            self.delivery.answer(chat, text).await;
        })
    }
}

/// Delivers to standard error (no Telegram configured).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogDelivery;

impl Deliver for LogDelivery {
    fn deliver<'a>(&'a self, channel: Option<&'a str>, text: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            log::write(Some(channel.unwrap_or("owner")), &text);
        })
    }
}

/// Waits for in-flight work: up to `grace` to finish, then cancels it and
/// waits a little more for the cancellations to land.
pub async fn drain(in_flight: &TaskTracker, cancel: &CancellationToken, grace: Duration) {
    in_flight.close();
    if tokio::time::timeout(grace, in_flight.wait()).await.is_err() {
        cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), in_flight.wait()).await;
    }
}
