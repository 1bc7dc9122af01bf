//! The slice of the Telegram Bot API the gateway uses, over reqwest.
//!
//! Why not teloxide: the gateway needs eight methods, its own polling loop
//! (bounded shutdown, per-update access control before anything else runs) and
//! a configurable base URL for the fake API in tests. A typed client of that
//! size is smaller than teloxide's dependency tree and keeps every request in
//! view. The token is only ever part of the URL path of requests to the
//! configured API; it is never logged, and errors are scrubbed of it.

use std::time::Duration;

use anyhow::{Result, bail};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

/// The most an answer from the Bot API may be (a full getUpdates batch is far smaller).
const MAX_ANSWER_BYTES: u64 = 32 * 1024 * 1024;

/// Telegram would otherwise fetch the first URL of a message to render a
/// preview: a request to a URL a script, a cron job or an approval question
/// named, made by Telegram on the bot's behalf and outside the gate. Every
/// message the bot sends or edits turns previews off.
fn no_link_preview() -> Json {
    json!({"is_disabled": true})
}

/// A Bot API client.
#[derive(Clone)]
pub struct BotApi {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: i64,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    pub id: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Document {
    pub file_id: String,
    #[serde(default)]
    pub file_name: Option<String>,
    #[serde(default)]
    pub file_size: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub message_id: i64,
    pub chat: Chat,
    #[serde(default)]
    pub from: Option<User>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub document: Option<Document>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CallbackQuery {
    pub id: String,
    pub from: User,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub data: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Update {
    pub update_id: i64,
    #[serde(default)]
    pub message: Option<Message>,
    #[serde(default)]
    pub callback_query: Option<CallbackQuery>,
}

#[derive(Debug, Clone, Deserialize)]
struct FileInfo {
    #[serde(default)]
    file_path: Option<String>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    ok: bool,
    #[serde(default = "Option::default")]
    result: Option<T>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    error_code: Option<u16>,
    #[serde(default)]
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize, Default)]
struct ResponseParameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

/// Why a Bot API call failed, classified by what the caller may do next.
/// Every text in here is scrubbed of the bot token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The request never reached Telegram (no connection): retrying cannot double it.
    #[error("Telegram {method}: unreachable: {detail}")]
    Unreachable { method: String, detail: String },
    /// Sent, but no answer came (timeout, dropped connection): the outcome is unknown.
    #[error("Telegram {method}: no answer: {detail}")]
    NoAnswer { method: String, detail: String },
    /// HTTP 5xx: Telegram failed, and may or may not have acted.
    #[error("Telegram {method} failed (HTTP {status}): {description}")]
    Server {
        method: String,
        status: u16,
        description: String,
    },
    /// HTTP 429: not acted on; try again after `retry_after`.
    #[error("Telegram {method}: too many requests (retry after {retry_after:?})")]
    RateLimited {
        method: String,
        retry_after: Option<Duration>,
    },
    /// HTTP 400 "can't parse entities": the MarkdownV2 was refused, nothing was sent.
    #[error("Telegram {method} refused the formatting: {description}")]
    Entities { method: String, description: String },
    /// Any other refusal (4xx): retrying the same request cannot help.
    #[error("Telegram {method} refused (HTTP {status}): {description}")]
    Refused {
        method: String,
        status: u16,
        description: String,
    },
    /// A 2xx answer that is not a Bot API envelope.
    #[error("Telegram {method} (HTTP {status}): unreadable answer")]
    Unreadable { method: String, status: u16 },
    /// An answer larger than [`MAX_ANSWER_BYTES`]: not read further.
    #[error("Telegram {method} (HTTP {status}): the answer is larger than {limit} bytes; not read")]
    TooLarge {
        method: String,
        status: u16,
        limit: u64,
    },
}

impl ApiError {
    /// Worth another try: Telegram did not refuse the request itself.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::NoAnswer { .. }
                | Self::Server { .. }
                | Self::RateLimited { .. }
                | Self::Unreadable { .. }
                | Self::TooLarge { .. }
        )
    }

    /// Telegram certainly did not act on the request (so a retry cannot double it).
    pub fn certainly_not_done(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::RateLimited { .. }
                | Self::Entities { .. }
                | Self::Refused { .. }
        )
    }

    /// `editMessageText` with the text the message already has.
    pub fn is_not_modified(&self) -> bool {
        matches!(self, Self::Refused { status: 400, description, .. }
            if description.to_ascii_lowercase().contains("message is not modified"))
    }
}

/// Classifies a failed answer. `status` is the HTTP status, `body` what came with it.
fn classify(method: &str, status: u16, retry_header: Option<u64>, body: &[u8]) -> ApiError {
    let envelope: Option<Envelope<Json>> = serde_json::from_slice(body).ok();
    let code = envelope
        .as_ref()
        .and_then(|e| e.error_code)
        .filter(|c| (400..600).contains(c))
        .unwrap_or(status);
    // Kept short: it goes into logs and the outbox.
    let description: String = envelope
        .as_ref()
        .and_then(|e| e.description.as_deref())
        .unwrap_or("no description")
        .chars()
        .take(300)
        .collect();
    let method = method.to_owned();
    if code == 429 || status == 429 {
        let retry_after = envelope
            .as_ref()
            .and_then(|e| e.parameters.as_ref())
            .and_then(|p| p.retry_after)
            .or(retry_header)
            // A hostile or broken answer must not make the wait absurd (or overflow).
            .map(|s| Duration::from_secs(s.min(3600)));
        return ApiError::RateLimited {
            method,
            retry_after,
        };
    }
    if code >= 500 || status >= 500 {
        return ApiError::Server {
            method,
            status: code.max(status),
            description,
        };
    }
    if code == 400
        && description
            .to_ascii_lowercase()
            .contains("can't parse entities")
    {
        return ApiError::Entities {
            method,
            description,
        };
    }
    if (400..500).contains(&code) {
        return ApiError::Refused {
            method,
            status: code,
            description,
        };
    }
    ApiError::Unreadable { method, status }
}

/// What one `getUpdates` gave: the updates that parse, and what was skipped.
#[derive(Debug, Clone, Default)]
pub struct Polled {
    pub updates: Vec<Update>,
    /// Updates that did not parse, each described without its content.
    pub skipped: Vec<String>,
    /// The offset that confirms everything in this batch, readable or not.
    pub next_offset: Option<i64>,
}

/// An update id as Telegram writes it (an integer; a numeric string is tolerated).
fn update_id_of(value: &Json) -> Option<i64> {
    let id = value.get("update_id")?;
    id.as_i64()
        .or_else(|| {
            id.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })
        .or_else(|| id.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Decodes a batch one update at a time: one that does not parse is skipped
/// and described (its id, its top-level field names, the kind of error, never
/// a value), and the offset still moves past it.
pub fn decode_updates(batch: Vec<Json>) -> Polled {
    let mut polled = Polled::default();
    for value in batch {
        decode_one(value, &mut polled);
    }
    polled
}

fn advance(polled: &mut Polled, id: i64) {
    let next = id.saturating_add(1);
    polled.next_offset = Some(polled.next_offset.map_or(next, |o: i64| o.max(next)));
}

fn decode_one(value: Json, polled: &mut Polled) {
    let id = update_id_of(&value);
    if let Some(id) = id {
        advance(polled, id);
    }
    let fields: Vec<String> = match &value {
        Json::Object(map) => map
            .keys()
            .map(|k| {
                if k.len() <= 32 && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    k.clone()
                } else {
                    "?".to_owned()
                }
            })
            .take(8)
            .collect(),
        _ => vec![],
    };
    let decoded = match id {
        None => Err("no readable update_id".to_owned()),
        Some(id) => {
            let mut value = value;
            value["update_id"] = json!(id);
            serde_json::from_value::<Update>(value).map_err(|e| {
                // The message of a serde error quotes the offending value: keep only its kind.
                format!("{:?} error", e.classify()).to_lowercase()
            })
        }
    };
    match decoded {
        Ok(update) => polled.updates.push(update),
        Err(why) => polled.skipped.push(format!(
            "update {} ({}): {why}",
            id.map_or_else(|| "without an id".to_owned(), |id| id.to_string()),
            if fields.is_empty() {
                "not an object".to_owned()
            } else {
                fields.join(", ")
            }
        )),
    }
}

/// Decodes a `getUpdates` answer. Normally one parse; if the answer as a whole
/// does not parse (one update nested past the parser's depth limit, or broken),
/// its `result` array is split into elements without parsing them, and each is
/// decoded on its own, so the one bad update does not take the others with it.
pub fn decode_updates_answer(bytes: &[u8]) -> Option<Polled> {
    if let Ok(Envelope {
        ok: true,
        result: Some(batch),
        ..
    }) = serde_json::from_slice::<Envelope<Vec<Json>>>(bytes)
    {
        return Some(decode_updates(batch));
    }
    let elements = raw_result_elements(bytes)?;
    let mut polled = Polled::default();
    for element in elements {
        match serde_json::from_slice::<Json>(element) {
            Ok(value) => decode_one(value, &mut polled),
            Err(e) => {
                let id = raw_update_id(element);
                if let Some(id) = id {
                    advance(&mut polled, id);
                }
                polled.skipped.push(format!(
                    "update {}: unreadable JSON ({:?} error, {} bytes)",
                    id.map_or_else(|| "without an id".to_owned(), |id| id.to_string()),
                    e.classify(),
                    element.len()
                ));
            }
        }
    }
    Some(polled)
}

/// `"update_id": <digits>` near the start of an element that does not parse.
fn raw_update_id(element: &[u8]) -> Option<i64> {
    let key = b"\"update_id\"";
    let at = element.windows(key.len()).position(|w| w == key)?;
    let rest = &element[at + key.len()..];
    let rest = rest
        .trim_ascii_start()
        .strip_prefix(b":")?
        .trim_ascii_start();
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The raw elements of the top-level `"result"` array, found by scanning
/// (strings and nesting tracked iteratively, so no depth limit applies).
fn raw_result_elements(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut string_start = 0;
    let mut last_key: &[u8] = b"";
    let (mut in_result, mut found) = (false, false);
    let mut element: Option<usize> = None;
    let mut elements = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
                if depth == 1 {
                    last_key = &bytes[string_start..i];
                }
            }
            continue;
        }
        let at_element_level = in_result && depth == 2;
        if at_element_level
            && element.is_none()
            && !b.is_ascii_whitespace()
            && b != b','
            && b != b']'
        {
            element = Some(i);
        }
        match b {
            b'"' => {
                in_string = true;
                string_start = i + 1;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth == 2 && b == b'[' && last_key == b"result" && !found {
                    in_result = true;
                    found = true;
                }
            }
            b'}' | b']' => {
                if at_element_level && b == b']' {
                    if let Some(start) = element.take() {
                        elements.push(bytes[start..i].trim_ascii());
                    }
                    in_result = false;
                }
                depth = depth.checked_sub(1)?;
            }
            b',' if at_element_level => {
                if let Some(start) = element.take() {
                    elements.push(bytes[start..i].trim_ascii());
                }
            }
            _ => {}
        }
    }
    found.then_some(elements)
}

/// One inline button.
#[derive(Debug, Clone, Serialize)]
pub struct Button {
    pub text: String,
    pub callback_data: String,
}

impl BotApi {
    /// `base` is e.g. `https://api.telegram.org`.
    pub fn new(base: &str, token: &str) -> Result<Self> {
        let client = crate::net::client::build(&crate::net::client::ClientOptions {
            connect_timeout: Some(Duration::from_secs(10)),
            timeout: Some(Duration::from_secs(90)),
            ..Default::default()
        })?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    fn scrub(&self, text: &str) -> String {
        crate::net::client::scrub(text, &[&self.token])
    }

    /// Sends a request; returns a 2xx answer's status and body, or the classified failure.
    async fn call_raw(&self, method: &str, body: Json) -> Result<(u16, Vec<u8>), ApiError> {
        use crate::net::client::{BodyError, describe, read_body};
        let url = format!("{}/bot{}/{method}", self.base, self.token);
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| {
                let detail = describe(&e, &[&self.token]);
                if e.is_connect() {
                    ApiError::Unreachable {
                        method: method.to_owned(),
                        detail,
                    }
                } else {
                    ApiError::NoAnswer {
                        method: method.to_owned(),
                        detail,
                    }
                }
            })?;
        let status = response.status().as_u16();
        let retry_header = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let bytes = read_body(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge { limit } => ApiError::TooLarge {
                    method: method.to_owned(),
                    status,
                    limit,
                },
                BodyError::Transport(e) => ApiError::NoAnswer {
                    method: method.to_owned(),
                    detail: describe(&e, &[&self.token]),
                },
            })?;
        if !(200..300).contains(&status) {
            return Err(self.scrubbed(classify(method, status, retry_header, &bytes)));
        }
        Ok((status, bytes))
    }

    async fn call<T: DeserializeOwned>(&self, method: &str, body: Json) -> Result<T, ApiError> {
        let (status, bytes) = self.call_raw(method, body).await?;
        let retry_header = None;
        // Some servers answer `"result": null` for methods whose result is `true`.
        match serde_json::from_slice::<Envelope<Json>>(&bytes) {
            Ok(Envelope {
                ok: true, result, ..
            }) => serde_json::from_value(result.unwrap_or(Json::Null)).map_err(|_| {
                ApiError::Unreadable {
                    method: method.to_owned(),
                    status,
                }
            }),
            Ok(_) => Err(self.scrubbed(classify(method, status, retry_header, &bytes))),
            Err(_) => Err(ApiError::Unreadable {
                method: method.to_owned(),
                status,
            }),
        }
    }

    fn scrubbed(&self, error: ApiError) -> ApiError {
        match error {
            ApiError::Server {
                method,
                status,
                description,
            } => ApiError::Server {
                method,
                status,
                description: self.scrub(&description),
            },
            ApiError::Entities {
                method,
                description,
            } => ApiError::Entities {
                method,
                description: self.scrub(&description),
            },
            ApiError::Refused {
                method,
                status,
                description,
            } => ApiError::Refused {
                method,
                status,
                description: self.scrub(&description),
            },
            other => other,
        }
    }

    /// The bot's numeric id: the head of its token (not a secret; Telegram shows it).
    pub fn bot_id(&self) -> i64 {
        self.token
            .split(':')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or(0)
    }

    /// Long polling: updates after `offset`, waiting up to `timeout` seconds.
    pub async fn get_updates(&self, offset: i64, timeout: u64) -> Result<Polled, ApiError> {
        let (status, bytes) = self
            .call_raw(
                "getUpdates",
                json!({"offset": offset, "timeout": timeout, "allowed_updates": ["message", "callback_query"]}),
            )
            .await?;
        decode_updates_answer(&bytes).ok_or(ApiError::Unreadable {
            method: "getUpdates".into(),
            status,
        })
    }

    /// Sends text, never with a link preview; `markdown` selects MarkdownV2 (the text must be escaped).
    pub async fn send_message(
        &self,
        chat: i64,
        text: &str,
        markdown: bool,
        buttons: Option<&[Vec<Button>]>,
    ) -> Result<Message, ApiError> {
        let mut body = json!({
            "chat_id": chat,
            "text": text,
            "link_preview_options": no_link_preview(),
        });
        if markdown {
            body["parse_mode"] = json!("MarkdownV2");
        }
        if let Some(rows) = buttons {
            body["reply_markup"] = json!({"inline_keyboard": rows});
        }
        self.call("sendMessage", body).await
    }

    /// Streams a draft of a message to a private chat (Bot API 9.3+): a
    /// 30-second preview, replaced by the message when it is sent; `markdown`
    /// selects MarkdownV2 (the text must be escaped).
    pub async fn send_message_draft(
        &self,
        chat: i64,
        draft: i64,
        text: &str,
        markdown: bool,
    ) -> Result<(), ApiError> {
        let mut body = json!({"chat_id": chat, "draft_id": draft, "text": text});
        if markdown {
            body["parse_mode"] = json!("MarkdownV2");
        }
        self.call::<Json>("sendMessageDraft", body).await.map(drop)
    }

    pub async fn edit_message_text(
        &self,
        chat: i64,
        message: i64,
        text: &str,
    ) -> Result<(), ApiError> {
        self.call::<Json>(
            "editMessageText",
            json!({
                "chat_id": chat,
                "message_id": message,
                "text": text,
                "link_preview_options": no_link_preview(),
            }),
        )
        .await
        .map(drop)
    }

    pub async fn delete_message(&self, chat: i64, message: i64) -> Result<(), ApiError> {
        self.call::<Json>(
            "deleteMessage",
            json!({"chat_id": chat, "message_id": message}),
        )
        .await
        .map(drop)
    }

    pub async fn answer_callback_query(&self, id: &str, text: &str) -> Result<(), ApiError> {
        self.call::<Json>(
            "answerCallbackQuery",
            json!({"callback_query_id": id, "text": text}),
        )
        .await
        .map(drop)
    }

    pub async fn send_chat_action(&self, chat: i64, action: &str) -> Result<(), ApiError> {
        self.call::<Json>("sendChatAction", json!({"chat_id": chat, "action": action}))
            .await
            .map(drop)
    }

    /// Downloads a file, refusing more than `max_bytes`.
    pub async fn download(&self, file_id: &str, max_bytes: u64) -> Result<Vec<u8>> {
        let info: FileInfo = self
            .call("getFile", json!({"file_id": file_id}))
            .await
            .map_err(anyhow::Error::from)?;
        let Some(path) = info.file_path else {
            bail!("Telegram getFile gave no file path");
        };
        let url = format!("{}/file/bot{}/{path}", self.base, self.token);
        let token: &[&str] = &[&self.token];
        let response = self.client.get(url).send().await.map_err(|e| {
            anyhow::anyhow!(
                "downloading the file: {}",
                crate::net::client::describe(&e, token)
            )
        })?;
        if !response.status().is_success() {
            bail!("downloading the file: HTTP {}", response.status());
        }
        crate::net::client::read_body(response, max_bytes)
            .await
            .map_err(|e| match e {
                crate::net::client::BodyError::TooLarge { limit } => {
                    anyhow::anyhow!("the file is larger than {}", crate::size::show_size(limit))
                }
                crate::net::client::BodyError::Transport(e) => anyhow::anyhow!(
                    "downloading the file: {}",
                    crate::net::client::describe(&e, token)
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_what_the_caller_may_do_next() {
        let entities = r#"{"ok":false,"error_code":400,"description":"Bad Request: can't parse entities: Character '.' is reserved"}"#;
        let cases: &[(u16, Option<u64>, &str, &str)] = &[
            (
                429,
                None,
                r#"{"ok":false,"error_code":429,"parameters":{"retry_after":7}}"#,
                "rate 7",
            ),
            (429, Some(3), "Too Many Requests", "rate 3"),
            (429, None, "", "rate none"),
            (500, None, "<html>oops</html>", "server"),
            (
                502,
                None,
                r#"{"ok":false,"error_code":502,"description":"Bad Gateway"}"#,
                "server",
            ),
            (
                200,
                None,
                r#"{"ok":false,"error_code":503,"description":"x"}"#,
                "server",
            ),
            (400, None, entities, "entities"),
            (
                400,
                None,
                r#"{"ok":false,"description":"Bad Request: CAN'T PARSE ENTITIES"}"#,
                "entities",
            ),
            (
                400,
                None,
                r#"{"ok":false,"description":"Bad Request: chat not found"}"#,
                "refused",
            ),
            (
                400,
                None,
                r#"{"ok":false,"description":"Bad Request: message is too long"}"#,
                "refused",
            ),
            (
                403,
                None,
                r#"{"ok":false,"description":"Forbidden: bot was blocked by the user"}"#,
                "refused",
            ),
            (
                200,
                None,
                r#"{"ok":false,"error_code":400,"description":"can't parse entities"}"#,
                "entities",
            ),
            (200, None, r#"{"ok":false}"#, "unreadable"),
        ];
        for (status, header, body, expected) in cases {
            let error = classify("sendMessage", *status, *header, body.as_bytes());
            let got = match &error {
                ApiError::RateLimited { retry_after, .. } => match retry_after {
                    Some(d) => format!("rate {}", d.as_secs()),
                    None => "rate none".into(),
                },
                ApiError::Server { .. } => "server".into(),
                ApiError::Entities { .. } => "entities".into(),
                ApiError::Refused { .. } => "refused".into(),
                ApiError::Unreadable { .. } => "unreadable".into(),
                other => format!("{other:?}"),
            };
            assert_eq!(&got, expected, "{status} {body}");
            // Only a refusal of the formatting is a reason for the plain-text fallback,
            // and only refusals are final.
            assert_eq!(
                matches!(error, ApiError::Entities { .. } | ApiError::Refused { .. }),
                !error.is_transient(),
                "{status} {body}"
            );
        }
        let long = format!(r#"{{"ok":false,"description":"{}"}}"#, "x".repeat(5000));
        let ApiError::Refused { description, .. } = classify("m", 400, None, long.as_bytes())
        else {
            panic!("refused");
        };
        assert_eq!(description.len(), 300, "descriptions are clipped");
    }

    #[test]
    fn an_update_nested_past_the_parser_limit_does_not_take_the_batch_with_it() {
        let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        let answer = format!(
            r#"{{"ok":true,"result":[
                {{"update_id":7,"message":{{"message_id":1,"chat":{{"id":3}},"text":"a ] [ \" }} {{ , text"}}}},
                {{"update_id":8,"message":{{"deep":{deep}}}}},
                {{"update_id":9.0,"message":{{"message_id":2,"chat":{{"id":3}},"text":"b"}}}}
            ]}}"#
        );
        assert!(
            serde_json::from_str::<Json>(&answer).is_err(),
            "too deep for one parse"
        );
        let polled = decode_updates_answer(answer.as_bytes()).expect("readable");
        let texts: Vec<_> = polled
            .updates
            .iter()
            .map(|u| {
                u.message
                    .as_ref()
                    .and_then(|m| m.text.clone())
                    .unwrap_or_default()
            })
            .collect();
        assert_eq!(texts, ["a ] [ \" } { , text", "b"]);
        assert_eq!(polled.next_offset, Some(10));
        assert_eq!(polled.skipped.len(), 1);
        assert!(
            polled.skipped[0].starts_with("update 8: unreadable JSON"),
            "{:?}",
            polled.skipped
        );
        // Not a Bot API answer at all: an error (the poll is retried), never a panic.
        for junk in ["", "[", "{\"ok\":true}", "]]]]", "{\"result\":{\"a\":1}}"] {
            assert!(decode_updates_answer(junk.as_bytes()).is_none(), "{junk}");
        }
        assert_eq!(
            decode_updates_answer(br#"{"ok":true,"result":[]}"#)
                .expect("empty")
                .updates
                .len(),
            0
        );
    }

    #[tokio::test]
    async fn no_connection_is_unreachable_and_the_token_never_shows() {
        // A port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let api = BotApi::new(&format!("http://127.0.0.1:{port}"), "99:SECRET-token").expect("api");
        let error = api
            .send_message(1, "hi", false, None)
            .await
            .expect_err("refused");
        assert!(matches!(error, ApiError::Unreachable { .. }), "{error:?}");
        assert!(error.certainly_not_done());
        assert!(
            !format!("{error} {error:?}").contains("SECRET"),
            "{error:?}"
        );
        assert_eq!(api.bot_id(), 99);
    }
}
