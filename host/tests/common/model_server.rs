//! A scripted LLM endpoint on 127.0.0.1, speaking OpenAI's chat completions
//! (`POST /v1/chat/completions`) and Anthropic's Messages (`POST /v1/messages`)
//! wire formats. Each request is sorted by what it asks (selector, generator,
//! analyst, facts, compaction) and answered from that kind's queue, so a test
//! scripts each role without depending on the order the roles interleave.
//! An unscripted request gets HTTP 418, which no provider retries.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::http_server::{Reply, Seen, Server};

/// What a request asks for, told apart by its prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Selector,
    Generator,
    Analyst,
    Facts,
    Compaction,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    Text(String),
    /// An HTTP error status with a Retry-After of 0 seconds.
    Status(u16),
    /// Never answer.
    Hang,
}

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Asked {
    pub role: Role,
    pub path: String,
    /// Every message's text, system prompt first.
    pub prompt: String,
    pub body: Value,
}

#[derive(Default)]
struct Script {
    queues: HashMap<Role, VecDeque<Answer>>,
    asked: Vec<Asked>,
    /// The pause between the pieces of a streamed answer.
    stream_gap: Duration,
}

pub struct ModelServer {
    server: Server,
    script: Arc<Mutex<Script>>,
}

fn role_of(prompt: &str) -> Role {
    if prompt.contains("Decide how to handle the user's message") {
        Role::Selector
    } else if prompt.contains("You check whether a script's result") {
        Role::Analyst
    } else if prompt.contains("list NEW durable facts") {
        Role::Facts
    } else if prompt.contains("Summarise this conversation") {
        Role::Compaction
    } else {
        Role::Generator
    }
}

fn prompt_of(body: &Value) -> String {
    let mut out = String::new();
    if let Some(system) = body.get("system").and_then(Value::as_str) {
        out.push_str(system);
        out.push('\n');
    }
    for message in body["messages"].as_array().into_iter().flatten() {
        match &message["content"] {
            Value::String(text) => out.push_str(text),
            Value::Array(parts) => {
                for part in parts {
                    out.push_str(part["text"].as_str().unwrap_or_default());
                }
            }
            _ => {}
        }
        out.push('\n');
    }
    out
}

/// A streamed answer (`"stream": true`): the text in pieces of a few
/// characters, each its own server-sent event, in the protocol's own events.
fn respond_streaming(seen: &Seen, text: &str, gap: Duration) -> Reply {
    let chars: Vec<char> = text.chars().collect();
    let words: Vec<String> = chars.chunks(6).map(|c| c.iter().collect()).collect();
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut pieces: Vec<String> = Vec::new();
    if seen.path.ends_with("/messages") {
        pieces.push(event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "model": "scripted",
                   "content": [], "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ));
        for word in &words {
            pieces.push(event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": word}}),
            ));
        }
        pieces.push(event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 5}}),
        ));
        pieces.push(event("message_stop", json!({"type": "message_stop"})));
    } else {
        for word in &words {
            pieces.push(format!(
                "data: {}\n\n",
                json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "scripted",
                       "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": null}]})
            ));
        }
        pieces.push("data: [DONE]\n\n".to_owned());
    }
    Reply::Stream {
        status: 200,
        headers: vec![("content-type".into(), "text/event-stream".into())],
        pieces: pieces.into_iter().map(String::into_bytes).collect(),
        gap,
        cut: false,
    }
}

fn respond(seen: &Seen, text: &str) -> Reply {
    let body = if seen.path.ends_with("/messages") {
        json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "scripted",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 10, "output_tokens": 5}
        })
    } else {
        json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "scripted",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        })
    };
    Reply::text(200, "application/json", body.to_string())
}

impl ModelServer {
    pub fn start() -> Self {
        let script = Arc::new(Mutex::new(Script::default()));
        let shared = Arc::clone(&script);
        let server = Server::start("127.0.0.1", 0, move |seen: &Seen| {
            let body: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
            let prompt = prompt_of(&body);
            let role = role_of(&prompt);
            let streaming = body["stream"] == json!(true);
            let (answer, gap) = {
                let mut script = shared.lock().expect("lock");
                let gap = script.stream_gap;
                script.asked.push(Asked {
                    role,
                    path: seen.path.clone(),
                    prompt,
                    body,
                });
                (
                    script.queues.get_mut(&role).and_then(VecDeque::pop_front),
                    gap,
                )
            };
            match answer {
                Some(Answer::Text(text)) if streaming => respond_streaming(seen, &text, gap),
                Some(Answer::Text(text)) => respond(seen, &text),
                Some(Answer::Status(status)) => Reply::Respond {
                    status,
                    headers: vec![
                        ("content-type".into(), "application/json".into()),
                        ("retry-after".into(), "0".into()),
                    ],
                    body: br#"{"error":{"message":"scripted failure"}}"#.to_vec(),
                },
                Some(Answer::Hang) => {
                    std::thread::sleep(Duration::from_secs(30));
                    Reply::text(500, "text/plain", "late")
                }
                None => Reply::text(
                    418,
                    "application/json",
                    format!(r#"{{"error":{{"message":"unscripted {role:?} request"}}}}"#),
                ),
            }
        });
        Self { server, script }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// Streamed answers pause this long between pieces (none by default).
    pub fn stream_gap(&self, gap: Duration) -> &Self {
        self.script.lock().expect("lock").stream_gap = gap;
        self
    }

    /// Queues `answer` for the next request of `role`.
    pub fn push(&self, role: Role, answer: Answer) -> &Self {
        self.script
            .lock()
            .expect("lock")
            .queues
            .entry(role)
            .or_default()
            .push_back(answer);
        self
    }

    pub fn text(&self, role: Role, text: impl Into<String>) -> &Self {
        self.push(role, Answer::Text(text.into()))
    }

    pub fn json(&self, role: Role, value: Value) -> &Self {
        self.text(role, value.to_string())
    }

    /// Every request so far.
    pub fn asked(&self) -> Vec<Asked> {
        self.script.lock().expect("lock").asked.clone()
    }

    pub fn count(&self) -> usize {
        self.script.lock().expect("lock").asked.len()
    }

    pub fn count_of(&self, role: Role) -> usize {
        self.asked().iter().filter(|a| a.role == role).count()
    }

    /// Answers still queued (a test that scripted more than was asked is wrong).
    pub fn unused(&self) -> usize {
        self.script
            .lock()
            .expect("lock")
            .queues
            .values()
            .map(VecDeque::len)
            .sum()
    }
}
