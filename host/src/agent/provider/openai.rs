//! OpenAI's chat completions: `POST {base}/chat/completions`, the key as
//! `Authorization: Bearer`. Spoken by OpenAI, OpenRouter, DeepSeek, Groq,
//! Gemini's compatibility endpoint, Ollama, and most local servers.

use std::future::Future;
use std::pin::Pin;

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::Serialize;
use serde_json::Value;

use super::{Completion, CompletionRequest, Provider, ProviderConfig, ProviderError, Transport};

/// A provider that speaks OpenAI's chat completions.
#[derive(Debug)]
pub struct OpenAiCompatible {
    name: String,
    model: String,
    endpoint: String,
    transport: Transport,
}

impl OpenAiCompatible {
    pub fn new(config: ProviderConfig) -> Result<Self, ProviderError> {
        let transport = Transport::new(
            &config,
            (AUTHORIZATION, |key| format!("Bearer {key}")),
            HeaderMap::new(),
        )?;
        Ok(Self {
            endpoint: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
            name: config.name,
            model: config.model,
            transport,
        })
    }

    async fn ask(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let body = ChatRequest {
            model: &self.model,
            messages: request
                .messages
                .iter()
                .map(|m| ChatMessage {
                    role: m.role.as_str(),
                    content: &m.content,
                })
                .collect(),
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            response_format: request.json.then_some(ResponseFormat {
                kind: "json_object",
            }),
        };
        let body = serde_json::to_vec(&body).map_err(|error| {
            ProviderError::Malformed(format!("cannot encode the request: {error}"))
        })?;
        let value = self.transport.post_json(&self.endpoint, body).await?;
        parse(&value, &self.model, &self.transport)
    }
}

impl Provider for OpenAiCompatible {
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
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormat>,
}

#[derive(Serialize)]
struct ChatMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct ResponseFormat {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `choices[0].message.content` (a string, or text parts) and the usage.
fn parse(
    value: &Value,
    configured_model: &str,
    transport: &Transport,
) -> Result<Completion, ProviderError> {
    let message = value
        .pointer("/choices/0/message")
        .ok_or_else(|| ProviderError::Malformed("the response has no choices[0].message".into()))?;
    let text = match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
        _ => {
            let why = match message.get("refusal").and_then(Value::as_str) {
                Some(refusal) => format!("the model refused: {}", transport.clean(refusal)),
                None => match value
                    .pointer("/choices/0/finish_reason")
                    .and_then(Value::as_str)
                {
                    Some(reason) => {
                        format!("choices[0].message has no text (finish_reason {reason:?})")
                    }
                    None => "choices[0].message has no text".to_owned(),
                },
            };
            return Err(ProviderError::Malformed(why));
        }
    };
    Ok(Completion {
        text,
        input_tokens: value
            .pointer("/usage/prompt_tokens")
            .and_then(Value::as_u64),
        output_tokens: value
            .pointer("/usage/completion_tokens")
            .and_then(Value::as_u64),
        model: value
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .unwrap_or(configured_model)
            .to_owned(),
    })
}
