//! The gateway's tables in `$CLAMBOT_HOME/config.toml`.
//!
//! ```toml
//! [telegram]
//! token-secret = "telegram_bot_token"   # the bot token, set with `clambot secrets set telegram_bot_token`
//! allow-from = [123456789, "@alice"]    # user ids or usernames; nobody else is answered
//! # owner-chat = 123456789              # where cron and heartbeat results go (default: the first id above);
//! #                                     # its user (or the first id above, for a group) alone may use /grants, /revoke, /secret
//! # api-url = "https://api.telegram.org"
//! # upload-max = "20MiB"
//!
//! [heartbeat]
//! every = "30m"                         # absent: no heartbeat
//!
//! [gateway]
//! # shutdown-grace = "10s"              # how long in-flight turns may finish on SIGINT/SIGTERM
//! ```

use std::time::Duration;

use anyhow::{Result, bail};
use serde::Deserialize;

/// `[telegram]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TelegramSection {
    #[serde(default = "default_token_secret")]
    pub token_secret: String,
    #[serde(default)]
    pub allow_from: Vec<AllowEntry>,
    pub owner_chat: Option<i64>,
    pub api_url: Option<String>,
    pub upload_max: Option<String>,
}

fn default_token_secret() -> String {
    "telegram_bot_token".into()
}

/// One `allow-from` entry: a user id or a username (with or without `@`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AllowEntry {
    Id(i64),
    Username(String),
}

/// `[heartbeat]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HeartbeatSection {
    pub every: String,
}

/// `[gateway]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GatewaySection {
    pub shutdown_grace: Option<String>,
}

/// Who may talk to the bot and press its buttons.
#[derive(Debug, Clone, Default)]
pub struct Access {
    ids: Vec<i64>,
    usernames: Vec<String>,
}

impl Access {
    pub fn new(entries: &[AllowEntry]) -> Self {
        let mut access = Self::default();
        for entry in entries {
            match entry {
                AllowEntry::Id(id) => access.ids.push(*id),
                AllowEntry::Username(name) => access
                    .usernames
                    .push(name.trim_start_matches('@').to_ascii_lowercase()),
            }
        }
        access
    }

    /// Whether the user with `id` (and `username`, if Telegram sent one) is allowed.
    pub fn allows(&self, id: i64, username: Option<&str>) -> bool {
        self.ids.contains(&id)
            || username.is_some_and(|name| {
                let name = name.trim_start_matches('@').to_ascii_lowercase();
                !name.is_empty() && self.usernames.contains(&name)
            })
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.usernames.is_empty()
    }

    /// The first allowed user id (a private chat with a user has the user's id).
    pub fn first_id(&self) -> Option<i64> {
        self.ids.first().copied()
    }
}

/// The Bot API base URL.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";
/// Uploads larger than this are refused: the largest file a script can read
/// (and more than Telegram lets a bot download, 20 MB).
pub const DEFAULT_UPLOAD_MAX: u64 = crate::tools::fs::MAX_FILE_BYTES;
/// How long in-flight turns may finish at shutdown before they are cancelled.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

impl TelegramSection {
    pub fn upload_max(&self) -> Result<u64> {
        match &self.upload_max {
            None => Ok(DEFAULT_UPLOAD_MAX),
            Some(text) => {
                let max = crate::size::parse_size(text)
                    .map_err(|e| anyhow::anyhow!("[telegram] upload-max {text:?}: {e}"))?;
                if max > DEFAULT_UPLOAD_MAX {
                    bail!(
                        "[telegram] upload-max {text:?} is more than a script can read ({}): \
                         an upload that size would be saved and never usable",
                        crate::size::show_size(DEFAULT_UPLOAD_MAX)
                    );
                }
                Ok(max)
            }
        }
    }

    /// Who may use the administrative commands (/grants, /revoke, /secret): the
    /// owner chat's user when it is a private chat, else the first allowed id.
    pub fn owner_user(&self) -> Option<i64> {
        self.owner_chat
            .filter(|chat| *chat > 0)
            .or_else(|| Access::new(&self.allow_from).first_id())
    }

    /// Where results with no chat of their own go.
    pub fn owner_chat(&self) -> Option<i64> {
        self.owner_chat
            .or_else(|| Access::new(&self.allow_from).first_id())
    }
}

impl HeartbeatSection {
    pub fn every(&self) -> Result<Duration> {
        let every = crate::size::parse_duration(&self.every)
            .map_err(|e| anyhow::anyhow!("[heartbeat] every: {e}"))?;
        if every < Duration::from_secs(60) {
            bail!("[heartbeat] every must be at least 1m");
        }
        Ok(every)
    }
}

impl GatewaySection {
    pub fn shutdown_grace(&self) -> Result<Duration> {
        match &self.shutdown_grace {
            None => Ok(DEFAULT_SHUTDOWN_GRACE),
            Some(text) => crate::size::parse_duration(text)
                .map_err(|e| anyhow::anyhow!("[gateway] shutdown-grace: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_by_id_and_username() {
        let access = Access::new(&[AllowEntry::Id(42), AllowEntry::Username("@Alice".into())]);
        assert!(access.allows(42, None));
        assert!(access.allows(7, Some("alice")));
        assert!(access.allows(7, Some("@ALICE")));
        assert!(!access.allows(7, Some("mallory")));
        assert!(!access.allows(7, None));
        assert!(!access.allows(7, Some("")));
        assert!(Access::new(&[]).is_empty());
    }
}
