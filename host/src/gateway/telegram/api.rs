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
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(90))
            .build()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    fn scrub(&self, text: &str) -> String {
        if self.token.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.token, "[bot token]")
        }
    }

    async fn call<T: DeserializeOwned>(&self, method: &str, body: Json) -> Result<T> {
        let url = format!("{}/bot{}/{method}", self.base, self.token);
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("Telegram {method}: {}", self.scrub(&e.to_string())))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            anyhow::anyhow!(
                "Telegram {method} (HTTP {status}): {}",
                self.scrub(&e.to_string())
            )
        })?;
        let envelope: Envelope<T> = serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!("Telegram {method} (HTTP {status}): unreadable answer: {e}")
        })?;
        match (envelope.ok, envelope.result) {
            (true, Some(result)) => Ok(result),
            _ => bail!(
                "Telegram {method} failed (HTTP {status}): {}",
                self.scrub(envelope.description.as_deref().unwrap_or("no description"))
            ),
        }
    }

    /// Long polling: updates after `offset`, waiting up to `timeout` seconds.
    pub async fn get_updates(&self, offset: i64, timeout: u64) -> Result<Vec<Update>> {
        self.call(
            "getUpdates",
            json!({"offset": offset, "timeout": timeout, "allowed_updates": ["message", "callback_query"]}),
        )
        .await
    }

    /// Sends text, never with a link preview; `markdown` selects MarkdownV2 (the text must be escaped).
    pub async fn send_message(
        &self,
        chat: i64,
        text: &str,
        markdown: bool,
        buttons: Option<&[Vec<Button>]>,
    ) -> Result<Message> {
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

    pub async fn edit_message_text(&self, chat: i64, message: i64, text: &str) -> Result<()> {
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

    pub async fn delete_message(&self, chat: i64, message: i64) -> Result<()> {
        self.call::<Json>(
            "deleteMessage",
            json!({"chat_id": chat, "message_id": message}),
        )
        .await
        .map(drop)
    }

    pub async fn answer_callback_query(&self, id: &str, text: &str) -> Result<()> {
        self.call::<Json>(
            "answerCallbackQuery",
            json!({"callback_query_id": id, "text": text}),
        )
        .await
        .map(drop)
    }

    pub async fn send_chat_action(&self, chat: i64, action: &str) -> Result<()> {
        self.call::<Json>("sendChatAction", json!({"chat_id": chat, "action": action}))
            .await
            .map(drop)
    }

    /// Downloads a file, refusing more than `max_bytes`.
    pub async fn download(&self, file_id: &str, max_bytes: u64) -> Result<Vec<u8>> {
        let info: FileInfo = self.call("getFile", json!({"file_id": file_id})).await?;
        let Some(path) = info.file_path else {
            bail!("Telegram getFile gave no file path");
        };
        let url = format!("{}/file/bot{}/{path}", self.base, self.token);
        let mut response =
            self.client.get(url).send().await.map_err(|e| {
                anyhow::anyhow!("downloading the file: {}", self.scrub(&e.to_string()))
            })?;
        if !response.status().is_success() {
            bail!("downloading the file: HTTP {}", response.status());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| anyhow::anyhow!("downloading the file: {}", self.scrub(&e.to_string())))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max_bytes {
                bail!(
                    "the file is larger than {}",
                    crate::size::show_size(max_bytes)
                );
            }
        }
        Ok(bytes)
    }
}
