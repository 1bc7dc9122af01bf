//! Keeps secret values out of everything clambot writes down: approval prompts,
//! audit records, call logs.
//!
//! Two rules: the values of credential-carrying HTTP headers are always replaced,
//! and every occurrence of a known secret value (the secrets store hands them
//! over) is replaced wherever it appears in a string. What it cannot do: catch a
//! secret that was transformed (encoded, split) before it reached the arguments.

use serde_json::Value as Json;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Header names whose values are credentials, compared case-insensitively.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

/// Secret values shorter than this are not searched for: replacing every "a" in
/// a log would destroy it and hide nothing.
const MIN_SECRET_LEN: usize = 4;

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values.
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    /// Whether any secret value is known (otherwise only header names are redacted).
    pub fn has_secrets(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// `value` with every known secret value replaced in its strings (keys
    /// included), and nothing else changed: for results handed back to a script,
    /// where header redaction by name would only destroy data.
    pub fn json_values(&self, value: Json) -> Json {
        if !self.has_secrets() {
            return value;
        }
        match value {
            Json::String(s) => Json::String(self.text(&s)),
            Json::Array(items) => {
                Json::Array(items.into_iter().map(|v| self.json_values(v)).collect())
            }
            Json::Object(map) => Json::Object(
                map.into_iter()
                    .map(|(k, v)| (self.text(&k), self.json_values(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    /// Replaces secret values in a text.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// A copy of `value` with credentials and secret values replaced.
    pub fn json(&self, value: &Json) -> Json {
        match value {
            Json::String(s) => Json::String(self.text(s)),
            Json::Array(items) => Json::Array(items.iter().map(|v| self.json(v)).collect()),
            Json::Object(map) => {
                let is_credential_header =
                    map.get("name").and_then(Json::as_str).is_some_and(|n| {
                        CREDENTIAL_HEADERS.contains(&n.to_ascii_lowercase().as_str())
                    }) && map.contains_key("value");
                Json::Object(
                    map.iter()
                        .map(|(k, v)| {
                            let v = if is_credential_header && k == "value" {
                                Json::String(REDACTED.into())
                            } else {
                                self.json(v)
                            };
                            (self.text(k), v)
                        })
                        .collect(),
                )
            }
            other => other.clone(),
        }
    }
}
