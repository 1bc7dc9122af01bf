//! One question at a time: the order in which a run's `ask` decisions reach the
//! person who answers them.
//!
//! Calls a script runs concurrently can need approval at the same moment. Each
//! takes a [`Ticket`] when the gate judges it (in the order the script started
//! the calls), and asks only when every earlier ticket has been answered or
//! given up: the terminal or the chat shows one question, then the next, never
//! two interleaved. A ticket dropped unanswered (its call was cut short) gives
//! its place up, so a cancelled call can never hold the queue.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// The questions of one run (and of the tool components serving it), in order.
#[derive(Debug, Default)]
pub struct AskQueue {
    state: Mutex<QueueState>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct QueueState {
    next: u64,
    /// Tickets not yet at the front, by number.
    waiting: BTreeSet<u64>,
    /// Whether a question is being asked now.
    asking: bool,
}

impl AskQueue {
    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next place in the queue.
    pub fn ticket(self: &Arc<Self>) -> Ticket {
        let mut state = self.state();
        let number = state.next;
        state.next += 1;
        state.waiting.insert(number);
        Ticket {
            queue: Arc::clone(self),
            number,
            asking: false,
        }
    }
}

/// A place in the [`AskQueue`]; the question may be asked once [`Ticket::turn`]
/// returns, and the next one when this is dropped.
#[derive(Debug)]
pub struct Ticket {
    queue: Arc<AskQueue>,
    number: u64,
    asking: bool,
}

impl Ticket {
    /// Waits until every earlier question has been answered (or given up).
    pub async fn turn(&mut self) {
        if self.asking {
            return;
        }
        loop {
            let notified = self.queue.changed.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a change between the two is not missed.
            notified.as_mut().enable();
            {
                let mut state = self.queue.state();
                if !state.asking && state.waiting.first() == Some(&self.number) {
                    state.waiting.remove(&self.number);
                    state.asking = true;
                    self.asking = true;
                    return;
                }
            }
            notified.await;
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        {
            let mut state = self.queue.state();
            if self.asking {
                state.asking = false;
            } else {
                state.waiting.remove(&self.number);
            }
        }
        self.queue.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn questions_are_asked_in_ticket_order_and_a_dropped_ticket_gives_its_place_up() {
        let queue = Arc::new(AskQueue::default());
        let mut first = queue.ticket();
        let second = queue.ticket();
        let mut third = queue.ticket();
        first.turn().await;
        // The third waits behind the first (asking) and the second (waiting).
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), third.turn()).await;
        assert!(
            waiting.is_err(),
            "the third ticket went ahead of earlier ones"
        );
        drop(first);
        drop(second);
        tokio::time::timeout(std::time::Duration::from_secs(5), third.turn())
            .await
            .expect("the third ticket's turn comes once the earlier ones are gone");
    }
}
