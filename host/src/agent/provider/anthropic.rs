//! Anthropic's Messages API: `POST {base}/v1/messages`, the key as `x-api-key`.
//!
//! The API takes the system prompt apart from the conversation, and wants the
//! conversation to alternate between user and assistant: system messages are
//! joined (with blank lines) into `system`, and consecutive messages of the same
//! role are merged (with blank lines) into one.

use std::future::Future;
use std::pin::Pin;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::Value;

use super::stream::{self, Event, StreamDecoder, TextSink};
use super::{
    Completion, CompletionRequest, Message, Provider, ProviderConfig, ProviderError, Role,
    Streamed, Transport,
};

/// The API version this module speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A provider that speaks Anthropic's Messages API.
#[derive(Debug)]
pub struct Anthropic {
    name: String,
    model: String,
    endpoint: String,
    transport: Transport,
}

impl Anthropic {
    pub fn new(config: ProviderConfig) -> Result<Self, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        let transport = Transport::new(
            &config,
            (HeaderName::from_static("x-api-key"), str::to_owned),
            headers,
        )?;
        Ok(Self {
            endpoint: format!("{}/v1/messages", config.base_url.trim_end_matches('/')),
            name: config.name,
            model: config.model,
            transport,
        })
    }

    fn body(&self, request: &CompletionRequest, stream: bool) -> Result<Vec<u8>, ProviderError> {
        let (system, messages) = split(&request.messages);
        let body = MessagesRequest {
            model: &self.model,
            max_tokens: request.max_tokens,
            system,
            messages,
            temperature: request.temperature,
            stream,
        };
        serde_json::to_vec(&body).map_err(|error| {
            ProviderError::Malformed(format!("cannot encode the request: {error}"))
        })
    }

    async fn ask(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let body = self.body(request, false)?;
        let value = self.transport.post_json(&self.endpoint, body).await?;
        parse(&value, &self.model)
    }

    async fn ask_streaming(
        &self,
        request: &CompletionRequest,
        sink: &dyn TextSink,
    ) -> Result<Completion, ProviderError> {
        let body = self.body(request, true)?;
        match self
            .transport
            .post_streaming(&self.endpoint, body, sink, Events::default, &self.model)
            .await?
        {
            Streamed::Events(completion) => Ok(completion),
            Streamed::Whole(value) => parse(&value, &self.model),
        }
    }
}

impl Provider for Anthropic {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn complete<'a>(
        &'a self,
        request: &'a CompletionRequest,
    ) -> Pin<Box<dyn Future<Output = Result<Completion, ProviderError>> + Send + 'a>> {
        Box::pin(self.ask(request))
    }

    fn complete_streaming<'a>(
        &'a self,
        request: &'a CompletionRequest,
        sink: &'a dyn TextSink,
    ) -> Pin<Box<dyn Future<Output = Result<Completion, ProviderError>> + Send + 'a>> {
        Box::pin(self.ask_streaming(request, sink))
    }
}

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<Turn>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize, Debug, PartialEq, Eq)]
struct Turn {
    role: &'static str,
    content: String,
}

/// The system prompt (all system messages, in order, joined by blank lines), and
/// the rest with runs of one role merged into one message.
fn split(messages: &[Message]) -> (Option<String>, Vec<Turn>) {
    let system: Vec<&str> = messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.as_str())
        .collect();
    let mut turns: Vec<Turn> = Vec::new();
    for message in messages.iter().filter(|m| m.role != Role::System) {
        let role = message.role.as_str();
        match turns.last_mut() {
            Some(last) if last.role == role => {
                last.content.push_str("\n\n");
                last.content.push_str(&message.content);
            }
            _ => turns.push(Turn {
                role,
                content: message.content.clone(),
            }),
        }
    }
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    (system, turns)
}

/// A streamed message: `message_start` (model, input tokens), text in
/// `content_block_delta` events (`text_delta`), `message_delta` (output
/// tokens), then `message_stop`; `ping`s in between, and an `error` event for a
/// failure after the stream began (e.g. `overloaded_error`).
#[derive(Debug, Default)]
struct Events {
    text: String,
    model: Option<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

impl StreamDecoder for Events {
    fn event(&mut self, name: &str, data: &str) -> Result<Event, String> {
        let event = stream::json(data)?;
        let kind = event.get("type").and_then(Value::as_str).unwrap_or(name);
        match kind {
            "message_start" => {
                let message = event.get("message");
                if let Some(model) = message
                    .and_then(|m| m.get("model"))
                    .and_then(Value::as_str)
                    .filter(|m| !m.is_empty())
                {
                    self.model = Some(model.to_owned());
                }
                self.input_tokens = message
                    .and_then(|m| m.pointer("/usage/input_tokens"))
                    .and_then(Value::as_u64);
                Ok(Event::Nothing)
            }
            "content_block_delta" => match event.pointer("/delta/type").and_then(Value::as_str) {
                Some("text_delta") => {
                    let text = event
                        .pointer("/delta/text")
                        .and_then(Value::as_str)
                        .ok_or("a text_delta event has no text")?;
                    self.text.push_str(text);
                    Ok(Event::Text(text.to_owned()))
                }
                _ => Ok(Event::Nothing),
            },
            "message_delta" => {
                if let Some(tokens) = event
                    .pointer("/usage/output_tokens")
                    .and_then(Value::as_u64)
                {
                    self.output_tokens = Some(tokens);
                }
                Ok(Event::Nothing)
            }
            "message_stop" => Ok(Event::End),
            "error" => Ok(Event::Failed {
                status: error_status(
                    event
                        .pointer("/error/type")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                ),
                body: data.to_owned(),
            }),
            _ => Ok(Event::Nothing),
        }
    }

    fn finish(self, configured_model: &str) -> Completion {
        Completion {
            text: self.text,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            model: self.model.unwrap_or_else(|| configured_model.to_owned()),
        }
    }
}

/// The HTTP status an error type inside a stream stands for (Anthropic's
/// error types map one to one onto statuses), so it is retried or not the same.
fn error_status(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "overloaded_error" => 529,
        _ => 500,
    }
}

/// The text blocks of `content`, concatenated, and the usage.
fn parse(value: &Value, configured_model: &str) -> Result<Completion, ProviderError> {
    let content = value
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::Malformed("the response has no content array".into()))?;
    let text = content
        .iter()
        .filter(|block| block.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|block| block.get("text").and_then(Value::as_str))
        .collect();
    Ok(Completion {
        text,
        input_tokens: value.pointer("/usage/input_tokens").and_then(Value::as_u64),
        output_tokens: value
            .pointer("/usage/output_tokens")
            .and_then(Value::as_u64),
        model: value
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .unwrap_or(configured_model)
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_moves_system_out_and_merges_runs() {
        let (system, turns) = split(&[
            Message::system("be brief"),
            Message::user("a"),
            Message::user("b"),
            Message::system("no emoji"),
            Message::assistant("c"),
            Message::assistant("d"),
            Message::user("e"),
        ]);
        assert_eq!(system.as_deref(), Some("be brief\n\nno emoji"));
        let turns: Vec<(&str, &str)> = turns.iter().map(|t| (t.role, t.content.as_str())).collect();
        assert_eq!(
            turns,
            [("user", "a\n\nb"), ("assistant", "c\n\nd"), ("user", "e")]
        );
    }

    #[test]
    fn split_without_system_has_none() {
        let (system, turns) = split(&[Message::user("hi")]);
        assert_eq!(system, None);
        assert_eq!(turns.len(), 1);
    }
}
