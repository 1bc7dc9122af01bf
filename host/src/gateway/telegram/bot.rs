//! The Telegram front end: long polling, access control on every message and
//! every button press, commands, uploads, and one agent turn per message with a
//! typing indicator and a status message edited through the phases.
//!
//! Threat model for polling: a `getUpdates` batch is decoded one update at a
//! time, so one malformed update (from a buggy or hostile server, or a new
//! Telegram field) is logged without its content and skipped, and the offset
//! moves past it; it never makes the batch unreadable or stalls the bot. Each
//! update id is claimed in the database before the update is acted on, so an
//! update delivered again (a lost confirmation, a restart) is not answered
//! twice. Everything sent goes through [`Delivery`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Result;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::api::{ApiError, BotApi, Message, Update};
use super::format::reply_chunks;
use crate::agent::turn::{AnnouncingApprover, Phase, Progress, TurnRequest, Turns};
use crate::gate::grants::Grants;
use crate::gateway::approver::{ChatApprover, PendingApprovals};
use crate::gateway::config::Access;
use crate::gateway::delivery::{Delivery, RetryPolicy, retry};
use crate::state::HostState;
use crate::store::telegram::{HandledUpdates, LiveTurns};

/// What a chat is told about a turn that a stop (a crash, a kill) cut short.
const INTERRUPTED: &str = "I was stopped while working on your last message and could not \
    finish it. Please send it again if you still need it.";

/// How long one getUpdates call waits for news.
const POLL_SECONDS: u64 = 25;

/// Everything the bot needs.
pub struct Bot {
    pub api: BotApi,
    /// Every send, edit and delete goes through here.
    pub delivery: Delivery,
    /// Update ids already handled (persisted).
    handled: HandledUpdates,
    /// Whether `sendMessageDraft` works ([`DRAFTS_UNKNOWN`] until tried).
    drafts: Arc<AtomicU8>,
    /// The next draft id (non-zero).
    next_draft: AtomicI64,
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

/// The phases of a turn, for the status message.
#[derive(Debug)]
struct StatusPhases(tokio::sync::watch::Sender<Showing>);

impl Progress for StatusPhases {
    fn phase(&self, phase: Phase) {
        self.0.send_replace(Showing {
            phase: format!("… {phase}"),
            reply: String::new(),
        });
    }

    fn answer_so_far(&self, text: &str) {
        self.0
            .send_modify(|showing| text.clone_into(&mut showing.reply));
    }
}

/// What a turn shows while it runs: its phase, or the reply as it forms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Showing {
    phase: String,
    /// The reply so far (empty: none yet).
    reply: String,
}

impl Showing {
    fn thinking() -> Self {
        Self {
            phase: "… thinking".to_owned(),
            reply: String::new(),
        }
    }
}

/// Whether Telegram takes `sendMessageDraft` from this bot (unknown until tried).
const DRAFTS_UNKNOWN: u8 = 0;
const DRAFTS_YES: u8 = 1;
const DRAFTS_NO: u8 = 2;

/// A draft is a 30-second preview: shown again this often while the turn runs.
const DRAFT_REFRESH: Duration = Duration::from_secs(20);

/// A reply forming in a draft is sent again at most this often (the latest
/// text each time), which keeps a fast model's stream within Telegram's rate.
const DRAFT_STREAM_EVERY: Duration = Duration::from_millis(300);

/// Sends `showing` as the chat's draft: the reply so far (its first message's
/// worth, formatted as the answer will be; plain if Telegram refuses the
/// formatting), else the phase. Best effort: a draft is ephemeral, and the
/// answer replaces it.
async fn send_draft(api: &BotApi, chat: i64, draft_id: i64, showing: &Showing) {
    if showing.reply.trim().is_empty() {
        let _ = api
            .send_message_draft(chat, draft_id, &showing.phase, false)
            .await;
        return;
    }
    let Some(piece) = reply_chunks(&showing.reply).into_iter().next() else {
        return;
    };
    if let Err(ApiError::Entities { .. }) = api
        .send_message_draft(chat, draft_id, &piece.markdown, true)
        .await
    {
        let _ = api
            .send_message_draft(chat, draft_id, &piece.plain, false)
            .await;
    }
}

/// Shows the phases until `done`: in a private chat as a message draft
/// (`sendMessageDraft`, replaced by the answer, nothing to clean up), else —
/// or if Telegram does not take drafts — as a status message, edited through
/// the phases. Returns the status message's id, to delete behind the answer.
async fn show_phases(
    delivery: Delivery,
    chat: i64,
    mut phases: tokio::sync::watch::Receiver<Showing>,
    done: CancellationToken,
    drafts: Arc<AtomicU8>,
    draft_id: i64,
    turn: Option<(LiveTurns, i64)>,
) -> Option<i64> {
    let api = delivery.api().clone();
    // Drafts exist only in private chats (positive ids).
    if chat > 0 && drafts.load(Ordering::Relaxed) != DRAFTS_NO {
        match api
            .send_message_draft(chat, draft_id, &Showing::thinking().phase, false)
            .await
        {
            Ok(()) => {
                drafts.store(DRAFTS_YES, Ordering::Relaxed);
                let mut showing = Showing::thinking();
                let mut sent = tokio::time::Instant::now();
                loop {
                    tokio::select! {
                        biased;
                        () = done.cancelled() => return None,
                        changed = phases.changed() => {
                            if changed.is_err() {
                                return None;
                            }
                            showing = phases.borrow_and_update().clone();
                        }
                        () = tokio::time::sleep(DRAFT_REFRESH) => {}
                    }
                    if !showing.reply.is_empty() {
                        // A forming reply: wait out the rest of the interval,
                        // then send the latest text.
                        tokio::select! {
                            biased;
                            () = done.cancelled() => return None,
                            () = tokio::time::sleep_until(sent + DRAFT_STREAM_EVERY) => {}
                        }
                        showing = phases.borrow_and_update().clone();
                    }
                    send_draft(&api, chat, draft_id, &showing).await;
                    sent = tokio::time::Instant::now();
                }
            }
            // A refusal (no such method, not for this bot) holds for the process;
            // a passing failure only for this turn.
            Err(error) if error.is_transient() => {
                crate::gateway_log!("no message draft this time ({error})");
            }
            Err(error) => {
                if drafts.swap(DRAFTS_NO, Ordering::Relaxed) != DRAFTS_NO {
                    crate::gateway_log!(
                        "message drafts unavailable ({error}); using status messages"
                    );
                }
            }
        }
    }
    // Not retried when the outcome is unknown: a second status message that
    // might exist could never be named, so never deleted.
    let policy = delivery.policy().short().certain_only();
    let id = match retry(policy, || api.send_message(chat, "… thinking", false, None)).await {
        Ok(message) => message.message_id,
        Err(error) => {
            crate::gateway_log!("no status message in chat {chat}: {error}");
            return None;
        }
    };
    // Named with the turn, so a stop that cuts the turn short cannot leave it behind.
    if let Some((live, turn)) = &turn
        && let Err(error) = live.status(*turn, id)
    {
        crate::gateway_log!("recording the status message: {error:#}");
    }
    let mut edited = Showing::thinking().phase;
    loop {
        tokio::select! {
            biased;
            () = done.cancelled() => return Some(id),
            changed = phases.changed() => {
                if changed.is_err() {
                    return Some(id);
                }
                // A status message shows the phases only: edits are too
                // heavy to stream a reply through.
                let text = phases.borrow_and_update().phase.clone();
                if text == edited {
                    continue;
                }
                edited.clone_from(&text);
                if let Err(error) = delivery.edit(chat, id, &text).await {
                    crate::gateway_log!("could not update the status message: {error}");
                }
            }
        }
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
        let delivery = Delivery::new(api.clone(), Arc::clone(&state.store));
        let handled = HandledUpdates::new(Arc::clone(&state.store), api.bot_id());
        Self {
            api,
            delivery,
            handled,
            drafts: Arc::new(AtomicU8::new(DRAFTS_UNKNOWN)),
            next_draft: AtomicI64::new(1 + (crate::store::now_ms() % 1_000_000_000) as i64),
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

    /// The same bot with another retry policy for what it sends.
    #[must_use]
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.delivery = self.delivery.with_policy(policy);
        self
    }

    /// Polls until `stop`; a failing poll is retried with backoff, never fatal.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        // Past the newest update handled before (a restart); Telegram resends
        // anything unconfirmed after it.
        let mut offset = match self.handled.next_offset() {
            Ok(offset) => offset.unwrap_or(0),
            Err(error) => {
                crate::gateway_log!("reading the handled updates: {error:#}");
                0
            }
        };
        if let Err(error) = self.handled.prune() {
            crate::gateway_log!("pruning the handled updates: {error:#}");
        }
        self.recover_unfinished_turns();
        let mut backoff = Duration::from_millis(500);
        loop {
            let asked = std::time::Instant::now();
            let polled = tokio::select! {
                () = stop.cancelled() => return,
                polled = self.api.get_updates(offset, POLL_SECONDS) => polled,
            };
            let polled = match polled {
                Ok(polled) => polled,
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
                    continue;
                }
            };
            backoff = Duration::from_millis(500);
            for skipped in &polled.skipped {
                crate::gateway_log!("skipped an unreadable {skipped}");
            }
            let empty = polled.updates.is_empty() && polled.skipped.is_empty();
            let mut confirmed = polled.next_offset;
            for update in polled.updates {
                let id = update.update_id;
                match self.handled.claim(id) {
                    Ok(true) => Arc::clone(&self).handle(update).await,
                    Ok(false) => {
                        crate::gateway_log!("update {id} was handled before; skipped")
                    }
                    Err(error) => {
                        // Not claimed, so not handled: fetch it again after a pause.
                        crate::gateway_log!(
                            "could not record update {id} ({error:#}); retrying in {}",
                            crate::size::show_duration(backoff)
                        );
                        confirmed = Some(id);
                        tokio::time::sleep(backoff).await;
                        break;
                    }
                }
            }
            if let Some(next) = confirmed {
                offset = offset.max(next);
            }
            // A server that answers an empty poll at once (no long polling) is
            // not asked again in a tight loop.
            if empty && asked.elapsed() < Duration::from_millis(200) {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        }
    }

    /// Turns the last stop cut short: each chat is told, and the status message
    /// goes (both through the outbox, so also if Telegram is down now).
    fn recover_unfinished_turns(&self) {
        let piece = reply_chunks(INTERRUPTED)
            .into_iter()
            .next()
            .expect("one piece");
        match self
            .delivery
            .outbox()
            .recover_unfinished(&(piece.markdown, piece.plain))
        {
            Ok(0) => {}
            Ok(n) => {
                crate::gateway_log!(
                    "{n} turn(s) were cut short by the last stop; told their chats"
                );
                let delivery = self.delivery.clone();
                self.in_flight
                    .spawn(async move { delivery.flush_all().await });
            }
            Err(error) => crate::gateway_log!("recovering unfinished turns: {error:#}"),
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
            // Answered in order (with short retries: a press wants its answer now).
            if let Err(error) = self.delivery.answer_callback(&query.id, &text).await {
                crate::gateway_log!("could not answer a button press: {error}");
            }
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
            let delivery = self.delivery.clone();
            self.in_flight.spawn(async move {
                if let Err(error) = delivery
                    .send_now(chat, "Sorry, this bot is private.", None)
                    .await
                {
                    crate::gateway_log!("could not refuse a stranger: {error}");
                }
            });
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

    /// Queues a reply and delivers it in the background (the poll loop goes on).
    async fn say(&self, chat: i64, text: &str) {
        if let Err(error) = self.delivery.enqueue(chat, text, None, None) {
            crate::gateway_log!("could not keep a reply for chat {chat}: {error:#}");
            return;
        }
        let delivery = self.delivery.clone();
        self.in_flight
            .spawn(async move { delivery.flush(chat).await });
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
        // Marked as under way, so a stop that cuts it short is reported at the next start.
        let live = LiveTurns::new(Arc::clone(&self.state.store));
        let turn = match live.begin(chat) {
            Ok(turn) => Some(turn),
            Err(error) => {
                crate::gateway_log!("recording a turn: {error:#}");
                None
            }
        };
        // The phases show (a draft or a status message) while the turn already runs.
        let (phases, phases_seen) = tokio::sync::watch::channel(Showing::thinking());
        let status_done = CancellationToken::new();
        let status = tokio::spawn(show_phases(
            self.delivery.clone(),
            chat,
            phases_seen,
            status_done.clone(),
            Arc::clone(&self.drafts),
            self.next_draft.fetch_add(1, Ordering::Relaxed),
            turn.map(|turn| (live, turn)),
        ));
        let progress: Arc<dyn Progress> = Arc::new(StatusPhases(phases));
        let approver = Arc::new(AnnouncingApprover {
            inner: Arc::new(ChatApprover {
                delivery: self.delivery.clone(),
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
        // The answer follows the status message, whose deletion is queued with
        // it: both wait in the outbox if Telegram does not take them now.
        // Phases stop before the answer goes, so no draft or edit lands after it.
        status_done.cancel();
        let status = status.await.ok().flatten();
        self.delivery.answer_turn(chat, &text, status, turn).await;
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
        let deleted = retry(self.delivery.policy().short(), || {
            self.api.delete_message(chat, message.message_id)
        })
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
            if (c.is_alphanumeric() && !crate::unicode::is_refused_in_names(c))
                || matches!(c, '.' | '-' | '_')
            {
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
