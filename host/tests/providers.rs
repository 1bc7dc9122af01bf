//! The LLM providers against real HTTP servers on 127.0.0.1: a small HTTP/1.1
//! server in this file records each request (path, headers, JSON body) and
//! answers with scripted responses, in order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clambot::agent::provider::{
    self, ApiKey, Completion, CompletionRequest, Kind, Message, Provider, ProviderConfig,
    ProviderError, RetryPolicy,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &str = "sk-test-very-secret-0123456789";

// ---------------------------------------------------------------------------
// The scripted server.

#[derive(Debug, Clone)]
enum Reply {
    /// Status, extra headers, body.
    Respond(u16, Vec<(&'static str, String)>, String),
    /// Read the request, then never answer.
    Hang,
    /// A 200 whose body is `pieces` written `gap` apart, then the connection
    /// closed (no content-length: the body ends where the connection does).
    Events {
        content_type: &'static str,
        pieces: Vec<String>,
        gap: Duration,
    },
}

fn reply(status: u16, body: Value) -> Reply {
    Reply::Respond(status, Vec::new(), body.to_string())
}

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    /// Lower-cased names.
    headers: HashMap<String, String>,
    body: Value,
}

#[derive(Debug)]
struct Server {
    addr: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Server {
    async fn start(script: Vec<Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = format!("http://{}", listener.local_addr().expect("local addr"));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(handle(stream, Arc::clone(&script), Arc::clone(&recorded)));
            }
        });
        Self { addr, requests }
    }

    fn count(&self) -> usize {
        self.requests.lock().expect("lock").len()
    }

    fn request(&self, i: usize) -> Recorded {
        self.requests.lock().expect("lock")[i].clone()
    }
}

async fn handle(
    mut stream: TcpStream,
    script: Arc<Mutex<VecDeque<Reply>>>,
    requests: Arc<Mutex<Vec<Recorded>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_owned();
    let path = request_line.next().unwrap_or_default().to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + 4 + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body =
        serde_json::from_slice(&buf[head_end + 4..head_end + 4 + length]).unwrap_or(Value::Null);
    requests.lock().expect("lock").push(Recorded {
        method,
        path,
        headers,
        body,
    });
    let next = script.lock().expect("lock").pop_front();
    let (status, extra, body) = match next {
        Some(Reply::Respond(status, extra, body)) => (status, extra, body),
        Some(Reply::Hang) => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return;
        }
        Some(Reply::Events {
            content_type,
            pieces,
            gap,
        }) => {
            let _ = stream.set_nodelay(true);
            let head = format!(
                "HTTP/1.1 200 Scripted\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for piece in pieces {
                tokio::time::sleep(gap).await;
                if stream.write_all(piece.as_bytes()).await.is_err() {
                    return;
                }
            }
            let _ = stream.shutdown().await;
            return;
        }
        // Not retried, so a test that sends too many requests fails clearly.
        None => (
            418,
            Vec::new(),
            r#"{"error":{"message":"unscripted request"}}"#.to_owned(),
        ),
    };
    let mut response = format!(
        "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (name, value) in extra {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&body);
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

// ---------------------------------------------------------------------------
// Helpers.

fn fast_retry(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(20),
    }
}

fn config(kind: Kind, base_url: String) -> ProviderConfig {
    ProviderConfig {
        kind,
        name: match kind {
            Kind::OpenAiCompatible => "openai",
            Kind::Anthropic => "anthropic",
        }
        .to_owned(),
        base_url,
        api_key: Some(ApiKey::new(KEY)),
        model: "test-model".to_owned(),
        timeout: Duration::from_secs(10),
        retry: fast_retry(3),
    }
}

fn openai(server: &Server) -> Box<dyn Provider> {
    provider::build(config(
        Kind::OpenAiCompatible,
        format!("{}/v1", server.addr),
    ))
    .expect("build")
}

fn anthropic(server: &Server) -> Box<dyn Provider> {
    provider::build(config(Kind::Anthropic, server.addr.clone())).expect("build")
}

fn ask(text: &str) -> CompletionRequest {
    CompletionRequest {
        messages: vec![Message::user(text)],
        max_tokens: 64,
        temperature: None,
        json: false,
    }
}

fn openai_ok(text: &str) -> Reply {
    reply(
        200,
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "test-model-2025",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        }),
    )
}

fn assert_no_key(error: &ProviderError) {
    assert!(
        !error.to_string().contains(KEY),
        "Display leaks the key: {error}"
    );
    assert!(
        !format!("{error:?}").contains(KEY),
        "Debug leaks the key: {error:?}"
    );
}

// ---------------------------------------------------------------------------
// Happy paths.

#[tokio::test]
async fn openai_happy_path() {
    let server = Server::start(vec![openai_ok(r#"{"answer": 42}"#)]).await;
    let provider = openai(&server);
    assert_eq!(provider.name(), "openai");
    assert_eq!(provider.model(), "test-model");
    let request = CompletionRequest {
        messages: vec![
            Message::system("You answer in JSON."),
            Message::user("What is six times seven?"),
        ],
        max_tokens: 100,
        temperature: Some(0.2),
        json: true,
    };
    let completion = provider.complete(&request).await.expect("complete");
    assert_eq!(
        completion,
        Completion {
            text: r#"{"answer": 42}"#.to_owned(),
            input_tokens: Some(12),
            output_tokens: Some(3),
            model: "test-model-2025".to_owned(),
        }
    );

    assert_eq!(server.count(), 1);
    let seen = server.request(0);
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(seen.headers["content-type"], "application/json");
    assert!(!seen.headers.contains_key("x-api-key"));
    assert_eq!(
        seen.body,
        json!({
            "model": "test-model",
            "messages": [
                {"role": "system", "content": "You answer in JSON."},
                {"role": "user", "content": "What is six times seven?"}
            ],
            "max_tokens": 100,
            "temperature": 0.2,
            "response_format": {"type": "json_object"}
        })
    );
}

#[tokio::test]
async fn openai_without_key_or_options_sends_neither() {
    let server = Server::start(vec![reply(
        200,
        json!({"choices": [{"message": {"role": "assistant", "content": "hi"}}]}),
    )])
    .await;
    let mut config = config(Kind::OpenAiCompatible, format!("{}/v1/", server.addr));
    config.name = "ollama".to_owned();
    config.api_key = None;
    let provider = provider::build(config).expect("build");
    let completion = provider.complete(&ask("hello")).await.expect("complete");
    // No model or usage in the answer: the configured model, no counts.
    assert_eq!(completion.text, "hi");
    assert_eq!(completion.model, "test-model");
    assert_eq!(completion.input_tokens, None);
    assert_eq!(completion.output_tokens, None);

    let seen = server.request(0);
    assert_eq!(seen.path, "/v1/chat/completions", "trailing slash trimmed");
    assert!(!seen.headers.contains_key("authorization"));
    assert!(seen.body.get("temperature").is_none());
    assert!(seen.body.get("response_format").is_none());
}

#[tokio::test]
async fn anthropic_happy_path() {
    let server = Server::start(vec![reply(
        200,
        json!({
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-test-1",
            "content": [
                {"type": "text", "text": "Hello, "},
                {"type": "tool_use", "id": "t1", "name": "x", "input": {}},
                {"type": "text", "text": "world."}
            ],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 30, "output_tokens": 5}
        }),
    )])
    .await;
    let provider = anthropic(&server);
    assert_eq!(provider.name(), "anthropic");
    let request = CompletionRequest {
        messages: vec![
            Message::system("Be brief."),
            Message::user("one"),
            Message::user("two"),
            Message::assistant("ok"),
            Message::system("No emoji."),
            Message::user("three"),
        ],
        max_tokens: 256,
        temperature: Some(0.5),
        json: true,
    };
    let completion = provider.complete(&request).await.expect("complete");
    assert_eq!(
        completion,
        Completion {
            text: "Hello, world.".to_owned(),
            input_tokens: Some(30),
            output_tokens: Some(5),
            model: "claude-test-1".to_owned(),
        }
    );

    assert_eq!(server.count(), 1);
    let seen = server.request(0);
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.headers["x-api-key"], KEY);
    assert_eq!(seen.headers["anthropic-version"], "2023-06-01");
    assert_eq!(seen.headers["content-type"], "application/json");
    assert!(!seen.headers.contains_key("authorization"));
    assert_eq!(
        seen.body,
        json!({
            "model": "test-model",
            "max_tokens": 256,
            "system": "Be brief.\n\nNo emoji.",
            "messages": [
                {"role": "user", "content": "one\n\ntwo"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "three"}
            ],
            "temperature": 0.5
        })
    );
}

#[tokio::test]
async fn anthropic_without_system_sends_no_system_field() {
    let server = Server::start(vec![reply(
        200,
        json!({"content": [{"type": "text", "text": "fine"}]}),
    )])
    .await;
    let completion = anthropic(&server)
        .complete(&ask("hi"))
        .await
        .expect("complete");
    assert_eq!(completion.text, "fine");
    assert_eq!(completion.model, "test-model");
    let seen = server.request(0);
    assert!(seen.body.get("system").is_none());
    assert!(seen.body.get("temperature").is_none());
}

// ---------------------------------------------------------------------------
// Retries.

#[tokio::test]
async fn rate_limited_then_ok_honours_retry_after() {
    let server = Server::start(vec![
        Reply::Respond(
            429,
            vec![("retry-after", "30".to_owned())],
            json!({"error": {"message": "slow down"}}).to_string(),
        ),
        openai_ok("done"),
    ])
    .await;
    let mut config = config(Kind::OpenAiCompatible, format!("{}/v1", server.addr));
    // Backoff alone would wait at most 1 ms; Retry-After (30 s) is capped at 200 ms.
    config.retry = RetryPolicy {
        max_retries: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(200),
    };
    let provider = provider::build(config).expect("build");
    let start = Instant::now();
    let completion = provider.complete(&ask("hi")).await.expect("complete");
    let elapsed = start.elapsed();
    assert_eq!(completion.text, "done");
    assert_eq!(server.count(), 2);
    assert!(
        elapsed >= Duration::from_millis(190),
        "waited only {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "Retry-After not capped: {elapsed:?}"
    );
}

#[tokio::test]
async fn persistent_rate_limit_is_rate_limited_error() {
    let limited = Reply::Respond(
        429,
        vec![("retry-after", "7".to_owned())],
        json!({"error": {"message": "slow down"}}).to_string(),
    );
    let server = Server::start(vec![limited; 3]).await;
    let mut config = config(Kind::OpenAiCompatible, format!("{}/v1", server.addr));
    config.retry = RetryPolicy {
        max_retries: 2,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
    };
    let error = provider::build(config)
        .expect("build")
        .complete(&ask("hi"))
        .await
        .expect_err("rate limited");
    assert!(
        matches!(error, ProviderError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(7)),
        "{error:?}"
    );
    assert_eq!(server.count(), 3);
    assert!(error.to_string().contains("7s"), "{error}");
}

#[tokio::test]
async fn server_errors_then_ok() {
    let server = Server::start(vec![
        reply(500, json!({"error": {"message": "boom"}})),
        reply(500, json!({"error": {"message": "boom"}})),
        openai_ok("recovered"),
    ])
    .await;
    let completion = openai(&server)
        .complete(&ask("hi"))
        .await
        .expect("complete");
    assert_eq!(completion.text, "recovered");
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn persistent_503_is_server_error_after_all_retries() {
    let unavailable = Reply::Respond(
        503,
        vec![("retry-after", "0".to_owned())],
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            .to_string(),
    );
    let server = Server::start(vec![unavailable; 10]).await;
    let error = anthropic(&server)
        .complete(&ask("hi"))
        .await
        .expect_err("503");
    match &error {
        ProviderError::Server { status, detail } => {
            assert_eq!(*status, 503);
            assert_eq!(detail, "Overloaded (overloaded_error)");
        }
        other => panic!("expected Server, got {other:?}"),
    }
    assert_eq!(server.count(), 1 + 3, "one attempt and max_retries retries");
}

#[tokio::test]
async fn gateway_error_inside_a_200_is_retried() {
    // OpenRouter reports some upstream failures as a 200 with an error body.
    let server = Server::start(vec![
        reply(
            200,
            json!({"error": {"code": 502, "message": "upstream died"}}),
        ),
        openai_ok("second time lucky"),
    ])
    .await;
    let completion = openai(&server)
        .complete(&ask("hi"))
        .await
        .expect("complete");
    assert_eq!(completion.text, "second time lucky");
    assert_eq!(server.count(), 2);
}

// ---------------------------------------------------------------------------
// Errors that are not retried.

#[tokio::test]
async fn unauthorized_is_immediate_and_never_shows_the_key() {
    // The server echoes the key, as some do; it must be scrubbed.
    let server = Server::start(vec![reply(
        401,
        json!({"error": {"message": format!("Incorrect API key provided: {KEY}."), "type": "invalid_request_error"}}),
    )])
    .await;
    let provider = openai(&server);
    let error = provider.complete(&ask("hi")).await.expect_err("401");
    assert_eq!(server.count(), 1);
    match &error {
        ProviderError::Unauthorized {
            provider,
            status,
            detail,
        } => {
            assert_eq!(provider, "openai");
            assert_eq!(*status, 401);
            assert_eq!(
                detail,
                "Incorrect API key provided: [REDACTED]. (invalid_request_error)"
            );
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
    assert_no_key(&error);
    assert!(!format!("{provider:?}").contains(KEY), "{provider:?}");
}

#[tokio::test]
async fn forbidden_is_unauthorized_for_anthropic_too() {
    let server = Server::start(vec![reply(
        403,
        json!({"type": "error", "error": {"type": "permission_error", "message": "no access"}}),
    )])
    .await;
    let error = anthropic(&server)
        .complete(&ask("hi"))
        .await
        .expect_err("403");
    assert!(
        matches!(&error, ProviderError::Unauthorized { status: 403, provider, .. } if provider == "anthropic"),
        "{error:?}"
    );
    assert_eq!(server.count(), 1);
    assert_no_key(&error);
}

#[tokio::test]
async fn bad_request_detail_is_cut_to_300_characters() {
    let long = "é".repeat(1000);
    let server = Server::start(vec![reply(400, json!({"error": {"message": long}}))]).await;
    let error = openai(&server).complete(&ask("hi")).await.expect_err("400");
    assert_eq!(server.count(), 1);
    match &error {
        ProviderError::BadRequest { status, detail } => {
            assert_eq!(*status, 400);
            assert!(
                detail.chars().count() <= 300,
                "{} chars",
                detail.chars().count()
            );
            assert!(detail.starts_with("ééé"));
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
}

#[tokio::test]
async fn non_json_error_body_is_the_detail() {
    let server = Server::start(vec![Reply::Respond(
        404,
        Vec::new(),
        "<html>\n  Not   Found\n</html>".to_owned(),
    )])
    .await;
    let error = openai(&server).complete(&ask("hi")).await.expect_err("404");
    assert!(
        matches!(&error, ProviderError::BadRequest { status: 404, detail } if detail == "<html> Not Found </html>"),
        "{error:?}"
    );
}

#[tokio::test]
async fn malformed_body_is_malformed() {
    let server = Server::start(vec![
        Reply::Respond(200, Vec::new(), "this is not json".to_owned()),
        reply(200, json!({"id": "x", "object": "chat.completion"})),
    ])
    .await;
    let provider = openai(&server);
    let error = provider.complete(&ask("hi")).await.expect_err("not json");
    assert!(matches!(error, ProviderError::Malformed(_)), "{error:?}");
    assert_eq!(server.count(), 1, "not retried");
    let error = provider.complete(&ask("hi")).await.expect_err("no choices");
    assert!(
        matches!(&error, ProviderError::Malformed(why) if why.contains("choices")),
        "{error:?}"
    );
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn anthropic_without_content_is_malformed() {
    let server = Server::start(vec![reply(200, json!({"type": "message"}))]).await;
    let error = anthropic(&server)
        .complete(&ask("hi"))
        .await
        .expect_err("no content");
    assert!(matches!(error, ProviderError::Malformed(_)), "{error:?}");
}

// ---------------------------------------------------------------------------
// Timeouts and connection errors.

#[tokio::test]
async fn server_that_never_answers_times_out() {
    let server = Server::start(vec![Reply::Hang, Reply::Hang]).await;
    let mut config = config(Kind::OpenAiCompatible, format!("{}/v1", server.addr));
    config.timeout = Duration::from_millis(300);
    config.retry = fast_retry(1);
    let provider = provider::build(config).expect("build");
    let start = Instant::now();
    let error = provider.complete(&ask("hi")).await.expect_err("timeout");
    let elapsed = start.elapsed();
    assert!(
        matches!(error, ProviderError::Timeout(d) if d == Duration::from_millis(300)),
        "{error:?}"
    );
    assert_eq!(server.count(), 2, "a timeout is retried");
    // Two attempts of 300 ms and one wait of at most 20 ms, with slack.
    assert!(elapsed >= Duration::from_millis(600), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(
        error.to_string(),
        "the provider did not answer within 300ms"
    );
}

#[tokio::test]
async fn refused_connection_is_network_error_after_retries() {
    // A port that was just free: nothing listens there.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let mut config = config(Kind::Anthropic, format!("http://{addr}"));
    config.retry = fast_retry(2);
    let start = Instant::now();
    let error = provider::build(config)
        .expect("build")
        .complete(&ask("hi"))
        .await
        .expect_err("refused");
    assert!(matches!(error, ProviderError::Network(_)), "{error:?}");
    assert!(error.to_string().contains("Connection refused"), "{error}");
    assert!(!error.to_string().contains("http://"), "{error}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_no_key(&error);
}

// ---------------------------------------------------------------------------
// Configuration.

#[test]
fn build_refuses_a_bad_config() {
    let mut bad_url = config(Kind::OpenAiCompatible, "not a url".to_owned());
    assert!(matches!(
        provider::build(bad_url.clone()),
        Err(ProviderError::Config(_))
    ));
    bad_url.base_url = "ftp://example.com".to_owned();
    assert!(matches!(
        provider::build(bad_url),
        Err(ProviderError::Config(_))
    ));

    let mut bad_key = config(Kind::Anthropic, "http://127.0.0.1:1".to_owned());
    bad_key.api_key = Some(ApiKey::new("sk-abc\ndef"));
    let error = provider::build(bad_key).expect_err("newline in key");
    assert!(matches!(error, ProviderError::Config(_)), "{error:?}");
    assert!(!error.to_string().contains("sk-abc"));
}

#[test]
fn api_key_debug_is_redacted() {
    let key = ApiKey::new(format!("  {KEY}\n"));
    assert_eq!(format!("{key:?}"), "ApiKey([REDACTED])");
    assert_eq!(key.expose(), KEY, "surrounding whitespace trimmed");
    let config = config(Kind::OpenAiCompatible, "http://127.0.0.1:1/v1".to_owned());
    let shown = format!("{config:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("ApiKey([REDACTED])"), "{shown}");
    for config in [
        config.clone(),
        ProviderConfig {
            kind: Kind::Anthropic,
            ..config
        },
    ] {
        let provider = provider::build(config).expect("build");
        let shown = format!("{provider:?}");
        assert!(!shown.contains(KEY), "{shown}");
    }
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn from_env_with_nothing_set_is_none() {
    assert_eq!(provider::from_env(env(&[])), None);
    assert_eq!(provider::from_env(env(&[("OPENAI_API_KEY", "  ")])), None);
    assert_eq!(
        provider::from_env(env(&[("OPENAI_BASE_URL", "http://localhost:8080/v1")])),
        None,
        "a base URL alone does not pick OpenAI"
    );
}

#[test]
fn from_env_precedence() {
    let all = [
        ("ANTHROPIC_API_KEY", "a-key"),
        ("OPENAI_API_KEY", "o-key"),
        ("OPENROUTER_API_KEY", "r-key"),
        ("DEEPSEEK_API_KEY", "d-key"),
        ("GROQ_API_KEY", "g-key"),
        ("GEMINI_API_KEY", "m-key"),
        ("OLLAMA_BASE_URL", "http://127.0.0.1:11434/v1"),
    ];
    let order = [
        "anthropic",
        "openai",
        "openrouter",
        "deepseek",
        "groq",
        "gemini",
        "ollama",
    ];
    assert_eq!(order, provider::PROVIDER_NAMES);
    // Drop the winners one by one: the next in line wins.
    for (i, expected) in order.iter().enumerate() {
        let config = provider::from_env(env(&all[i..])).expect("a provider");
        assert_eq!(config.name, *expected);
    }
    // CLAMBOT_PROVIDER beats them all.
    let mut explicit = all.to_vec();
    explicit.push(("CLAMBOT_PROVIDER", "Groq"));
    let config = provider::from_env(env(&explicit)).expect("groq");
    assert_eq!(config.name, "groq");
    assert_eq!(config.api_key.as_ref().map(ApiKey::expose), Some("g-key"));
}

#[test]
fn from_env_defaults() {
    let cases = [
        (
            "ANTHROPIC_API_KEY",
            "anthropic",
            Kind::Anthropic,
            "https://api.anthropic.com",
            "claude-sonnet-4-5",
        ),
        (
            "OPENAI_API_KEY",
            "openai",
            Kind::OpenAiCompatible,
            "https://api.openai.com/v1",
            "gpt-4.1-mini",
        ),
        (
            "OPENROUTER_API_KEY",
            "openrouter",
            Kind::OpenAiCompatible,
            "https://openrouter.ai/api/v1",
            "openai/gpt-4.1-mini",
        ),
        (
            "DEEPSEEK_API_KEY",
            "deepseek",
            Kind::OpenAiCompatible,
            "https://api.deepseek.com/v1",
            "deepseek-chat",
        ),
        (
            "GROQ_API_KEY",
            "groq",
            Kind::OpenAiCompatible,
            "https://api.groq.com/openai/v1",
            "llama-3.3-70b-versatile",
        ),
        (
            "GEMINI_API_KEY",
            "gemini",
            Kind::OpenAiCompatible,
            "https://generativelanguage.googleapis.com/v1beta/openai",
            "gemini-2.5-flash",
        ),
    ];
    for (var, name, kind, base, model) in cases {
        let config = provider::from_env(env(&[(var, " the-key\n")])).expect(name);
        assert_eq!(config.name, name);
        assert_eq!(config.kind, kind);
        assert_eq!(config.base_url, base);
        assert_eq!(config.model, model);
        assert_eq!(config.api_key, Some(ApiKey::new("the-key")));
        assert_eq!(config.timeout, provider::DEFAULT_TIMEOUT);
        assert_eq!(config.retry, RetryPolicy::default());
    }

    let ollama = provider::from_env(env(&[("OLLAMA_BASE_URL", "http://localhost:11434/v1")]))
        .expect("ollama");
    assert_eq!(ollama.name, "ollama");
    assert_eq!(ollama.kind, Kind::OpenAiCompatible);
    assert_eq!(ollama.base_url, "http://localhost:11434/v1");
    assert_eq!(ollama.api_key, None);
    assert_eq!(ollama.model, "llama3.2");

    assert_eq!(
        RetryPolicy::default(),
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    );
}

#[test]
fn from_env_overrides() {
    let config = provider::from_env(env(&[
        ("ANTHROPIC_API_KEY", "a-key"),
        ("ANTHROPIC_BASE_URL", "https://proxy.example/anthropic"),
        ("CLAMBOT_MODEL", "claude-opus-4-1"),
    ]))
    .expect("anthropic");
    assert_eq!(config.base_url, "https://proxy.example/anthropic");
    assert_eq!(config.model, "claude-opus-4-1");

    let config = provider::from_env(env(&[
        ("OPENAI_API_KEY", "o-key"),
        ("OPENAI_BASE_URL", "https://gateway.example/v1"),
    ]))
    .expect("openai");
    assert_eq!(config.base_url, "https://gateway.example/v1");
}

#[test]
fn from_env_explicit_provider() {
    // Named, its key is optional: a local OpenAI-compatible server wants none.
    let config = provider::from_env(env(&[
        ("CLAMBOT_PROVIDER", "openai"),
        ("OPENAI_BASE_URL", "http://127.0.0.1:8080/v1"),
    ]))
    .expect("openai");
    assert_eq!(config.name, "openai");
    assert_eq!(config.api_key, None);
    assert_eq!(config.base_url, "http://127.0.0.1:8080/v1");

    let config = provider::from_env(env(&[("CLAMBOT_PROVIDER", "ollama")])).expect("ollama");
    assert_eq!(config.base_url, "http://localhost:11434/v1");

    assert_eq!(
        provider::from_env(env(&[
            ("CLAMBOT_PROVIDER", "nonesuch"),
            ("OPENAI_API_KEY", "k")
        ])),
        None,
        "an unknown name is not silently replaced by another provider"
    );
}

#[test]
fn errors_read_as_sentences() {
    let cases: [(ProviderError, &str); 4] = [
        (
            ProviderError::RateLimited { retry_after: None },
            "the provider is rate-limiting requests (HTTP 429); try again later",
        ),
        (
            ProviderError::RateLimited {
                retry_after: Some(Duration::from_secs(90)),
            },
            "the provider is rate-limiting requests (HTTP 429); it asked to wait 1m 30s",
        ),
        (
            ProviderError::Server {
                status: 502,
                detail: "Bad Gateway".to_owned(),
            },
            "the provider failed with a server error (HTTP 502): Bad Gateway",
        ),
        (
            ProviderError::Unauthorized {
                provider: "groq".to_owned(),
                status: 401,
                detail: "Invalid API Key".to_owned(),
            },
            "groq rejected the credentials (HTTP 401): Invalid API Key",
        ),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
}

// ---------------------------------------------------------------------------
// Streamed answers (server-sent events).

/// Records what a streaming completion passed on, and when.
#[derive(Debug, Default)]
struct Recording {
    seen: Mutex<Vec<(Instant, Option<String>)>>,
}

impl Recording {
    /// The pieces since the last restart.
    fn pieces(&self) -> Vec<String> {
        let seen = self.seen.lock().expect("lock");
        let last_restart = seen
            .iter()
            .rposition(|(_, p)| p.is_none())
            .map_or(0, |i| i + 1);
        seen[last_restart..]
            .iter()
            .filter_map(|(_, p)| p.clone())
            .collect()
    }

    fn restarts(&self) -> usize {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|(_, p)| p.is_none())
            .count()
    }

    fn first_piece_at(&self) -> Instant {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .find_map(|(at, p)| p.as_ref().map(|_| *at))
            .expect("a piece")
    }
}

impl provider::TextSink for Recording {
    fn restart(&self) {
        self.seen.lock().expect("lock").push((Instant::now(), None));
    }
    fn push(&self, text: &str) {
        self.seen
            .lock()
            .expect("lock")
            .push((Instant::now(), Some(text.to_owned())));
    }
}

const GAP: Duration = Duration::from_millis(60);

fn events(pieces: Vec<String>) -> Reply {
    Reply::Events {
        content_type: "text/event-stream; charset=utf-8",
        pieces,
        gap: GAP,
    }
}

/// OpenAI's chunks for `words`, each its own event, then `[DONE]` (unless `done` is false).
fn openai_events(words: &[&str], done: bool) -> Reply {
    let mut pieces: Vec<String> = words
        .iter()
        .map(|word| {
            format!(
                "data: {}\n\n",
                json!({"id": "c1", "object": "chat.completion.chunk", "model": "streamed-model",
                       "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": null}]})
            )
        })
        .collect();
    pieces.insert(
        0,
        format!(
            "data: {}\n\n",
            json!({"id": "c1", "model": "streamed-model", "choices": [{"index": 0, "delta": {"role": "assistant"}}]})
        ),
    );
    if done {
        pieces.push(format!(
            "data: {}\n\ndata: [DONE]\n\n",
            json!({"id": "c1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
        ));
    }
    events(pieces)
}

/// Anthropic's events for `words`, with a ping between, and usage.
fn anthropic_events(words: &[&str]) -> Reply {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut pieces = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "m1", "model": "claude-streamed",
                   "content": [], "usage": {"input_tokens": 11, "output_tokens": 1}}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", json!({"type": "ping"})),
    ];
    for word in words {
        pieces.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}}),
        ));
    }
    pieces.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    pieces.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}),
    ));
    pieces.push(event("message_stop", json!({"type": "message_stop"})));
    events(pieces)
}

fn anthropic_error_event(kind: &str, message: &str) -> Reply {
    let start = format!(
        "event: message_start\ndata: {}\n\n",
        json!({"type": "message_start", "message": {"model": "claude-streamed", "usage": {"input_tokens": 1}}})
    );
    let error = format!(
        "event: error\ndata: {}\n\n",
        json!({"type": "error", "error": {"type": kind, "message": message}})
    );
    events(vec![start, error])
}

const WORDS: &[&str] = &[
    "{\"decision\": ",
    "\"chat\", ",
    "\"reply\": \"Hel",
    "lo!\"}",
];

#[tokio::test]
async fn openai_streams_the_answer_as_it_is_written() {
    let server = Server::start(vec![openai_events(WORDS, true)]).await;
    let sink = Recording::default();
    let started = Instant::now();
    let completion = openai(&server)
        .complete_streaming(&ask("hi"), &sink)
        .await
        .expect("completion");
    let ended = Instant::now();
    assert_eq!(completion.text, WORDS.concat());
    assert_eq!(sink.pieces(), WORDS);
    assert_eq!(completion.model, "streamed-model");
    assert_eq!(completion.input_tokens, Some(9));
    assert_eq!(completion.output_tokens, Some(4));
    // The first piece arrived while the rest was still being written.
    assert!(
        ended - sink.first_piece_at() >= GAP * 3,
        "first piece after {:?} of {:?}",
        sink.first_piece_at() - started,
        ended - started
    );
    assert_eq!(server.request(0).body["stream"], json!(true));
    assert_eq!(server.request(0).path, "/v1/chat/completions");
}

#[tokio::test]
async fn anthropic_streams_the_answer_as_it_is_written() {
    let server = Server::start(vec![anthropic_events(WORDS)]).await;
    let sink = Recording::default();
    let completion = anthropic(&server)
        .complete_streaming(&ask("hi"), &sink)
        .await
        .expect("completion");
    assert_eq!(completion.text, WORDS.concat());
    assert_eq!(sink.pieces(), WORDS);
    assert_eq!(completion.model, "claude-streamed");
    assert_eq!(completion.input_tokens, Some(11));
    assert_eq!(completion.output_tokens, Some(7));
    let request = server.request(0);
    assert_eq!(request.body["stream"], json!(true));
    assert_eq!(request.path, "/v1/messages");
}

#[tokio::test]
async fn a_plain_request_does_not_ask_for_a_stream() {
    let server = Server::start(vec![openai_ok("whole")]).await;
    openai(&server)
        .complete(&ask("hi"))
        .await
        .expect("completion");
    assert!(server.request(0).body.get("stream").is_none());
}

#[tokio::test]
async fn a_stream_that_breaks_off_is_tried_again_from_the_start() {
    for kind in [Kind::OpenAiCompatible, Kind::Anthropic] {
        let (broken, whole) = match kind {
            Kind::OpenAiCompatible => (
                openai_events(&WORDS[..2], false),
                openai_events(WORDS, true),
            ),
            Kind::Anthropic => {
                let Reply::Events { mut pieces, .. } = anthropic_events(WORDS) else {
                    unreachable!()
                };
                pieces.truncate(5);
                (events(pieces), anthropic_events(WORDS))
            }
        };
        let server = Server::start(vec![broken, whole]).await;
        let base = match kind {
            Kind::OpenAiCompatible => format!("{}/v1", server.addr),
            Kind::Anthropic => server.addr.clone(),
        };
        let provider = provider::build(config(kind, base)).expect("build");
        let sink = Recording::default();
        let completion = provider
            .complete_streaming(&ask("hi"), &sink)
            .await
            .expect("completion");
        assert_eq!(server.count(), 2, "{kind:?}");
        assert_eq!(completion.text, WORDS.concat(), "{kind:?}: nothing doubled");
        assert_eq!(sink.restarts(), 2, "{kind:?}: one restart per attempt");
        assert_eq!(sink.pieces(), WORDS, "{kind:?}");
    }
}

#[tokio::test]
async fn a_broken_stream_on_the_last_attempt_is_a_network_error() {
    let server = Server::start(vec![openai_events(&WORDS[..1], false)]).await;
    let mut config = config(Kind::OpenAiCompatible, format!("{}/v1", server.addr));
    config.retry = RetryPolicy::none();
    let error = provider::build(config)
        .expect("build")
        .complete_streaming(&ask("hi"), &Recording::default())
        .await
        .expect_err("cut short");
    assert!(matches!(error, ProviderError::Network(_)), "{error:?}");
    assert!(error.to_string().contains("ended before"), "{error}");
}

#[tokio::test]
async fn an_overloaded_event_is_retried_and_a_refusal_is_not() {
    let server = Server::start(vec![
        anthropic_error_event("overloaded_error", "Overloaded"),
        anthropic_events(WORDS),
    ])
    .await;
    let completion = anthropic(&server)
        .complete_streaming(&ask("hi"), &Recording::default())
        .await
        .expect("completion after the retry");
    assert_eq!(completion.text, WORDS.concat());
    assert_eq!(server.count(), 2);

    let server = Server::start(vec![anthropic_error_event(
        "invalid_request_error",
        &format!("bad request with key {KEY}"),
    )])
    .await;
    let error = anthropic(&server)
        .complete_streaming(&ask("hi"), &Recording::default())
        .await
        .expect_err("refused");
    assert!(
        matches!(error, ProviderError::BadRequest { status: 400, .. }),
        "{error:?}"
    );
    assert_eq!(server.count(), 1, "not retried");
    assert_no_key(&error);
}

#[tokio::test]
async fn an_error_chunk_inside_an_openai_stream_is_the_status_it_names() {
    let error_chunk = format!(
        "data: {}\n\n",
        json!({"error": {"code": 401, "message": format!("key {KEY} is revoked")}})
    );
    let server = Server::start(vec![events(vec![error_chunk])]).await;
    let error = openai(&server)
        .complete_streaming(&ask("hi"), &Recording::default())
        .await
        .expect_err("refused");
    assert!(
        matches!(error, ProviderError::Unauthorized { status: 401, .. }),
        "{error:?}"
    );
    assert_no_key(&error);
}

#[tokio::test]
async fn a_server_that_answers_whole_is_read_whole() {
    let server = Server::start(vec![openai_ok("not streamed")]).await;
    let sink = Recording::default();
    let completion = openai(&server)
        .complete_streaming(&ask("hi"), &sink)
        .await
        .expect("completion");
    assert_eq!(completion.text, "not streamed");
    assert!(sink.pieces().is_empty());
}

#[tokio::test]
async fn a_stream_is_held_to_the_answer_size_cap() {
    // 9 MiB of one-byte pieces, in 64 KiB events.
    let chunk = format!(
        "data: {}\n\n",
        json!({"choices": [{"index": 0, "delta": {"content": "x".repeat(64 * 1024)}}]})
    );
    let pieces = vec![chunk; 9 * 16];
    let server = Server::start(vec![Reply::Events {
        content_type: "text/event-stream",
        pieces,
        gap: Duration::ZERO,
    }])
    .await;
    let error = openai(&server)
        .complete_streaming(&ask("hi"), &Recording::default())
        .await
        .expect_err("too large");
    assert!(matches!(error, ProviderError::Malformed(_)), "{error:?}");
    assert!(error.to_string().contains("larger than"), "{error}");
    assert_eq!(server.count(), 1, "not retried");
}

#[tokio::test]
async fn a_malformed_event_is_a_malformed_answer() {
    let server = Server::start(vec![events(vec!["data: {not json\n\n".to_owned()])]).await;
    let error = openai(&server)
        .complete_streaming(&ask("hi"), &Recording::default())
        .await
        .expect_err("malformed");
    assert!(matches!(error, ProviderError::Malformed(_)), "{error:?}");
}
