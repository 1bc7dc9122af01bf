//! A fault-injecting HTTP proxy on 127.0.0.1, in front of a Bot API (the
//! telegram-test-api emulator): it forwards each request, or fails it the way
//! Telegram and networks fail — an error status without acting, an error status
//! *after* the upstream acted (delivered, but the bot cannot know), a dropped
//! connection, refused connections while "down" — and can add updates to a
//! `getUpdates` answer (malformed ones, or a batch delivered again).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// What the proxy does to a request a rule matches.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer `status` with `body`, without forwarding (Telegram did not act).
    Answer { status: u16, body: String },
    /// Forward (the upstream acts), then answer `status` instead of its answer.
    ForwardThenAnswer { status: u16, body: String },
    /// Close the connection without an answer, without forwarding.
    Drop,
    /// Forward, then close the connection without an answer.
    ForwardThenDrop,
}

impl Fault {
    pub fn server_error(status: u16) -> Self {
        Self::Answer {
            status,
            body:
                json!({"ok": false, "error_code": status, "description": "Internal Server Error"})
                    .to_string(),
        }
    }

    pub fn rate_limited(seconds: u64) -> Self {
        Self::Answer {
            status: 429,
            body: json!({"ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {seconds}"),
                "parameters": {"retry_after": seconds}})
            .to_string(),
        }
    }

    pub fn cant_parse_entities() -> Self {
        Self::Answer {
            status: 400,
            body: json!({"ok": false, "error_code": 400,
                "description": "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"})
            .to_string(),
        }
    }

    pub fn delivered_then(status: u16) -> Self {
        Self::ForwardThenAnswer {
            status,
            body: json!({"ok": false, "error_code": status, "description": "Bad Gateway"})
                .to_string(),
        }
    }
}

/// When a fault applies.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The Bot API method (`sendMessage`, …).
    pub method: String,
    /// Only requests whose body contains this.
    pub body_contains: Option<String>,
    /// Only requests whose body has `"parse_mode": "MarkdownV2"` (or not).
    pub markdown: Option<bool>,
    /// How many more requests it applies to (`None`: until `until`).
    pub times: Option<usize>,
    /// Applies until then (`None`: no time limit).
    pub until: Option<Instant>,
    pub fault: Fault,
}

impl Rule {
    pub fn new(method: &str, fault: Fault) -> Self {
        Self {
            method: method.to_owned(),
            body_contains: None,
            markdown: None,
            times: None,
            until: None,
            fault,
        }
    }

    pub fn containing(mut self, needle: &str) -> Self {
        self.body_contains = Some(needle.to_owned());
        self
    }

    pub fn markdown(mut self, markdown: bool) -> Self {
        self.markdown = Some(markdown);
        self
    }

    pub fn times(mut self, n: usize) -> Self {
        self.times = Some(n);
        self
    }

    pub fn for_duration(mut self, d: Duration) -> Self {
        self.until = Some(Instant::now() + d);
        self
    }
}

/// One request as it passed the proxy.
#[derive(Debug, Clone)]
pub struct Passed {
    pub method: String,
    pub body: Value,
    /// What the bot got back (0: the connection was dropped).
    pub status: u16,
    pub at: Instant,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// Added to the next non-empty-or-not getUpdates answer.
    inject: Vec<Value>,
    /// The last getUpdates batch that had updates.
    last_batch: Vec<Value>,
    /// Send `last_batch` again with the next getUpdates answer.
    replay: bool,
    passed: Vec<Passed>,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    down: Arc<AtomicBool>,
}

impl FaultProxy {
    /// A proxy to `upstream` (`127.0.0.1:port`).
    pub fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let addr = listener.local_addr().expect("address");
        let state = Arc::new(Mutex::new(State::default()));
        let down = Arc::new(AtomicBool::new(false));
        {
            let (state, down) = (Arc::clone(&state), Arc::clone(&down));
            thread::spawn(move || accept_loop(listener, addr, upstream, &state, &down));
        }
        Self { addr, state, down }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add(&self, rule: Rule) {
        self.state.lock().expect("lock").rules.push(rule);
    }

    pub fn clear(&self) {
        self.state.lock().expect("lock").rules.clear();
    }

    /// Refuses every connection (the port stops listening) until [`up`](Self::up).
    pub fn down(&self) {
        self.down.store(true, Ordering::SeqCst);
    }

    pub fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// Adds `update` to the next getUpdates answer.
    pub fn inject_update(&self, update: Value) {
        self.state.lock().expect("lock").inject.push(update);
    }

    /// Delivers the last batch of updates again, with the next getUpdates answer.
    pub fn replay_last_batch(&self) {
        self.state.lock().expect("lock").replay = true;
    }

    /// The last batch of updates the bot was given.
    pub fn last_batch(&self) -> Vec<Value> {
        self.state.lock().expect("lock").last_batch.clone()
    }

    pub fn passed(&self, method: &str) -> Vec<Passed> {
        self.state
            .lock()
            .expect("lock")
            .passed
            .iter()
            .filter(|p| p.method == method)
            .cloned()
            .collect()
    }
}

fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    state: &Arc<Mutex<State>>,
    down: &Arc<AtomicBool>,
) {
    let mut listener = Some(listener);
    loop {
        if down.load(Ordering::SeqCst) {
            // Closed: connections are refused, as when Telegram is unreachable.
            listener = None;
            thread::sleep(Duration::from_millis(5));
            continue;
        }
        let active = match &listener {
            Some(l) => l,
            None => match TcpListener::bind(addr) {
                Ok(l) => listener.insert(l),
                Err(_) => {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                }
            },
        };
        active.set_nonblocking(true).expect("nonblocking");
        match active.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let state = Arc::clone(state);
                thread::spawn(move || serve(stream, upstream, &state));
            }
            Err(_) => thread::sleep(Duration::from_millis(2)),
        }
    }
}

struct Request {
    path: String,
    body: Vec<u8>,
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { path, body })
}

/// Forwards to the upstream; returns its status and body.
fn forward(upstream: SocketAddr, request: &Request) -> Option<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(upstream).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: {upstream}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        request.path,
        request.body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(&request.body).ok()?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok()?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut body = answer[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Some((status, body))
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&body[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = end + 2;
        out.extend_from_slice(&body[start..(start + size).min(body.len())]);
        body = &body[(start + size + 2).min(body.len())..];
    }
    out
}

fn respond(mut stream: TcpStream, status: u16, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn serve(stream: TcpStream, upstream: SocketAddr, state: &Mutex<State>) {
    let Some(request) = read_request(&stream) else {
        return;
    };
    let method = request
        .path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let text = String::from_utf8_lossy(&request.body).into_owned();
    let record = |status: u16| {
        state.lock().expect("lock").passed.push(Passed {
            method: method.clone(),
            body: body.clone(),
            status,
            at: Instant::now(),
        });
    };
    // The emulator has no sendChatAction: answer it here.
    if method == "sendChatAction" {
        record(200);
        return respond(stream, 200, br#"{"ok":true,"result":true}"#);
    }
    let fault = {
        let mut state = state.lock().expect("lock");
        let now = Instant::now();
        state
            .rules
            .retain(|r| r.times != Some(0) && r.until.is_none_or(|u| u > now));
        let is_markdown = body["parse_mode"] == "MarkdownV2";
        state
            .rules
            .iter_mut()
            .find(|r| {
                r.method == method
                    && r.body_contains
                        .as_ref()
                        .is_none_or(|n| text.contains(n.as_str()))
                    && r.markdown.is_none_or(|m| m == is_markdown)
            })
            .map(|rule| {
                if let Some(times) = &mut rule.times {
                    *times -= 1;
                }
                rule.fault.clone()
            })
    };
    match fault {
        Some(Fault::Answer { status, body }) => {
            record(status);
            respond(stream, status, body.as_bytes());
        }
        Some(Fault::Drop) => record(0),
        Some(Fault::ForwardThenAnswer { status, body }) => {
            let _ = forward(upstream, &request);
            record(status);
            respond(stream, status, body.as_bytes());
        }
        Some(Fault::ForwardThenDrop) => {
            let _ = forward(upstream, &request);
            record(0);
        }
        None => {
            let Some((status, mut answer)) = forward(upstream, &request) else {
                record(0);
                return;
            };
            if method == "getUpdates" && status == 200 {
                answer = edit_updates(state, &answer);
            }
            record(status);
            respond(stream, status, &answer);
        }
    }
}

/// Adds injected and replayed updates to a getUpdates answer.
fn edit_updates(state: &Mutex<State>, answer: &[u8]) -> Vec<u8> {
    let Ok(mut envelope) = serde_json::from_slice::<Value>(answer) else {
        return answer.to_vec();
    };
    let mut state = state.lock().expect("lock");
    let mut updates: Vec<Value> = envelope["result"].as_array().cloned().unwrap_or_default();
    if state.replay {
        state.replay = false;
        let mut again = state.last_batch.clone();
        again.extend(updates);
        updates = again;
    }
    updates.append(&mut state.inject);
    if !updates.is_empty() {
        state.last_batch = updates.clone();
    }
    envelope["result"] = Value::Array(updates);
    envelope.to_string().into_bytes()
}

/// A blocking JSON POST to `addr` (for driving the emulator's client API).
pub fn post_json(addr: SocketAddr, path: &str, body: &Value) -> Value {
    let request = Request {
        path: path.to_owned(),
        body: body.to_string().into_bytes(),
    };
    let (status, answer) = forward(addr, &request).expect("the emulator answers");
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&answer));
    serde_json::from_slice(&answer).expect("JSON")
}
