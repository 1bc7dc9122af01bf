//! LLM providers: one small interface, [`Provider`], over the two wire protocols
//! that reach the models clambot talks to — OpenAI's chat completions (spoken
//! too by OpenRouter, DeepSeek, Groq, Gemini's compatibility endpoint, Ollama
//! and most local servers) and Anthropic's Messages API.
//!
//! A provider is made from a [`ProviderConfig`] by [`build`]; [`from_env`] makes
//! that config from the usual environment variables. Failed requests are tried
//! again per the config's [`RetryPolicy`].
//!
//! The API key lives in an [`ApiKey`], whose `Debug` shows no value. It is sent
//! only in a header marked sensitive, and it is scrubbed from any text a server
//! sends back before that text goes into a [`ProviderError`]. Redirects are not
//! followed, so no header (`x-api-key` included) is ever sent to another host.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

mod anthropic;
mod openai;
mod retry;
mod stream;

pub use anthropic::Anthropic;
pub use openai::OpenAiCompatible;
pub use retry::RetryPolicy;
pub use stream::{Discard, TextSink};

use crate::net::client::BodyError;
use retry::Failure;
use stream::{Event, StreamDecoder};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The name both wire protocols use.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// What to ask a model.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub messages: Vec<Message>,
    /// The longest answer, in tokens.
    pub max_tokens: u32,
    /// Sampling temperature; the provider's default if `None`.
    pub temperature: Option<f32>,
    /// Ask for a JSON object as the answer where the API has a switch for it
    /// (OpenAI-compatible: `response_format`); Anthropic's has none, so there
    /// the prompt must ask for JSON.
    pub json: bool,
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub text: String,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    /// The model that answered, as the provider names it (the configured model
    /// if the response does not say).
    pub model: String,
}

/// Why a completion failed. Each `Display` is one sentence, and none contains
/// the API key (server text is scrubbed of it and cut to 300 characters).
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// 401 or 403: the key is missing, wrong, or lacks access.
    #[error("{provider} rejected the credentials (HTTP {status}): {detail}")]
    Unauthorized {
        provider: String,
        status: u16,
        detail: String,
    },
    /// 429, still after the retries.
    #[error("the provider is rate-limiting requests (HTTP 429){}", retry_hint(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx (still, after the retries for those worth retrying).
    #[error("the provider failed with a server error (HTTP {status}): {detail}")]
    Server { status: u16, detail: String },
    /// Any other refusal (4xx other than 401, 403, 429; or a redirect).
    #[error("the provider refused the request (HTTP {status}): {detail}")]
    BadRequest { status: u16, detail: String },
    /// No whole answer within the configured timeout (on the last attempt).
    #[error("the provider did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),
    /// The provider could not be reached, or the connection broke.
    #[error("could not reach the provider: {0}")]
    Network(String),
    /// A success status with a body that is not the expected answer.
    #[error("the provider's answer was not understood: {0}")]
    Malformed(String),
    /// The config cannot work (bad base URL, a key that cannot be a header, …).
    #[error("the provider is misconfigured: {0}")]
    Config(String),
}

fn retry_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!("; it asked to wait {}", humantime::format_duration(*wait)),
        None => "; try again later".to_owned(),
    }
}

/// A chat model behind an API.
pub trait Provider: Send + Sync + fmt::Debug {
    /// Which provider, e.g. "openai", "anthropic", "openrouter", "ollama".
    fn name(&self) -> &str;
    /// The configured model.
    fn model(&self) -> &str;
    /// Asks the model, retrying per the config's [`RetryPolicy`].
    fn complete<'a>(
        &'a self,
        request: &'a CompletionRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Completion, ProviderError>> + Send + 'a>>;
    /// [`Provider::complete`], with the answer's text passed to `sink` as the
    /// model writes it. A provider that cannot stream passes nothing; the
    /// completion is the same either way.
    fn complete_streaming<'a>(
        &'a self,
        request: &'a CompletionRequest,
        sink: &'a dyn TextSink,
    ) -> Pin<Box<dyn Future<Output = Result<Completion, ProviderError>> + Send + 'a>> {
        let _ = sink;
        self.complete(request)
    }
}

/// The provider of commands that never ask a model (`clambot clams run`):
/// when none is configured, every request fails with a configuration error
/// instead of the command refusing to start.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unconfigured;

impl Provider for Unconfigured {
    fn name(&self) -> &str {
        "none"
    }

    fn model(&self) -> &str {
        "none"
    }

    fn complete<'a>(
        &'a self,
        _request: &'a CompletionRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Completion, ProviderError>> + Send + 'a>> {
        Box::pin(async {
            Err(ProviderError::Config(
                "no model provider is configured (see `clambot status`)".into(),
            ))
        })
    }
}

/// Which wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `POST {base}/chat/completions`, `Authorization: Bearer`.
    OpenAiCompatible,
    /// `POST {base}/v1/messages`, `x-api-key`.
    Anthropic,
}

/// An API key. Its `Debug` shows no value, so it cannot slip into a log.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key, without surrounding whitespace (a pasted key often has a newline).
    pub fn new(key: impl Into<String>) -> Self {
        let key = key.into();
        Self(key.trim().to_owned())
    }

    /// The key, for the one place that needs it: the header sent on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([REDACTED])")
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

/// Everything needed to make a [`Provider`].
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    pub kind: Kind,
    /// The provider's name, for errors and logs ("openai", "groq", …).
    pub name: String,
    /// For [`Kind::OpenAiCompatible`] the part before `/chat/completions`
    /// (e.g. `https://api.openai.com/v1`); for [`Kind::Anthropic`] the part
    /// before `/v1/messages` (e.g. `https://api.anthropic.com`).
    pub base_url: String,
    /// Sent if present (a local server may need none).
    pub api_key: Option<ApiKey>,
    pub model: String,
    /// The bound on each attempt, from connecting to the last byte of the body.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

/// The per-attempt timeout [`from_env`] sets: models can take a while to write
/// a long answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Makes the provider `config` describes.
pub fn build(config: ProviderConfig) -> Result<Box<dyn Provider>, ProviderError> {
    Ok(match config.kind {
        Kind::OpenAiCompatible => Box::new(OpenAiCompatible::new(config)?),
        Kind::Anthropic => Box::new(Anthropic::new(config)?),
    })
}

/// A provider [`from_env`] knows by name.
struct Preset {
    name: &'static str,
    kind: Kind,
    /// Its presence picks this provider when `CLAMBOT_PROVIDER` is not set.
    detect_var: &'static str,
    key_var: Option<&'static str>,
    base_var: Option<&'static str>,
    default_base: &'static str,
    default_model: &'static str,
}

/// In the order [`from_env`] tries them.
const PRESETS: &[Preset] = &[
    Preset {
        name: "anthropic",
        kind: Kind::Anthropic,
        detect_var: "ANTHROPIC_API_KEY",
        key_var: Some("ANTHROPIC_API_KEY"),
        base_var: Some("ANTHROPIC_BASE_URL"),
        default_base: "https://api.anthropic.com",
        default_model: "claude-sonnet-4-5",
    },
    Preset {
        name: "openai",
        kind: Kind::OpenAiCompatible,
        detect_var: "OPENAI_API_KEY",
        key_var: Some("OPENAI_API_KEY"),
        base_var: Some("OPENAI_BASE_URL"),
        default_base: "https://api.openai.com/v1",
        default_model: "gpt-4.1-mini",
    },
    Preset {
        name: "openrouter",
        kind: Kind::OpenAiCompatible,
        detect_var: "OPENROUTER_API_KEY",
        key_var: Some("OPENROUTER_API_KEY"),
        base_var: None,
        default_base: "https://openrouter.ai/api/v1",
        default_model: "openai/gpt-4.1-mini",
    },
    Preset {
        name: "deepseek",
        kind: Kind::OpenAiCompatible,
        detect_var: "DEEPSEEK_API_KEY",
        key_var: Some("DEEPSEEK_API_KEY"),
        base_var: None,
        default_base: "https://api.deepseek.com/v1",
        default_model: "deepseek-chat",
    },
    Preset {
        name: "groq",
        kind: Kind::OpenAiCompatible,
        detect_var: "GROQ_API_KEY",
        key_var: Some("GROQ_API_KEY"),
        base_var: None,
        default_base: "https://api.groq.com/openai/v1",
        default_model: "llama-3.3-70b-versatile",
    },
    Preset {
        name: "gemini",
        kind: Kind::OpenAiCompatible,
        detect_var: "GEMINI_API_KEY",
        key_var: Some("GEMINI_API_KEY"),
        base_var: None,
        default_base: "https://generativelanguage.googleapis.com/v1beta/openai",
        default_model: "gemini-2.5-flash",
    },
    Preset {
        name: "ollama",
        kind: Kind::OpenAiCompatible,
        detect_var: "OLLAMA_BASE_URL",
        key_var: None,
        base_var: Some("OLLAMA_BASE_URL"),
        default_base: "http://localhost:11434/v1",
        default_model: "llama3.2",
    },
];

/// The names `CLAMBOT_PROVIDER` accepts, in the order [`from_env`] tries them.
pub const PROVIDER_NAMES: &[&str] = &[
    "anthropic",
    "openai",
    "openrouter",
    "deepseek",
    "groq",
    "gemini",
    "ollama",
];

/// Picks a provider from the environment, read through `lookup` (so tests need
/// not touch the process environment; pass `|k| std::env::var(k).ok()`).
/// Empty values count as unset.
///
/// `CLAMBOT_PROVIDER`, if set, names the provider (case-insensitive; see
/// [`PROVIDER_NAMES`]); its key is then optional, so `CLAMBOT_PROVIDER=openai`
/// with `OPENAI_BASE_URL` reaches a local server that wants none. An unknown
/// name gives `None`. Otherwise the first of these that is set picks:
///
/// | variable | provider | base URL | default model |
/// |---|---|---|---|
/// | `ANTHROPIC_API_KEY` | anthropic | `ANTHROPIC_BASE_URL`, else `https://api.anthropic.com` | `claude-sonnet-4-5` |
/// | `OPENAI_API_KEY` | openai | `OPENAI_BASE_URL`, else `https://api.openai.com/v1` | `gpt-4.1-mini` |
/// | `OPENROUTER_API_KEY` | openrouter | `https://openrouter.ai/api/v1` | `openai/gpt-4.1-mini` |
/// | `DEEPSEEK_API_KEY` | deepseek | `https://api.deepseek.com/v1` | `deepseek-chat` |
/// | `GROQ_API_KEY` | groq | `https://api.groq.com/openai/v1` | `llama-3.3-70b-versatile` |
/// | `GEMINI_API_KEY` | gemini | `https://generativelanguage.googleapis.com/v1beta/openai` | `gemini-2.5-flash` |
/// | `OLLAMA_BASE_URL` (no key) | ollama | its value, e.g. `http://localhost:11434/v1` | `llama3.2` |
///
/// `CLAMBOT_MODEL` overrides the model. The timeout is [`DEFAULT_TIMEOUT`] and
/// the retry policy [`RetryPolicy::default`]. `None` if nothing is set.
pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Option<ProviderConfig> {
    let get = |name: &str| {
        lookup(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    let preset = match get("CLAMBOT_PROVIDER") {
        Some(choice) => PRESETS
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(&choice))?,
        None => PRESETS.iter().find(|p| get(p.detect_var).is_some())?,
    };
    let base_url = preset
        .base_var
        .and_then(get)
        .unwrap_or_else(|| preset.default_base.to_owned());
    Some(ProviderConfig {
        kind: preset.kind,
        name: preset.name.to_owned(),
        base_url,
        api_key: preset.key_var.and_then(get).map(ApiKey::new),
        model: get("CLAMBOT_MODEL").unwrap_or_else(|| preset.default_model.to_owned()),
        timeout: DEFAULT_TIMEOUT,
        retry: RetryPolicy::default(),
    })
}

/// The config for the provider named `name` (see [`PROVIDER_NAMES`]) with its
/// default base URL and model, and its key read through `lookup` from the
/// preset's variable. `None` for an unknown name.
pub fn preset(name: &str, lookup: impl Fn(&str) -> Option<String>) -> Option<ProviderConfig> {
    let preset = PRESETS.iter().find(|p| p.name.eq_ignore_ascii_case(name))?;
    let get = |var: &str| {
        lookup(var)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    };
    Some(ProviderConfig {
        kind: preset.kind,
        name: preset.name.to_owned(),
        base_url: preset
            .base_var
            .and_then(get)
            .unwrap_or_else(|| preset.default_base.to_owned()),
        api_key: preset.key_var.and_then(get).map(ApiKey::new),
        model: preset.default_model.to_owned(),
        timeout: DEFAULT_TIMEOUT,
        retry: RetryPolicy::default(),
    })
}

/// The environment variable that holds the key of the provider named `name`.
pub fn key_variable(name: &str) -> Option<&'static str> {
    PRESETS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .and_then(|p| p.key_var)
}

/// The most of a response body read; an answer is far smaller.
const MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;
/// The most of a server's error text kept in an error.
const MAX_DETAIL_CHARS: usize = 300;

/// What both protocols share: one HTTP client, fixed headers, the key (to scrub
/// it from errors), the timeout and the retry loop.
#[derive(Debug)]
struct Transport {
    provider: String,
    client: reqwest::Client,
    /// Includes the authentication header, marked sensitive (its `Debug` is
    /// "Sensitive").
    headers: HeaderMap,
    api_key: Option<ApiKey>,
    timeout: Duration,
    retry: RetryPolicy,
}

impl Transport {
    /// `auth` is the header that carries the key, and how its value is made.
    fn new(
        config: &ProviderConfig,
        auth: (HeaderName, fn(&str) -> String),
        mut headers: HeaderMap,
    ) -> Result<Self, ProviderError> {
        match reqwest::Url::parse(&config.base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            Ok(_) => {
                return Err(ProviderError::Config(format!(
                    "the base URL {:?} is not http or https",
                    config.base_url
                )));
            }
            Err(error) => {
                return Err(ProviderError::Config(format!(
                    "the base URL {:?} is not a URL ({error})",
                    config.base_url
                )));
            }
        }
        if config.timeout.is_zero() {
            return Err(ProviderError::Config("the timeout is zero".to_owned()));
        }
        if let Some(key) = &config.api_key {
            let (name, value) = auth;
            let mut value = HeaderValue::from_str(&value(key.expose())).map_err(|_| {
                ProviderError::Config(
                    "the API key has characters that cannot be sent in an HTTP header".to_owned(),
                )
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        headers.insert(
            reqwest::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let client = crate::net::client::build(&crate::net::client::ClientOptions {
            timeout: Some(config.timeout),
            ..Default::default()
        })
        .map_err(|error| {
            ProviderError::Config(format!("cannot set up the HTTP client: {error}"))
        })?;
        Ok(Self {
            provider: config.name.clone(),
            client,
            headers,
            api_key: config.api_key.clone(),
            timeout: config.timeout,
            retry: config.retry,
        })
    }

    /// POSTs `body` to `url` until a success with a JSON body, retrying as the
    /// policy says.
    async fn post_json(&self, url: &str, body: Vec<u8>) -> Result<Value, ProviderError> {
        self.retry.run(|| self.attempt(url, &body)).await
    }

    async fn attempt(&self, url: &str, body: &[u8]) -> Result<Value, Failure> {
        let exchange = async {
            let response = self.send(url, body).await?;
            let head = Head::of(&response);
            let bytes = self.read(response).await?;
            self.judge(&head, &bytes)
        };
        self.within_timeout(exchange).await
    }

    /// POSTs a streaming request, passing the answer's text to `sink` as it
    /// comes, until a whole answer arrives (retrying as the policy says; `sink`
    /// is restarted before each attempt). A server that answers with a JSON
    /// body instead of events gives [`Streamed::Whole`].
    async fn post_streaming<D: StreamDecoder>(
        &self,
        url: &str,
        body: Vec<u8>,
        sink: &dyn TextSink,
        decoder: impl Fn() -> D,
        configured_model: &str,
    ) -> Result<Streamed, ProviderError> {
        self.retry
            .run(|| {
                sink.restart();
                self.streaming_attempt(url, &body, sink, decoder(), configured_model)
            })
            .await
    }

    async fn streaming_attempt<D: StreamDecoder>(
        &self,
        url: &str,
        body: &[u8],
        sink: &dyn TextSink,
        mut decoder: D,
        configured_model: &str,
    ) -> Result<Streamed, Failure> {
        use eventsource_stream::Eventsource;
        use futures_util::StreamExt;
        let exchange = async {
            let response = self.send(url, body).await?;
            let head = Head::of(&response);
            if !head.status.is_success() || !head.event_stream {
                let bytes = self.read(response).await?;
                return self.judge(&head, &bytes).map(Streamed::Whole);
            }
            // Counted as it comes: the same cap as a whole answer.
            let mut read: u64 = 0;
            let body = response.bytes_stream().map(move |chunk| {
                let chunk = chunk.map_err(StreamBroke::Transport)?;
                read += chunk.len() as u64;
                if read > MAX_BODY_BYTES {
                    return Err(StreamBroke::TooLarge);
                }
                Ok(chunk)
            });
            let mut events = body.eventsource();
            while let Some(event) = events.next().await {
                let event = event.map_err(|error| match error {
                    eventsource_stream::EventStreamError::Transport(StreamBroke::Transport(e)) => {
                        self.transport_failure(e)
                    }
                    eventsource_stream::EventStreamError::Transport(StreamBroke::TooLarge) => {
                        too_large()
                    }
                    other => Failure::fatal(ProviderError::Malformed(format!(
                        "the answer's event stream is broken ({})",
                        self.clean(&other.to_string())
                    ))),
                })?;
                match decoder.event(&event.event, &event.data) {
                    Ok(Event::Text(text)) => sink.push(&text),
                    Ok(Event::Nothing) => {}
                    Ok(Event::End) => {
                        return Ok(Streamed::Events(decoder.finish(configured_model)));
                    }
                    Ok(Event::Failed { status, body }) => {
                        return Err(self.status_failure(status, None, body.as_bytes()));
                    }
                    Err(why) => {
                        return Err(Failure::fatal(ProviderError::Malformed(self.clean(&why))));
                    }
                }
            }
            // No end event: the connection broke off mid-answer.
            Err(Failure::transient(
                ProviderError::Network("the answer's stream ended before the answer did".into()),
                None,
            ))
        };
        self.within_timeout(exchange).await
    }

    async fn send(&self, url: &str, body: &[u8]) -> Result<reqwest::Response, Failure> {
        self.client
            .post(url)
            .headers(self.headers.clone())
            .body(body.to_vec())
            .send()
            .await
            .map_err(|error| self.transport_failure(error))
    }

    async fn read(&self, response: reqwest::Response) -> Result<Vec<u8>, Failure> {
        crate::net::client::read_body(response, MAX_BODY_BYTES)
            .await
            .map_err(|error| match error {
                BodyError::Transport(error) => self.transport_failure(error),
                BodyError::TooLarge { .. } => too_large(),
            })
    }

    /// reqwest's timeout covers the body too; this is a second, outer bound.
    async fn within_timeout<T>(
        &self,
        exchange: impl Future<Output = Result<T, Failure>>,
    ) -> Result<T, Failure> {
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Failure::transient(
                ProviderError::Timeout(self.timeout),
                None,
            )),
        }
    }

    /// A whole response: its JSON body if it is a success, else why not.
    fn judge(&self, head: &Head, bytes: &[u8]) -> Result<Value, Failure> {
        let status = head.status;
        if status.is_redirection() {
            let detail = match &head.location {
                Some(to) => format!("redirected to {to}; set the base URL to where it points"),
                None => "redirected; set the base URL to where it points".to_owned(),
            };
            return Err(Failure::fatal(ProviderError::BadRequest {
                status: status.as_u16(),
                detail: self.clean(&detail),
            }));
        }
        if !status.is_success() {
            return Err(self.status_failure(status.as_u16(), head.retry_after, bytes));
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|error| {
            Failure::fatal(ProviderError::Malformed(format!(
                "the body is not JSON ({error}): {}",
                self.clean(&String::from_utf8_lossy(bytes))
            )))
        })?;
        // Some gateways (OpenRouter, for one) report an upstream failure as a
        // 200 whose body is an error; treat it as the status it names.
        if value.get("error").is_some_and(|e| !e.is_null()) {
            let status = value
                .pointer("/error/code")
                .and_then(Value::as_u64)
                .and_then(|code| u16::try_from(code).ok())
                .filter(|code| (400..=599).contains(code))
                .unwrap_or(502);
            return Err(self.status_failure(status, head.retry_after, bytes));
        }
        Ok(value)
    }

    fn transport_failure(&self, error: reqwest::Error) -> Failure {
        if error.is_timeout() {
            return Failure::transient(ProviderError::Timeout(self.timeout), None);
        }
        if error.is_builder() {
            return Failure::fatal(ProviderError::Config(
                self.clean(&crate::net::client::describe(&error, &[])),
            ));
        }
        Failure::transient(
            ProviderError::Network(self.clean(&crate::net::client::describe(&error, &[]))),
            None,
        )
    }

    fn status_failure(&self, status: u16, retry_after: Option<Duration>, body: &[u8]) -> Failure {
        let detail = self.clean(&error_detail(status, body));
        match status {
            401 | 403 => {
                let detail = if self.api_key.is_none() {
                    format!("no API key was sent; {detail}")
                } else {
                    detail
                };
                Failure::fatal(ProviderError::Unauthorized {
                    provider: self.provider.clone(),
                    status,
                    detail,
                })
            }
            429 => Failure::transient(ProviderError::RateLimited { retry_after }, retry_after),
            500 | 502 | 504 => Failure::transient(ProviderError::Server { status, detail }, None),
            503 | 529 => Failure::transient(ProviderError::Server { status, detail }, retry_after),
            500..=599 => Failure::fatal(ProviderError::Server { status, detail }),
            _ => Failure::fatal(ProviderError::BadRequest { status, detail }),
        }
    }

    /// Server text made fit for an error: the key scrubbed out, whitespace
    /// collapsed to single spaces, at most [`MAX_DETAIL_CHARS`] characters.
    fn clean(&self, text: &str) -> String {
        let scrub = |text: &str| match &self.api_key {
            Some(key) if !key.expose().is_empty() => text.replace(key.expose(), "[REDACTED]"),
            _ => text.to_owned(),
        };
        let text = scrub(&scrub(text).split_whitespace().collect::<Vec<_>>().join(" "));
        if text.chars().count() <= MAX_DETAIL_CHARS {
            return text;
        }
        let mut cut: String = text.chars().take(MAX_DETAIL_CHARS - 1).collect();
        cut.push('…');
        cut
    }
}

/// What a response's head says, read before its body.
struct Head {
    status: StatusCode,
    retry_after: Option<Duration>,
    location: Option<String>,
    /// `Content-Type: text/event-stream`.
    event_stream: bool,
}

impl Head {
    fn of(response: &reqwest::Response) -> Self {
        let headers = response.headers();
        Self {
            status: response.status(),
            retry_after: retry_after(headers),
            location: headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            event_stream: headers
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.trim_start()
                        .to_ascii_lowercase()
                        .starts_with("text/event-stream")
                }),
        }
    }
}

/// How a streaming request ended well.
enum Streamed {
    /// Events, read into the answer.
    Events(Completion),
    /// An ordinary JSON body (the server does not stream).
    Whole(Value),
}

/// Why the event stream's body stopped.
#[derive(Debug, thiserror::Error)]
enum StreamBroke {
    #[error("the connection failed")]
    Transport(reqwest::Error),
    #[error("the body is too large")]
    TooLarge,
}

fn too_large() -> Failure {
    Failure::fatal(ProviderError::Malformed(format!(
        "the response body is larger than {MAX_BODY_BYTES} bytes"
    )))
}

/// `Retry-After` in (possibly fractional) seconds; the HTTP-date form is ignored.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let seconds: f64 = value.trim().parse().ok()?;
    Duration::try_from_secs_f64(seconds).ok()
}

/// What a failed response says went wrong: the message of an OpenAI- or
/// Anthropic-style error body (with its type, if any), else the raw body, else
/// the status's reason.
fn error_detail(status: u16, body: &[u8]) -> String {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        let error = value.get("error");
        let message = error
            .and_then(|e| e.get("message"))
            .or_else(|| error.filter(|e| e.is_string()))
            .or_else(|| value.get("message"))
            .or_else(|| value.get("detail"))
            .and_then(Value::as_str);
        if let Some(message) = message {
            return match error.and_then(|e| e.get("type")).and_then(Value::as_str) {
                Some(kind) if !kind.is_empty() => format!("{message} ({kind})"),
                _ => message.to_owned(),
            };
        }
    }
    let text = String::from_utf8_lossy(body);
    if !text.trim().is_empty() {
        return text.into_owned();
    }
    StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("no detail given")
        .to_owned()
}
