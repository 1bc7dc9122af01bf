//! No outbound client goes through a proxy named in the environment: the http
//! host interface, the model providers, the Telegram client and onboard's
//! Ollama probe, each reaching a loopback server by name while `HTTP_PROXY`,
//! `HTTPS_PROXY` and `ALL_PROXY` (both spellings) name a listener that counts
//! connections.
//!
//! Without a test harness: the proxy variables must be in the environment of
//! the whole process from its start (setting them while test threads run is
//! unsound), so `main` starts the listener, then runs this same binary again
//! with the variables set, and that run drives every client.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clambot::gateway::telegram::api::BotApi;
use common::clients::{TOKEN, onboard, provider_answer};
use common::http_server::{Reply, Server};
use common::world::World;

const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// Set in the second run: the proxy every client must ignore.
const PROXIED: &str = "CLAMBOT_TEST_PROXIED";

fn main() {
    match std::env::var(PROXIED) {
        Ok(proxy) => every_client_in_a_proxied_environment(&proxy),
        Err(_) => no_client_goes_through_a_proxy_named_in_the_environment(),
    }
    println!("net_proxied: ok");
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

fn no_client_goes_through_a_proxy_named_in_the_environment() {
    let proxy = listener();
    let proxy_url = format!("http://{}", proxy.addr);
    let mut child = Command::new(std::env::current_exe().expect("test binary"));
    child.env(PROXIED, &proxy_url);
    for name in PROXY_VARIABLES {
        child.env(name, &proxy_url);
    }
    child.env_remove("NO_PROXY").env_remove("no_proxy");
    let out = child.output().expect("the proxied run starts");
    assert!(
        out.status.success() && common::cli::text(&out.stdout).contains("net_proxied: ok"),
        "{}\n{}",
        common::cli::text(&out.stdout),
        common::cli::text(&out.stderr)
    );
    assert_eq!(
        proxy.connections.load(Ordering::SeqCst),
        0,
        "a client used the proxy"
    );
}

fn every_client_in_a_proxied_environment(proxy: &str) {
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
        .map(|n| (*n, proxy.to_owned()))
        .collect();
    let stdout = onboard(&format!("http://localhost:{}", ok.port()), &env);
    assert!(stdout.contains("provider ollama"), "{stdout}");
    assert_eq!(
        ok.seen().len(),
        4,
        "every client reached the server directly"
    );
}
