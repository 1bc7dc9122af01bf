//! Every outbound HTTP client — the http host interface, the model providers,
//! the Telegram Bot API client and onboard's Ollama probe — against real
//! servers on 127.0.0.1: none follows a redirect, none goes through a proxy
//! named in the environment, each caps what it reads, and the bot token never
//! shows in an error. (The proxy case is `net_proxied.rs`: it needs a
//! process whose environment names a proxy.)

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;

use clambot::agent::provider::ProviderError;
use clambot::gateway::telegram::api::{ApiError, BotApi};
use common::clients::{TOKEN, onboard, provider_answer};
use common::http_server::{Reply, Server};
use common::world::World;

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
