//! OpenAI's chat completions: `POST {base}/chat/completions`, the key as
//! `Authorization: Bearer`. Spoken by OpenAI, OpenRouter, DeepSeek, Groq,
//! Gemini's compatibility endpoint, Ollama, and most local servers.

use std::future::Future;
use std::pin::Pin;

use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::Serialize;
use serde_json::Value;

use super::stream::{self, Event, StreamDecoder, TextSink};
use super::{
    Completion, CompletionRequest, Provider, ProviderConfig, ProviderError, Streamed, Transport,
};

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

    fn body(&self, request: &CompletionRequest, stream: bool) -> Result<Vec<u8>, ProviderError> {
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
            stream,
        };
        serde_json::to_vec(&body).map_err(|error| {
            ProviderError::Malformed(format!("cannot encode the request: {error}"))
        })
    }

    async fn ask(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let body = self.body(request, false)?;
        let value = self.transport.post_json(&self.endpoint, body).await?;
        parse(&value, &self.model, &self.transport)
    }

    async fn ask_streaming(
        &self,
        request: &CompletionRequest,
        sink: &dyn TextSink,
    ) -> Result<Completion, ProviderError> {
        let body = self.body(request, true)?;
        match self
            .transport
            .post_streaming(&self.endpoint, body, sink, Chunks::default, &self.model)
            .await?
        {
            Streamed::Events(completion) => Ok(completion),
            Streamed::Whole(value) => parse(&value, &self.model, &self.transport),
        }
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

    fn complete_streaming<'a>(
        &'a self,
        request: &'a CompletionRequest,
        sink: &'a dyn TextSink,
    ) -> Pin<Box<dyn Future<Output = Result<Completion, ProviderError>> + Send + 'a>> {
        Box::pin(self.ask_streaming(request, sink))
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
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
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

/// A streamed chat completion: `data:` chunks whose `choices[0].delta.content`
/// is the next piece of text, then `data: [DONE]`. Usage comes in a chunk of
/// its own when the server sends it (it is optional here).
#[derive(Debug, Default)]
struct Chunks {
    text: String,
    model: Option<String>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

impl StreamDecoder for Chunks {
    fn event(&mut self, _name: &str, data: &str) -> Result<Event, String> {
        if data.trim() == "[DONE]" {
            return Ok(Event::End);
        }
        let chunk = stream::json(data)?;
        // A failure upstream, reported inside the stream (as OpenRouter does).
        if chunk.get("error").is_some_and(|e| !e.is_null()) {
            let status = chunk
                .pointer("/error/code")
                .and_then(Value::as_u64)
                .and_then(|code| u16::try_from(code).ok())
                .filter(|code| (400..=599).contains(code))
                .unwrap_or(502);
            return Ok(Event::Failed {
                status,
                body: data.to_owned(),
            });
        }
        if let Some(model) = chunk.get("model").and_then(Value::as_str)
            && !model.is_empty()
        {
            self.model = Some(model.to_owned());
        }
        if let Some(usage) = chunk.get("usage").filter(|u| !u.is_null()) {
            self.input_tokens = usage.get("prompt_tokens").and_then(Value::as_u64);
            self.output_tokens = usage.get("completion_tokens").and_then(Value::as_u64);
        }
        let delta = chunk.pointer("/choices/0/delta");
        if let Some(refusal) = delta
            .and_then(|d| d.get("refusal"))
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            return Err(format!("the model refused: {refusal}"));
        }
        match delta.and_then(|d| d.get("content")).and_then(Value::as_str) {
            Some(text) if !text.is_empty() => {
                self.text.push_str(text);
                Ok(Event::Text(text.to_owned()))
            }
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
