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

use super::{
    Completion, CompletionRequest, Message, Provider, ProviderConfig, ProviderError, Role,
    Transport,
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

    async fn ask(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let (system, messages) = split(&request.messages);
        let body = MessagesRequest {
            model: &self.model,
            max_tokens: request.max_tokens,
            system,
            messages,
            temperature: request.temperature,
        };
        let body = serde_json::to_vec(&body).map_err(|error| {
            ProviderError::Malformed(format!("cannot encode the request: {error}"))
        })?;
        let value = self.transport.post_json(&self.endpoint, body).await?;
        parse(&value, &self.model)
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
