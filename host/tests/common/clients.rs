//! The outbound clients as the net tests drive them: a model provider pointed
//! at a loopback server, and `clambot onboard`'s Ollama probe.

use std::path::Path;
use std::time::Duration;

use clambot::agent::provider::{
    self, ApiKey, CompletionRequest, Kind, Message, ProviderConfig, ProviderError, RetryPolicy,
};

/// A bot token shaped like Telegram's, to be looked for in errors.
pub const TOKEN: &str = "123456:SECRET-bot-token-abcdef";

fn provider_config(base_url: String) -> ProviderConfig {
    ProviderConfig {
        kind: Kind::OpenAiCompatible,
        name: "openai".into(),
        base_url,
        api_key: Some(ApiKey::new("sk-test-0123456789abcdef")),
        model: "m".into(),
        timeout: Duration::from_secs(10),
        retry: RetryPolicy::none(),
    }
}

/// One completion ("hi") from an OpenAI-compatible provider at `base_url`.
pub async fn provider_answer(base_url: String) -> Result<String, ProviderError> {
    let provider = provider::build(provider_config(base_url)).expect("provider");
    let ask = CompletionRequest {
        messages: vec![Message::user("hi")],
        max_tokens: 8,
        temperature: None,
        json: false,
    };
    provider.complete(&ask).await.map(|c| c.text)
}

/// `clambot onboard` in a fresh home, probing Ollama at `base`, with `env`.
pub fn onboard(base: &str, env: &[(&str, String)]) -> String {
    let home = tempfile::tempdir().expect("home");
    let out = onboard_in(home.path(), base, env);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        super::cli::text(&out.stderr)
    );
    super::cli::text(&out.stdout)
}

fn onboard_in(home: &Path, base: &str, env: &[(&str, String)]) -> std::process::Output {
    let mut command = super::cli::command(home, &["onboard"]);
    command
        .env("OLLAMA_HOST", base)
        .envs(env.iter().map(|(k, v)| (k, v)));
    command.output().expect("clambot runs")
}
