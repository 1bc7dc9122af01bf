//! A fake Telegram Bot API on 127.0.0.1: getUpdates from a queue the test fills,
//! and a record of every other method called (sendMessage, editMessageText,
//! deleteMessage, answerCallbackQuery, sendChatAction, getFile and the file
//! download), answered the way Telegram answers.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::http_server::{Reply, Seen, Server};

pub const TOKEN: &str = "123456:TEST-token-value";

#[derive(Default)]
struct State {
    updates: VecDeque<Value>,
    next_update: i64,
    next_message: i64,
    calls: Vec<(String, Value)>,
    /// When each call arrived (parallel to `calls`).
    call_times: Vec<Instant>,
    /// When each update was first handed out by getUpdates.
    handed: HashMap<i64, Instant>,
    /// MarkdownV2 messages containing this are refused ("can't parse entities").
    refuse_markdown_with: Option<String>,
    files: HashMap<String, Vec<u8>>,
    /// Whether sendMessageDraft exists (Bot API 9.3+); otherwise it is a 404.
    drafts: bool,
}

pub struct FakeTelegram {
    server: Server,
    state: Arc<Mutex<State>>,
}

fn ok(result: Value) -> Reply {
    Reply::text(
        200,
        "application/json",
        json!({"ok": true, "result": result}).to_string(),
    )
}

impl FakeTelegram {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            next_update: 1,
            next_message: 1000,
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let server = Server::start("127.0.0.1", 0, move |seen: &Seen| handle(&shared, seen));
        Self { server, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    fn push(&self, update: Value) {
        let mut state = self.state.lock().expect("lock");
        let id = state.next_update;
        state.next_update += 1;
        let mut update = update;
        update["update_id"] = json!(id);
        state.updates.push_back(update);
    }

    pub fn message(&self, chat: i64, user: i64, username: &str, text: &str) {
        self.push(json!({"message": {
            "message_id": 1, "date": 0, "chat": {"id": chat, "type": "private"},
            "from": {"id": user, "is_bot": false, "first_name": username, "username": username},
            "text": text
        }}));
    }

    pub fn document(&self, chat: i64, user: i64, name: &str, bytes: &[u8], caption: &str) {
        let file_id = format!("file-{}", self.state.lock().expect("lock").files.len());
        self.state
            .lock()
            .expect("lock")
            .files
            .insert(file_id.clone(), bytes.to_vec());
        self.push(json!({"message": {
            "message_id": 2, "date": 0, "chat": {"id": chat, "type": "private"},
            "from": {"id": user, "is_bot": false, "first_name": "u", "username": "u"},
            "caption": caption,
            "document": {"file_id": file_id, "file_unique_id": "u", "file_name": name, "file_size": bytes.len()}
        }}));
    }

    pub fn press(&self, chat: i64, user: i64, username: &str, data: &str) {
        self.push(json!({"callback_query": {
            "id": format!("cb-{user}-{data}"),
            "from": {"id": user, "is_bot": false, "first_name": username, "username": username},
            "chat_instance": "x",
            "message": {"message_id": 5, "date": 0, "chat": {"id": chat, "type": "private"}},
            "data": data
        }}));
    }

    /// Takes sendMessageDraft, as Telegram does for bots that may stream.
    pub fn accept_drafts(&self) {
        self.state.lock().expect("lock").drafts = true;
    }

    pub fn refuse_markdown_with(&self, needle: &str) {
        self.state.lock().expect("lock").refuse_markdown_with = Some(needle.into());
    }

    /// Bodies of the calls to `method`, in order.
    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.state
            .lock()
            .expect("lock")
            .calls
            .iter()
            .filter(|(m, _)| m == method)
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// Bodies of the calls to `method`, with when each arrived.
    pub fn calls_at(&self, method: &str) -> Vec<(Value, Instant)> {
        let state = self.state.lock().expect("lock");
        state
            .calls
            .iter()
            .zip(&state.call_times)
            .filter(|((m, _), _)| m == method)
            .map(|((_, body), at)| (body.clone(), *at))
            .collect()
    }

    /// When getUpdates first handed out update `id`.
    pub fn handed_at(&self, id: i64) -> Option<Instant> {
        self.state.lock().expect("lock").handed.get(&id).copied()
    }

    /// The id the next pushed update gets.
    pub fn next_update_id(&self) -> i64 {
        self.state.lock().expect("lock").next_update
    }

    /// Waits until `check` holds (or panics after `timeout`).
    pub fn wait_until(&self, what: &str, timeout: Duration, check: impl Fn(&Self) -> bool) {
        let started = Instant::now();
        while !check(self) {
            assert!(started.elapsed() < timeout, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The sent and edited messages that would let Telegram fetch a link
    /// preview (a request outside the gate): each must carry
    /// `link_preview_options.is_disabled = true`.
    pub fn messages_allowing_link_previews(&self) -> Vec<Value> {
        let mut messages = self.calls("sendMessage");
        messages.extend(self.calls("editMessageText"));
        messages
            .into_iter()
            .filter(|b| b["link_preview_options"]["is_disabled"] != json!(true))
            .collect()
    }

    /// The texts sent to `chat` with sendMessage.
    pub fn texts_to(&self, chat: i64) -> Vec<String> {
        self.calls("sendMessage")
            .into_iter()
            .filter(|b| b["chat_id"] == json!(chat))
            .map(|b| b["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn handle(state: &Mutex<State>, seen: &Seen) -> Reply {
    if let Some(path) = seen
        .path
        .strip_prefix(&format!("/file/bot{TOKEN}/documents/"))
    {
        return match state.lock().expect("lock").files.get(path) {
            Some(bytes) => Reply::Respond {
                status: 200,
                headers: vec![("content-type".into(), "application/octet-stream".into())],
                body: bytes.clone(),
            },
            None => Reply::text(404, "text/plain", "no such file"),
        };
    }
    let Some(method) = seen.path.strip_prefix(&format!("/bot{TOKEN}/")) else {
        return Reply::text(
            401,
            "application/json",
            r#"{"ok":false,"description":"Unauthorized"}"#,
        );
    };
    let body: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
    if method == "getUpdates" {
        let offset = body["offset"].as_i64().unwrap_or(0);
        let updates: Vec<Value> = {
            let mut state = state.lock().expect("lock");
            state
                .updates
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            let now = Instant::now();
            let ids: Vec<i64> = state
                .updates
                .iter()
                .filter_map(|u| u["update_id"].as_i64())
                .collect();
            for id in ids {
                state.handed.entry(id).or_insert(now);
            }
            state.updates.iter().cloned().collect()
        };
        if updates.is_empty() {
            // A short long-poll, so tests stay quick.
            std::thread::sleep(Duration::from_millis(30));
        }
        return ok(Value::Array(updates));
    }
    let mut state = state.lock().expect("lock");
    state.calls.push((method.to_owned(), body.clone()));
    state.call_times.push(Instant::now());
    match method {
        "sendMessage" => {
            if body["parse_mode"] == "MarkdownV2"
                && let Some(needle) = &state.refuse_markdown_with
                && body["text"]
                    .as_str()
                    .unwrap_or_default()
                    .contains(needle.as_str())
            {
                return Reply::text(
                    400,
                    "application/json",
                    r#"{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities"}"#,
                );
            }
            state.next_message += 1;
            ok(json!({"message_id": state.next_message, "date": 0,
                      "chat": {"id": body["chat_id"], "type": "private"}, "text": body["text"]}))
        }
        "getFile" => ok(json!({"file_id": body["file_id"], "file_unique_id": "u",
                               "file_path": format!("documents/{}", body["file_id"].as_str().unwrap_or_default())})),
        "editMessageText" | "deleteMessage" | "answerCallbackQuery" | "sendChatAction" => {
            ok(json!(true))
        }
        "sendMessageDraft" if state.drafts => ok(json!(true)),
        other => Reply::text(
            404,
            "application/json",
            format!(r#"{{"ok":false,"description":"Not Found: method {other}"}}"#),
        ),
    }
}
