//! Every outbound HTTP client — the http host interface, the model providers,
//! the Telegram Bot API client and onboard's Ollama probe — against real
//! servers on 127.0.0.1: none follows a redirect, none goes through a proxy
//! named in the environment, each caps what it reads, and the bot token never
//! shows in an error.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clambot::agent::provider::{
    self, ApiKey, CompletionRequest, Kind, Message, ProviderConfig, ProviderError, RetryPolicy,
};
use clambot::gateway::telegram::api::{ApiError, BotApi};
use common::http_server::{Reply, Server};
use common::world::World;

const TOKEN: &str = "123456:SECRET-bot-token-abcdef";

/// Answers every path with a redirect to `/elsewhere`, and `/elsewhere` with 200.
fn redirecting() -> Server {
    Server::start("127.0.0.1", 0, |seen| {
        if seen.path.ends_with("/elsewhere") {
            Reply::text(200, "application/json", r#"{"ok":true,"result":{}}"#)
        } else {
            Reply::Respond {
                status: 302,
                headers: vec![("location".into(), "/elsewhere".into())],
                body: Vec::new(),
            }
        }
    })
}

fn followed(server: &Server) -> bool {
    server.seen().iter().any(|s| s.path.ends_with("/elsewhere"))
}

fn provider_config(base_url: String) -> ProviderConfig {
    ProviderConfig {
        kind: Kind::OpenAiCompatible,
        name: "openai".into(),
        base_url,
        api_key: Some(ApiKey::new("sk-test-0123456789abcdef")),
        model: "m".into(),
        timeout: Duration::from_secs(10),
        retry: RetryPolicy::none(),
    }
}

fn ask() -> CompletionRequest {
    CompletionRequest {
        messages: vec![Message::user("hi")],
        max_tokens: 8,
        temperature: None,
        json: false,
    }
}

async fn provider_answer(base_url: String) -> Result<String, ProviderError> {
    let provider = provider::build(provider_config(base_url)).expect("provider");
    provider.complete(&ask()).await.map(|c| c.text)
}

/// `clambot onboard` in a fresh home, probing Ollama at `base`, with `env`.
fn onboard(base: &str, env: &[(&str, String)]) -> String {
    let home = tempfile::tempdir().expect("home");
    let out = Command::new(env!("CARGO_BIN_EXE_clambot"))
        .arg("onboard")
        .env_clear()
        .env("CLAMBOT_HOME", home.path())
        .env("OLLAMA_HOST", base)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("clambot runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn no_client_follows_a_redirect() {
    // The http tool: the 3xx comes back to the script as it is.
    let server = redirecting();
    let world = World::new();
    let policy = format!(
        "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://127.0.0.1:{}/**\"]\n[net]\nallow-private = [\"{}\"]\n",
        server.port(),
        server.addr
    );
    let out = world.ok(
        &policy,
        &format!(
            "const r = await http.fetch({{ method: 'GET', url: 'http://127.0.0.1:{}/start', headers: [], body: null }}); return r.status",
            server.port()
        ),
    );
    assert_eq!(out, 302);
    assert!(!followed(&server), "the http tool followed");

    let runtime = common::runtime();
    // A model provider: a redirect is an error naming it.
    let server = redirecting();
    let error = runtime
        .block_on(provider_answer(format!("http://{}/v1", server.addr)))
        .expect_err("a redirect is not an answer");
    assert!(
        matches!(error, ProviderError::BadRequest { status: 302, .. }),
        "{error:?}"
    );
    assert!(!followed(&server), "the provider followed");

    // The Telegram client.
    let server = redirecting();
    let api = BotApi::new(&format!("http://{}", server.addr), TOKEN).expect("api");
    let error = runtime
        .block_on(api.send_message(1, "hi", false, None))
        .expect_err("a redirect is not an answer");
    assert!(
        !followed(&server),
        "the Telegram client followed: {error:?}"
    );

    // Onboard's probe: a redirect is not an Ollama server.
    let server = redirecting();
    let stdout = onboard(&format!("http://{}", server.addr), &[]);
    assert!(stdout.contains("no provider found"), "{stdout}");
    assert_eq!(server.seen().len(), 1, "one probe, not followed");
    assert!(!followed(&server));
}

/// Counts the connections made to it; answers none.
struct Listener {
    addr: String,
    connections: Arc<AtomicUsize>,
}

fn listener() -> Listener {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = socket.local_addr().expect("addr").to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in socket.incoming() {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    Listener { addr, connections }
}

const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

#[test]
fn no_client_goes_through_a_proxy_named_in_the_environment() {
    // The clients run in a child process whose environment names the proxy
    // (this process's environment is shared by its other tests' threads).
    let proxy = listener();
    let proxy_url = format!("http://{}", proxy.addr);
    let mut child = Command::new(std::env::current_exe().expect("test binary"));
    child.args([
        "--exact",
        "every_client_in_a_proxied_environment",
        "--ignored",
        "--test-threads=1",
    ]);
    for name in PROXY_VARIABLES {
        child.env(name, &proxy_url);
    }
    child.env_remove("NO_PROXY").env_remove("no_proxy");
    let out = child.output().expect("the child test runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        proxy.connections.load(Ordering::SeqCst),
        0,
        "a client used the proxy"
    );
}

#[test]
#[ignore = "run by no_client_goes_through_a_proxy_named_in_the_environment, in a proxied environment"]
fn every_client_in_a_proxied_environment() {
    let proxy = std::env::var("HTTP_PROXY").expect("run by the parent test");
    let ok = Server::start("127.0.0.1", 0, |seen| {
        let body = if seen.path.contains("chat/completions") {
            r#"{"choices":[{"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}"#
        } else if seen.path.contains("/api/tags") {
            r#"{"models":[]}"#
        } else {
            r#"{"ok":true,"result":{"message_id":1,"chat":{"id":1}}}"#
        };
        Reply::text(200, "application/json", body)
    });
    // Named (not an IP), so a client honouring the proxy would have to use it.
    let world = World::new();
    world.resolver.answer("api.example", &["127.0.0.1"]);
    let policy = format!(
        "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://api.example:{}/**\"]\n[net]\nallow-private = [\"{}\"]\n",
        ok.port(),
        ok.addr
    );
    let status = world.ok(
        &policy,
        &format!(
            "return (await http.fetch({{ method: 'GET', url: 'http://api.example:{}/x', headers: [], body: null }})).status",
            ok.port()
        ),
    );
    assert_eq!(status, 200);
    let runtime = common::runtime();
    let answer = runtime
        .block_on(provider_answer(format!(
            "http://localhost:{}/v1",
            ok.port()
        )))
        .expect("the provider answers");
    assert_eq!(answer, "hello");
    let api = BotApi::new(&format!("http://localhost:{}", ok.port()), TOKEN).expect("api");
    runtime
        .block_on(api.send_message(1, "hi", false, None))
        .expect("sent");
    let env: Vec<(&str, String)> = PROXY_VARIABLES
        .iter()
        .map(|n| (*n, proxy.clone()))
        .collect();
    let stdout = onboard(&format!("http://localhost:{}", ok.port()), &env);
    assert!(stdout.contains("provider ollama"), "{stdout}");
    assert_eq!(
        ok.seen().len(),
        4,
        "every client reached the server directly"
    );
}

/// A server that sends an endless body with no length: only the reader's cap
/// stops it.
fn endless() -> String {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = socket.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in socket.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n",
                );
                let chunk = vec![b' '; 64 * 1024];
                while stream.write_all(&chunk).is_ok() {}
            });
        }
    });
    addr
}

#[test]
fn every_client_caps_the_body_it_reads() {
    let runtime = common::runtime();
    // Declared too large (a content-length), and endless (no length at all).
    let declared = Server::start("127.0.0.1", 0, |_| {
        Reply::text(200, "application/json", vec![b' '; 9 * 1024 * 1024])
    });
    for base in [
        format!("http://{}/v1", declared.addr),
        format!("http://{}/v1", endless()),
    ] {
        let error = runtime
            .block_on(provider_answer(base))
            .expect_err("too large");
        assert!(
            matches!(&error, ProviderError::Malformed(m) if m.contains("larger than 8388608 bytes")),
            "{error:?}"
        );
    }
    let api = BotApi::new(&format!("http://{}", endless()), TOKEN).expect("api");
    let error = runtime
        .block_on(api.send_message(1, "hi", false, None))
        .expect_err("too large");
    assert!(
        matches!(error, ApiError::TooLarge { limit, .. } if limit == 32 * 1024 * 1024),
        "{error:?}"
    );
    assert!(error.to_string().contains("larger than"), "{error}");

    // The http tool's cap (1 MiB in the test world), on an endless body.
    let world = World::new();
    let addr = endless();
    let port = addr.rsplit(':').next().expect("port");
    let policy = format!(
        "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://127.0.0.1:{port}/**\"]\n[net]\nallow-private = [\"{addr}\"]\n"
    );
    let out = world.ok(
        &policy,
        &format!(
            "try {{ await http.fetch({{ method: 'GET', url: 'http://127.0.0.1:{port}/', headers: [], body: null }}); return 'read' }} catch (e) {{ return e.code + ': ' + e.message }}"
        ),
    );
    let out = out.as_str().expect("text");
    assert!(
        out.starts_with("limit: ") && out.contains("larger than"),
        "{out}"
    );
}

#[test]
fn the_bot_token_never_shows_in_an_error() {
    let runtime = common::runtime();
    // The server quotes the request path (and so the token) in its refusal.
    let echo = Server::start("127.0.0.1", 0, |seen| {
        Reply::text(
            400,
            "application/json",
            format!(
                r#"{{"ok":false,"error_code":400,"description":"Bad Request: no such method {}"}}"#,
                seen.path
            ),
        )
    });
    let api = BotApi::new(&format!("http://{}", echo.addr), TOKEN).expect("api");
    let error = runtime
        .block_on(api.send_message(1, "hi", false, None))
        .expect_err("refused");
    assert!(
        echo.seen()[0].path.contains(TOKEN),
        "the token was in the path"
    );
    let shown = format!("{error} {error:?}");
    assert!(
        !shown.contains(TOKEN) && !shown.contains("SECRET"),
        "{shown}"
    );
    assert!(shown.contains("[REDACTED]"), "{shown}");

    // A transport error (the connection drops mid-answer) carries the URL,
    // whose path holds the token: left out.
    let dropper = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = dropper.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in dropper.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = [0u8; 4096];
            let _ = stream.read(&mut head);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"ok\"");
        }
    });
    let api = BotApi::new(&format!("http://{addr}"), TOKEN).expect("api");
    let error = runtime
        .block_on(api.send_message(1, "hi", false, None))
        .expect_err("cut short");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    // Nothing listening: reqwest's own text names the URL, token and all.
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let (raw, described) = runtime.block_on(async {
        let client = clambot::net::client::build(&Default::default()).expect("client");
        let error = client
            .get(format!("http://{closed}/bot{TOKEN}/getMe"))
            .send()
            .await
            .expect_err("refused");
        (
            error.to_string(),
            clambot::net::client::describe(&error, &[TOKEN]),
        )
    });
    assert!(raw.contains(TOKEN), "reqwest's text has the token: {raw}");
    assert!(!described.contains("SECRET"), "{described}");
    assert!(described.contains("Connection refused"), "{described}");
}
