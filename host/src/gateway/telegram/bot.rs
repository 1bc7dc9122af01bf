//! The Telegram front end: long polling, access control on every message and
//! every button press, commands, uploads, and one agent turn per message with a
//! typing indicator and a status message edited through the phases.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Result;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::api::{BotApi, Message, Update};
use super::format::{escape_markdown_v2, reply_chunks};
use crate::agent::turn::{AnnouncingApprover, Phase, Progress, TurnRequest, Turns};
use crate::gate::grants::Grants;
use crate::gateway::approver::{ChatApprover, PendingApprovals};
use crate::gateway::config::Access;
use crate::state::HostState;

/// How long one getUpdates call waits for news.
const POLL_SECONDS: u64 = 25;

/// Everything the bot needs.
pub struct Bot {
    pub api: BotApi,
    pub turns: Arc<dyn Turns>,
    pub state: HostState,
    pub access: Access,
    /// The one user who may use /grants, /revoke and /secret.
    pub owner: Option<i64>,
    pub pending: Arc<PendingApprovals>,
    pub upload_max: u64,
    pub approval_timeout: Duration,
    /// Turns in progress (the gateway waits for them at shutdown).
    pub in_flight: TaskTracker,
    /// Cancels turns still running when the shutdown grace is over.
    pub cancel_turns: CancellationToken,
    /// `/secret NAME`: the next message from that person in that chat is the value.
    secret_waits: Mutex<HashMap<(i64, i64), String>>,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

/// Edits the status message as the turn moves through its phases.
#[derive(Debug)]
struct StatusMessage {
    api: BotApi,
    chat: i64,
    message: i64,
}

impl Progress for StatusMessage {
    fn phase(&self, phase: Phase) {
        let (api, chat, message) = (self.api.clone(), self.chat, self.message);
        tokio::spawn(async move {
            let _ = api
                .edit_message_text(chat, message, &format!("… {phase}"))
                .await;
        });
    }
}

impl Bot {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        api: BotApi,
        turns: Arc<dyn Turns>,
        state: HostState,
        access: Access,
        owner: Option<i64>,
        upload_max: u64,
        approval_timeout: Duration,
        in_flight: TaskTracker,
        cancel_turns: CancellationToken,
    ) -> Self {
        Self {
            api,
            turns,
            state,
            access,
            owner,
            pending: Arc::new(PendingApprovals::default()),
            upload_max,
            approval_timeout,
            in_flight,
            cancel_turns,
            secret_waits: Mutex::new(HashMap::new()),
        }
    }

    /// Polls until `stop`; a failing poll is retried with backoff, never fatal.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut offset = 0;
        let mut backoff = Duration::from_millis(500);
        loop {
            let updates = tokio::select! {
                () = stop.cancelled() => return,
                updates = self.api.get_updates(offset, POLL_SECONDS) => updates,
            };
            match updates {
                Ok(updates) => {
                    backoff = Duration::from_millis(500);
                    for update in updates {
                        offset = offset.max(update.update_id + 1);
                        Arc::clone(&self).handle(update).await;
                    }
                }
                Err(error) => {
                    crate::gateway_log!(
                        "{error:#}; retrying in {}",
                        crate::size::show_duration(backoff)
                    );
                    tokio::select! {
                        () = stop.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// One update. Access is checked first, for messages and button presses alike.
    pub async fn handle(self: Arc<Self>, update: Update) {
        if let Some(query) = update.callback_query {
            let chat = query
                .message
                .as_ref()
                .map(|m| m.chat.id)
                .unwrap_or_default();
            let text = if !self
                .access
                .allows(query.from.id, query.from.username.as_deref())
            {
                "You are not allowed to use this bot.".to_owned()
            } else {
                match self.pending.resolve(
                    query.data.as_deref().unwrap_or_default(),
                    chat,
                    query.from.id,
                ) {
                    Ok(said) => said.to_owned(),
                    Err(refused) => refused.explain().to_owned(),
                }
            };
            let _ = self.api.answer_callback_query(&query.id, &text).await;
            return;
        }
        let Some(message) = update.message else {
            return;
        };
        let Some(from) = message.from.clone() else {
            return;
        };
        let chat = message.chat.id;
        if !self.access.allows(from.id, from.username.as_deref()) {
            let _ = self
                .api
                .send_message(chat, "Sorry, this bot is private.", false, None)
                .await;
            return;
        }
        let waiting_secret = self
            .secret_waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(chat, from.id));
        if let Some(name) = waiting_secret {
            self.store_secret(&message, &name).await;
            return;
        }
        let text = message.text.clone().unwrap_or_default();
        if text.starts_with('/') {
            self.command(&message, from.id, &text).await;
            return;
        }
        let mut prompt = message.caption.clone().unwrap_or(text);
        if let Some(document) = &message.document {
            match self.save_upload(document).await {
                Ok(note) => prompt = format!("{prompt}\n\n{note}").trim().to_owned(),
                Err(error) => {
                    self.say(chat, &format!("I could not take that file: {error:#}"))
                        .await;
                    return;
                }
            }
        }
        if prompt.trim().is_empty() {
            return;
        }
        let bot = Arc::clone(&self);
        self.in_flight
            .spawn(async move { bot.turn(chat, from.id, prompt).await });
    }

    async fn say(&self, chat: i64, text: &str) {
        for chunk in reply_chunks(text) {
            let sent = self
                .api
                .send_message(chat, &escape_markdown_v2(&chunk), true, None)
                .await;
            if sent.is_err() {
                // MarkdownV2 refused (or any other failure): plain text, as written.
                if let Err(error) = self.api.send_message(chat, &chunk, false, None).await {
                    crate::gateway_log!("could not send a reply: {error:#}");
                }
            }
        }
    }

    /// One agent turn; a panic inside it is reported and contained.
    async fn turn(self: Arc<Self>, chat: i64, user: i64, message: String) {
        let typing = CancellationToken::new();
        {
            let (api, typing) = (self.api.clone(), typing.clone());
            tokio::spawn(async move {
                // Telegram shows "typing…" for about 5 s per call.
                loop {
                    let _ = api.send_chat_action(chat, "typing").await;
                    tokio::select! {
                        () = typing.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(4)) => {}
                    }
                }
            });
        }
        let status = self
            .api
            .send_message(chat, "… thinking", false, None)
            .await
            .ok();
        let progress: Arc<dyn Progress> = match &status {
            Some(status) => Arc::new(StatusMessage {
                api: self.api.clone(),
                chat,
                message: status.message_id,
            }),
            None => Arc::new(crate::agent::turn::Quiet),
        };
        let approver = Arc::new(AnnouncingApprover {
            inner: Arc::new(ChatApprover {
                api: self.api.clone(),
                chat,
                user,
                pending: Arc::clone(&self.pending),
                timeout: self.approval_timeout,
            }),
            progress: Arc::clone(&progress),
        });
        let request = TurnRequest {
            session: format!("telegram:{chat}"),
            message,
            approver,
            progress,
            cancel: self.cancel_turns.child_token(),
        };
        let turns = Arc::clone(&self.turns);
        let reply = tokio::spawn(async move { turns.turn(request).await }).await;
        typing.cancel();
        let text = match reply {
            Ok(Ok(reply)) => reply.text,
            Ok(Err(error)) => format!("Something failed on my side: {error:#}"),
            Err(join) if join.is_panic() => {
                "Something went wrong in this turn (an internal error). The gateway keeps running."
                    .to_owned()
            }
            Err(_) => "The turn was stopped.".to_owned(),
        };
        if let Some(status) = status {
            let _ = self.api.delete_message(chat, status.message_id).await;
        }
        self.say(chat, &text).await;
    }

    async fn command(&self, message: &Message, user: i64, text: &str) {
        let chat = message.chat.id;
        let mut words = text.split_whitespace();
        // `/cmd@botname` is how commands look in groups.
        let command = words
            .next()
            .unwrap_or_default()
            .split('@')
            .next()
            .unwrap_or_default();
        let argument = words.next();
        let administrative = matches!(command, "/grants" | "/revoke" | "/secret");
        let reply = match command {
            _ if administrative && self.owner != Some(user) => {
                "Only the owner can see or change approvals and secrets.".to_owned()
            }
            "/start" | "/help" => "Send me a message and I will answer it, running code only in \
                my sandbox and only as the owner's policy allows.\n\n/new: start a fresh conversation\n\
                /grants: list the \"always\" approvals\n/revoke ID: remove one\n\
                /secret NAME: store a secret (send the value next; I delete that message)"
                .to_owned(),
            "/new" => match self.turns.new_session(&format!("telegram:{chat}")) {
                Ok(()) => "Started a fresh conversation.".to_owned(),
                Err(error) => format!("Could not start afresh: {error:#}"),
            },
            "/grants" => match Grants::open(Arc::clone(&self.state.store)).list() {
                Ok(grants) if grants.is_empty() => "No \"always\" approvals.".to_owned(),
                Ok(grants) => grants
                    .iter()
                    .map(|g| format!("{} — {} ({})", g.id, g.function, g.scope))
                    .collect::<Vec<_>>()
                    .join("\n"),
                Err(error) => format!("Could not list grants: {error:#}"),
            },
            "/revoke" => match argument {
                None => "Usage: /revoke ID (see /grants)".to_owned(),
                Some(id) => match Grants::open(Arc::clone(&self.state.store)).revoke(id) {
                    Ok(gone) if gone.is_empty() => format!("No grant starts with {id}."),
                    Ok(gone) => format!("Revoked {} grant(s).", gone.len()),
                    Err(error) => format!("Could not revoke: {error:#}"),
                },
            },
            "/secret" => match argument {
                Some(name) if crate::secrets::check_name(name).is_ok() => {
                    self.secret_waits
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert((chat, user), name.to_owned());
                    format!("Send the value of {name} as your next message; I will delete it once stored.")
                }
                Some(name) => format!("{name:?} is not a valid secret name."),
                None => "Usage: /secret NAME".to_owned(),
            },
            other => format!("Unknown command {other}; /help lists them."),
        };
        self.say(chat, &reply).await;
    }

    async fn store_secret(&self, message: &Message, name: &str) {
        let chat = message.chat.id;
        let value = message.text.clone().unwrap_or_default();
        let stored = if value.trim().is_empty() {
            Err(anyhow::anyhow!("the value is empty"))
        } else {
            self.state.secrets.set(name, value.trim())
        };
        // The value leaves the chat history whether or not it was stored.
        let deleted = self
            .api
            .delete_message(chat, message.message_id)
            .await
            .is_ok();
        let reply = match stored {
            Ok(()) if deleted => format!("Stored {name}. I deleted your message with the value."),
            Ok(()) => format!(
                "Stored {name}. I could not delete your message: please delete it yourself."
            ),
            Err(error) => format!("Could not store {name}: {error:#}"),
        };
        self.say(chat, &reply).await;
    }

    /// Saves an uploaded document under `uploads/` in the workspace; returns the
    /// note for the agent.
    async fn save_upload(&self, document: &super::api::Document) -> Result<String> {
        if document
            .file_size
            .is_some_and(|size| size > self.upload_max)
        {
            anyhow::bail!(
                "it is larger than the upload limit ({})",
                crate::size::show_size(self.upload_max)
            );
        }
        let bytes = self
            .api
            .download(&document.file_id, self.upload_max)
            .await?;
        let name = safe_file_name(document.file_name.as_deref().unwrap_or("upload"));
        // Through the workspace type, like every other write there: no link is
        // followed, nothing but a regular file is replaced, and a name taken
        // meanwhile is never overwritten.
        let workspace = crate::workspace::Workspace::open(&self.state.workspace)?;
        let relative = save_new(&workspace, &name, &bytes)?;
        Ok(format!(
            "[The user uploaded a file; it is in the workspace at {relative} ({} bytes).]",
            bytes.len()
        ))
    }
}

use unicode_normalization::UnicodeNormalization as _;

/// Longest upload name kept, in bytes.
const MAX_UPLOAD_NAME_BYTES: usize = 200;

/// A file name with nothing that could leave `uploads/` or confuse a shell.
fn safe_file_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            let visible =
                crate::policy::fs::refused_character(c.encode_utf8(&mut [0; 4])).is_none();
            if (c.is_alphanumeric() && visible) || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // In NFC (as every workspace path is), then cut by bytes on a character
    // boundary, leaving room for a `-N` suffix under the 255-byte NAME_MAX.
    let cleaned: String = cleaned.trim_start_matches('.').nfc().collect();
    let mut end = cleaned.len().min(MAX_UPLOAD_NAME_BYTES);
    while !cleaned.is_char_boundary(end) {
        end -= 1;
    }
    let cleaned = cleaned[..end].to_owned();
    if cleaned.is_empty() {
        "upload".into()
    } else if crate::policy::fs::WorkspacePath::normalise(&cleaned).is_err() {
        // A reserved device name (`CON.txt`).
        format!("_{cleaned}")
    } else {
        cleaned
    }
}

/// Saves `bytes` as `uploads/name`, or `uploads/name-2`, … if taken; returns
/// the workspace path used.
fn save_new(workspace: &crate::workspace::Workspace, name: &str, bytes: &[u8]) -> Result<String> {
    use crate::gate::ToolError;
    use crate::policy::fs::WorkspacePath;
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem, format!(".{ext}")),
        _ => (name, String::new()),
    };
    for attempt in 1..=1000 {
        let candidate = if attempt == 1 {
            format!("uploads/{name}")
        } else {
            format!("uploads/{stem}-{attempt}{extension}")
        };
        let path = WorkspacePath::normalise(&candidate).map_err(anyhow::Error::msg)?;
        match workspace.create_new(&path, bytes, crate::tools::fs::MAX_FILE_BYTES) {
            Ok(()) => return Ok(path.as_str().to_owned()),
            // Taken (by a file, a directory, anything): try the next name.
            Err(e) if !matches!(e, ToolError::Denied { .. }) && workspace.exists(&path) => {}
            Err(e) => return Err(anyhow::anyhow!("saving {candidate}: {e}")),
        }
    }
    anyhow::bail!("no free name for the upload in uploads/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_go_through_the_workspace_checks_and_never_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("workspace");
        let workspace = crate::workspace::Workspace::open(&root).expect("workspace");
        assert_eq!(
            save_new(&workspace, "a.txt", b"one").expect("first"),
            "uploads/a.txt"
        );
        assert_eq!(
            save_new(&workspace, "a.txt", b"two").expect("second"),
            "uploads/a-2.txt"
        );
        assert_eq!(
            std::fs::read(root.join("uploads/a.txt")).expect("kept"),
            b"one"
        );
        // A name taken by a FIFO or a directory is skipped, never opened.
        let fifo = std::process::Command::new("mkfifo")
            .arg(root.join("uploads/b.txt"))
            .status()
            .expect("mkfifo");
        assert!(fifo.success());
        assert_eq!(
            save_new(&workspace, "b.txt", b"x").expect("next"),
            "uploads/b-2.txt"
        );
        // `uploads` swapped for a link out of the workspace: refused, nothing written.
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).expect("outside");
        std::fs::rename(root.join("uploads"), root.join("old")).expect("move");
        std::os::unix::fs::symlink(&outside, root.join("uploads")).expect("link");
        assert!(save_new(&workspace, "c.txt", b"x").is_err());
        assert_eq!(std::fs::read_dir(&outside).expect("outside").count(), 0);
    }

    #[test]
    fn upload_names_stay_inside() {
        assert_eq!(safe_file_name("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(safe_file_name(".bashrc"), "bashrc");
        assert_eq!(safe_file_name("report 2026.pdf"), "report_2026.pdf");
        assert_eq!(safe_file_name(""), "upload");
        assert_eq!(safe_file_name("..."), "upload");
        assert_eq!(safe_file_name("CON.txt"), "_CON.txt");
        assert_eq!(safe_file_name("a\u{3164}\u{200b}b.txt"), "a__b.txt");
        let long = safe_file_name(&"日".repeat(150));
        assert!(long.len() <= MAX_UPLOAD_NAME_BYTES && long.chars().all(|c| c == '日'));
    }
}
