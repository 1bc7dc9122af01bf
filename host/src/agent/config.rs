//! `$CLAMBOT_HOME/config.toml`: which model to talk to and how the agent
//! behaves. API keys are never written here: the config names where a key
//! comes from (an environment variable or a secret in the secret store).
//!
//! ```toml
//! [provider]
//! name = "openai"                 # anthropic, openai, openrouter, deepseek, groq, gemini, ollama, custom
//! model = "gpt-4.1-mini"          # CLAMBOT_MODEL overrides
//! # base-url = "http://localhost:8080/v1"   # required for custom
//! # protocol = "openai"           # custom only: "openai" or "anthropic"
//! # api-key-env = "OPENAI_API_KEY"          # default: the provider's usual variable
//! # api-key-secret = "openai"     # or a secret set with `clambot secrets set openai`
//! # timeout = "120s"
//!
//! [agent]
//! # policy = "/path/to/policy.toml"          # default: $CLAMBOT_HOME/policy.toml
//! # max-fix-attempts = 3
//! # session-budget-tokens = 6000  # above this the older turns are summarised
//! # keep-recent-turns = 4
//! # memory-budget-tokens = 800    # remembered facts in the prompt
//! # remember-facts = true         # extract durable facts from each exchange
//! # clams = ["/path/to/reviewed/clams"]     # extra read-only clam directories
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use serde::Deserialize;

use super::provider::{self, ApiKey, Kind, ProviderConfig, RetryPolicy};
use crate::policy::diagnostic::Locator;
use crate::secrets::SecretStore;

/// The whole file: the agent's tables here, the gateway's in [`crate::gateway::config`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub provider: Option<ProviderSection>,
    #[serde(default)]
    pub agent: AgentSection,
    pub telegram: Option<crate::gateway::config::TelegramSection>,
    pub gateway: Option<crate::gateway::config::GatewaySection>,
    pub heartbeat: Option<crate::gateway::config::HeartbeatSection>,
}

/// `[provider]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProviderSection {
    pub name: String,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub protocol: Option<String>,
    pub api_key_env: Option<String>,
    pub api_key_secret: Option<String>,
    pub timeout: Option<String>,
    pub max_retries: Option<u32>,
}

/// `[agent]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct AgentSection {
    pub policy: Option<PathBuf>,
    pub max_fix_attempts: u32,
    pub session_budget_tokens: usize,
    pub keep_recent_turns: usize,
    pub memory_budget_tokens: usize,
    pub remember_facts: bool,
    pub clams: Vec<PathBuf>,
}

impl Default for AgentSection {
    fn default() -> Self {
        Self {
            policy: None,
            max_fix_attempts: 3,
            session_budget_tokens: 6_000,
            keep_recent_turns: 4,
            memory_budget_tokens: 800,
            remember_facts: true,
            clams: Vec::new(),
        }
    }
}

impl ConfigFile {
    /// Reads `path`; a missing file is the defaults. Errors carry file:line:col.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => bail!("reading {}: {e}", path.display()),
        };
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses config text; `name` is used in errors.
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            anyhow::anyhow!(
                "{}",
                Locator::new(name, text).at(offset, e.message().trim_end().to_owned())
            )
        })?;
        if config.agent.max_fix_attempts > 10 {
            bail!("{name}: [agent] max-fix-attempts is at most 10");
        }
        Ok(config)
    }
}

/// Why no provider could be made: said in full to the person, with how to fix it.
pub const NO_PROVIDER_HELP: &str = "\
No model provider is configured. Do one of these:
  - export a key and go:  export OPENAI_API_KEY=…   (or ANTHROPIC_API_KEY, OPENROUTER_API_KEY,
    DEEPSEEK_API_KEY, GROQ_API_KEY, GEMINI_API_KEY; OPENAI_BASE_URL / ANTHROPIC_BASE_URL for
    another endpoint; CLAMBOT_MODEL to pick the model)
  - a local Ollama:       export OLLAMA_BASE_URL=http://localhost:11434/v1
  - or run `clambot onboard`, which writes [provider] in $CLAMBOT_HOME/config.toml from what it finds.";

/// The provider to use: `[provider]` from the config if present, else the
/// environment; `CLAMBOT_MODEL` overrides the model either way.
pub fn provider_config(
    config: &ConfigFile,
    secrets: &SecretStore,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<ProviderConfig> {
    let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let Some(section) = &config.provider else {
        return provider::from_env(get).ok_or_else(|| anyhow::anyhow!(NO_PROVIDER_HELP));
    };
    let mut result = if section.name.eq_ignore_ascii_case("custom") {
        let kind = match section.protocol.as_deref() {
            Some("openai") | None => Kind::OpenAiCompatible,
            Some("anthropic") => Kind::Anthropic,
            Some(other) => {
                bail!("[provider] protocol {other:?} is unknown; use \"openai\" or \"anthropic\"")
            }
        };
        let Some(base_url) = &section.base_url else {
            bail!(
                "[provider] name = \"custom\" needs base-url (e.g. \"http://localhost:8080/v1\")"
            );
        };
        let Some(model) = &section.model else {
            bail!("[provider] name = \"custom\" needs model");
        };
        ProviderConfig {
            kind,
            name: "custom".into(),
            base_url: base_url.clone(),
            api_key: None,
            model: model.clone(),
            timeout: provider::DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    } else {
        if section.protocol.is_some() {
            bail!("[provider] protocol is only for name = \"custom\"");
        }
        let mut preset = provider::preset(&section.name, get).ok_or_else(|| {
            anyhow::anyhow!(
                "[provider] name {:?} is unknown; use one of {}, or \"custom\"",
                section.name,
                provider::PROVIDER_NAMES.join(", ")
            )
        })?;
        if let Some(base_url) = &section.base_url {
            preset.base_url = base_url.clone();
        }
        if let Some(model) = &section.model {
            preset.model = model.clone();
        }
        preset
    };
    match (&section.api_key_env, &section.api_key_secret) {
        (Some(_), Some(_)) => {
            bail!("[provider] has both api-key-env and api-key-secret; keep one")
        }
        (Some(var), None) => {
            result.api_key = Some(ApiKey::new(get(var).ok_or_else(|| {
                anyhow::anyhow!("[provider] api-key-env names {var}, which is not set")
            })?));
        }
        (None, Some(name)) => {
            let value = secrets.get(name)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "[provider] api-key-secret names {name:?}, which is not set; \
                     run `clambot secrets set {name}`"
                )
            })?;
            result.api_key = Some(ApiKey::new(value.expose()));
        }
        (None, None) => {}
    }
    if let Some(timeout) = &section.timeout {
        result.timeout = crate::size::parse_duration(timeout)
            .map_err(|e| anyhow::anyhow!("[provider] timeout: {e}"))?;
    }
    if let Some(max_retries) = section.max_retries {
        result.retry.max_retries = max_retries;
    }
    if let Some(model) = get("CLAMBOT_MODEL") {
        result.model = model.trim().to_owned();
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| vars.get(k).cloned()
    }

    fn secrets() -> (tempfile::TempDir, SecretStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SecretStore::open(&dir.path().join("secrets.json"));
        (dir, store)
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let error = ConfigFile::parse("config.toml", "[agent]\nmax-fix-attemps = 3\n")
            .expect_err("unknown key")
            .to_string();
        assert!(error.starts_with("config.toml:2:1"), "{error}");
        assert!(error.contains("max-fix-attempts"), "{error}");
    }

    #[test]
    fn config_then_env_then_help() {
        let (_dir, secrets) = secrets();
        let none = provider_config(&ConfigFile::default(), &secrets, &lookup(&[]))
            .expect_err("nothing configured")
            .to_string();
        assert!(none.contains("OPENAI_API_KEY") && none.contains("clambot onboard"));

        let from_env = provider_config(
            &ConfigFile::default(),
            &secrets,
            &lookup(&[("ANTHROPIC_API_KEY", "k"), ("CLAMBOT_MODEL", "m")]),
        )
        .expect("env");
        assert_eq!(
            (from_env.name.as_str(), from_env.model.as_str()),
            ("anthropic", "m")
        );

        let config = ConfigFile::parse(
            "c",
            "[provider]\nname = \"custom\"\nbase-url = \"http://127.0.0.1:9/v1\"\nmodel = \"x\"\napi-key-secret = \"llm\"\n",
        )
        .expect("parse");
        let missing = provider_config(&config, &secrets, &lookup(&[]))
            .expect_err("secret unset")
            .to_string();
        assert!(missing.contains("clambot secrets set llm"), "{missing}");
        secrets.set("llm", "sk-123").expect("set");
        let custom = provider_config(&config, &secrets, &lookup(&[])).expect("custom");
        assert_eq!(custom.api_key.as_ref().map(ApiKey::expose), Some("sk-123"));
        assert_eq!(custom.kind, Kind::OpenAiCompatible);
    }
}
