//! Approvals over chat: an `ask` rule's question as a message with inline
//! buttons (allow once / always for the offered scope / reject).
//!
//! Fails closed everywhere: a button press is honoured only from the person the
//! question was put to, in that chat, while the question is pending. Unknown,
//! expired, malformed or foreign callbacks are refused and never taken as
//! "allow"; no answer within the timeout is a rejection.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use super::delivery::Delivery;
use super::telegram::api::Button;
use crate::gate::BoxFuture;
use crate::gate::approver::{Approval, ApprovalRequest, Approver};

/// How long a question waits for a button press.
pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(300);

/// Callback data prefix for approval buttons.
const PREFIX: &str = "ap";

struct Pending {
    chat: i64,
    user: i64,
    reply: oneshot::Sender<Approval>,
}

/// Questions waiting for a button press, shared by the bot loop (which hears
/// the presses) and the approvers (which ask).
#[derive(Default)]
pub struct PendingApprovals {
    waiting: Mutex<HashMap<String, Pending>>,
}

impl std::fmt::Debug for PendingApprovals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingApprovals")
            .field("waiting", &self.lock().len())
            .finish()
    }
}

/// Why a button press was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not an approval button, or its data is malformed.
    Malformed,
    /// No question with that id is pending (answered, timed out, or never asked).
    Expired,
    /// Pressed by someone other than the person asked, or in another chat.
    Foreign,
}

impl Refused {
    pub fn explain(self) -> &'static str {
        match self {
            Self::Malformed => "That button is not one of mine.",
            Self::Expired => "This question has expired or was already answered.",
            Self::Foreign => "Only the person who was asked can answer this.",
        }
    }
}

impl PendingApprovals {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a button press: `data` from `user` in `chat`. Returns what it meant.
    pub fn resolve(&self, data: &str, chat: i64, user: i64) -> Result<&'static str, Refused> {
        let mut parts = data.split(':');
        let (Some(PREFIX), Some(id), Some(choice), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Refused::Malformed);
        };
        let (approval, said) = match choice {
            "once" => (Approval::Once, "Allowed once."),
            "always" => (Approval::Always, "Allowed from now on for this scope."),
            "reject" => (
                Approval::Reject("the owner rejected it in chat".into()),
                "Rejected.",
            ),
            _ => return Err(Refused::Malformed),
        };
        let mut waiting = self.lock();
        let Some(pending) = waiting.get(id) else {
            return Err(Refused::Expired);
        };
        if pending.chat != chat || pending.user != user {
            return Err(Refused::Foreign);
        }
        let pending = waiting.remove(id).expect("present above");
        // The asker may have timed out a moment ago: then the answer is moot.
        pending.reply.send(approval).map_err(|_| Refused::Expired)?;
        Ok(said)
    }
}

/// Asks one person in one chat.
#[derive(Debug, Clone)]
pub struct ChatApprover {
    pub delivery: Delivery,
    pub chat: i64,
    pub user: i64,
    pub pending: Arc<PendingApprovals>,
    pub timeout: Duration,
}

impl Approver for ChatApprover {
    fn approve<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Approval> {
        Box::pin(async move {
            // The random tail of a v7 UUID (its head is the time).
            let id = uuid::Uuid::now_v7().simple().to_string()[16..].to_owned();
            let (reply, answer) = oneshot::channel();
            self.pending.lock().insert(
                id.clone(),
                Pending {
                    chat: self.chat,
                    user: self.user,
                    reply,
                },
            );
            let args = serde_json::to_string_pretty(&request.args).unwrap_or_default();
            let text = format!(
                "Approve {}?\nRule: {}\nArguments: {}\n\n\"Always\" covers: {}",
                request.function,
                request.rule,
                crate::agent::prompt::clip(&args, 1_500),
                request.scope.summary
            );
            let button = |label: &str, choice: &str| Button {
                text: label.to_owned(),
                callback_data: format!("{PREFIX}:{id}:{choice}"),
            };
            let buttons = vec![
                vec![button("Allow once", "once"), button("Always", "always")],
                vec![button("Reject", "reject")],
            ];
            let asked = self
                .delivery
                .send_now(self.chat, &text, Some(&buttons))
                .await;
            let approval = match asked {
                Err(error) => {
                    Approval::Reject(format!("the question could not be sent: {error:#}"))
                }
                Ok(message) => {
                    let approval = match tokio::time::timeout(self.timeout, answer).await {
                        Ok(Ok(approval)) => approval,
                        _ => Approval::Reject(format!(
                            "no answer in chat within {}",
                            humantime::format_duration(self.timeout)
                        )),
                    };
                    let outcome = match &approval {
                        Approval::Reject(why) => {
                            format!("✗ {} — rejected ({why})", request.function)
                        }
                        _ => format!("✓ {} — allowed", request.function),
                    };
                    if let Err(error) = self
                        .delivery
                        .edit(self.chat, message.message_id, &outcome)
                        .await
                    {
                        crate::gateway_log!("could not mark the question answered: {error}");
                    }
                    approval
                }
            };
            self.pending.lock().remove(&id);
            approval
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending_with(
        id: &str,
        chat: i64,
        user: i64,
    ) -> (PendingApprovals, oneshot::Receiver<Approval>) {
        let pending = PendingApprovals::default();
        let (reply, answer) = oneshot::channel();
        pending
            .lock()
            .insert(id.into(), Pending { chat, user, reply });
        (pending, answer)
    }

    #[test]
    fn only_the_asked_person_in_that_chat_can_answer() {
        let (pending, mut answer) = pending_with("abc", 10, 7);
        assert_eq!(pending.resolve("ap:abc:once", 10, 8), Err(Refused::Foreign));
        assert_eq!(pending.resolve("ap:abc:once", 11, 7), Err(Refused::Foreign));
        assert!(
            answer.try_recv().is_err(),
            "a foreign press decides nothing"
        );
        assert_eq!(
            pending.resolve("ap:abc:always", 10, 7),
            Ok("Allowed from now on for this scope.")
        );
        assert_eq!(answer.try_recv().expect("answered"), Approval::Always);
        assert_eq!(pending.resolve("ap:abc:once", 10, 7), Err(Refused::Expired));
    }

    #[test]
    fn malformed_and_unknown_data_is_refused() {
        let (pending, mut answer) = pending_with("abc", 10, 7);
        for data in [
            "",
            "ap",
            "ap:abc",
            "ap:abc:yes",
            "ap:abc:once:x",
            "xx:abc:once",
            "ap::once",
        ] {
            assert!(pending.resolve(data, 10, 7).is_err(), "{data}");
        }
        assert_eq!(pending.resolve("ap:zzz:once", 10, 7), Err(Refused::Expired));
        assert!(answer.try_recv().is_err());
    }

    #[test]
    fn callback_data_fits_telegrams_64_bytes() {
        let id = uuid::Uuid::now_v7().simple().to_string()[16..].to_owned();
        for choice in ["once", "always", "reject"] {
            assert!(format!("{PREFIX}:{id}:{choice}").len() <= 64);
        }
    }
}
