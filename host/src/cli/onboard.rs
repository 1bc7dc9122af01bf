//! `clambot onboard`: writes `$CLAMBOT_HOME/config.toml`, a starter policy and
//! the workspace from what it finds (API keys in the environment, an Ollama on
//! localhost). It never writes a key: the config names the variable it is in.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use clambot::agent::provider;
use clambot::agent::setup;
use clambot::home::Home;

/// The starter policy: the repository's reviewed `policy.toml`.
const STARTER_POLICY: &str = include_str!("../../../policy.toml");

#[derive(Debug, Args)]
pub struct OnboardArgs {
    /// Rewrite config.toml and policy.toml even if they exist.
    #[arg(long)]
    force: bool,
}

pub fn run(args: OnboardArgs) -> Result<ExitCode> {
    let home = Home::from_env()?;
    clambot::atomic::create_private_dir(home.root())?;
    let workspace = home.workspace_dir();
    std::fs::create_dir_all(&workspace)
        .with_context(|| format!("creating {}", workspace.display()))?;
    println!("home       {}", home.root().display());
    println!("workspace  {}", workspace.display());

    let config_path = setup::config_file(&home);
    if config_path.exists() && !args.force {
        println!(
            "config     {} (kept; --force rewrites it)",
            config_path.display()
        );
    } else {
        let detected = detect_provider();
        let text = config_text(detected.as_ref());
        back_up_if_edited(&config_path, &text)?;
        clambot::atomic::write_private(&config_path, text.as_bytes())?;
        match &detected {
            Some(found) => println!(
                "config     {} (provider {}, model {}, {})",
                config_path.display(),
                found.name,
                found.model,
                found.how
            ),
            None => println!(
                "config     {} (no provider found: set an API key, then run `clambot onboard --force`)",
                config_path.display()
            ),
        }
    }

    let policy_path = setup::default_policy_file(&home);
    if policy_path.exists() && !args.force {
        println!("policy     {} (kept)", policy_path.display());
    } else {
        back_up_if_edited(&policy_path, STARTER_POLICY)?;
        clambot::atomic::write(&policy_path, STARTER_POLICY.as_bytes())?;
        println!(
            "policy     {} (starter: read it, then `clambot policy explain {}`)",
            policy_path.display(),
            policy_path.display()
        );
    }
    // The store is created with its migrations, so `status` finds it ready.
    home.open_store()?;
    println!("\nNext: `clambot status`, then `clambot agent`.");
    Ok(ExitCode::SUCCESS)
}

/// Before `--force` replaces a file whose text is not what would be written,
/// the old text is kept beside it as `NAME.bak-YYYYmmddTHHMMSS` (0600), and the
/// path is printed: an edited policy or config is never silently lost.
fn back_up_if_edited(path: &std::path::Path, new_text: &str) -> Result<()> {
    let old = match std::fs::read(path) {
        Ok(old) => old,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    if old == new_text.as_bytes() {
        return Ok(());
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f");
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let backup = path.with_file_name(format!("{name}.bak-{stamp}"));
    clambot::atomic::write_private(&backup, &old)
        .with_context(|| format!("backing up {} before --force", path.display()))?;
    println!("backup     {} (the previous {name})", backup.display());
    Ok(())
}

/// A provider found on this machine.
#[derive(Debug)]
struct Detected {
    name: String,
    model: String,
    /// The variable holding the key, if one is needed.
    key_env: Option<String>,
    base_url: Option<String>,
    how: String,
}

fn detect_provider() -> Option<Detected> {
    let lookup = |k: &str| std::env::var(k).ok();
    if let Some(found) = provider::from_env(lookup) {
        let key_env = provider::key_variable(&found.name)
            .filter(|var| std::env::var(var).is_ok_and(|v| !v.trim().is_empty()))
            .map(str::to_owned);
        // A base URL given in the environment (OPENAI_BASE_URL, …) is recorded,
        // so the config says where requests go without that variable.
        let default_base = provider::preset(&found.name, |_| None).map(|p| p.base_url);
        let base_url = (default_base.as_deref() != Some(found.base_url.as_str()))
            .then(|| found.base_url.clone());
        return Some(Detected {
            how: key_env
                .as_ref()
                .map_or("no key needed".to_owned(), |var| format!("key from ${var}")),
            name: found.name,
            model: found.model,
            key_env,
            base_url,
        });
    }
    let base = std::env::var("OLLAMA_HOST")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "http://localhost:11434".into());
    let base = base.trim_end_matches('/').to_owned();
    if ollama_answers(&base) {
        return Some(Detected {
            name: "ollama".into(),
            model: provider::preset("ollama", |_| None)
                .map(|p| p.model)
                .unwrap_or_default(),
            key_env: None,
            base_url: Some(format!("{base}/v1")),
            how: format!("Ollama answered at {base}"),
        });
    }
    None
}

/// Whether an Ollama server answers `GET /api/tags` within 2 s.
fn ollama_answers(base: &str) -> bool {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return false;
    };
    runtime.block_on(async {
        let Ok(client) = clambot::net::client::build(&clambot::net::client::ClientOptions {
            timeout: Some(Duration::from_secs(2)),
            ..Default::default()
        }) else {
            return false;
        };
        client
            .get(format!("{base}/api/tags"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
}

fn config_text(detected: Option<&Detected>) -> String {
    let mut out = String::from(
        "# clambot configuration (written by `clambot onboard`).\n\
         # API keys are never stored here: `api-key-env` names the variable holding\n\
         # the key, or `api-key-secret` a secret set with `clambot secrets set NAME`.\n\n",
    );
    match detected {
        Some(found) => {
            out.push_str(&format!(
                "[provider]\nname = \"{}\"\nmodel = \"{}\"\n",
                found.name, found.model
            ));
            if let Some(var) = &found.key_env {
                out.push_str(&format!("api-key-env = \"{var}\"\n"));
            }
            if let Some(base) = &found.base_url {
                out.push_str(&format!("base-url = \"{base}\"\n"));
            }
        }
        None => out.push_str(
            "# [provider]\n# name = \"openai\"   # anthropic, openai, openrouter, deepseek, groq, gemini, ollama, custom\n# model = \"gpt-4.1-mini\"\n",
        ),
    }
    out.push_str(
        "\n[agent]\n# max-fix-attempts = 3\n# session-budget-tokens = 6000\n# keep-recent-turns = 4\n# memory-budget-tokens = 800\n",
    );
    out
}
