//! `clambot status`: what is ready, what is missing, and how to fix it. Never
//! shows a key, only where it comes from.

use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use clambot::agent::config::{self, ConfigFile};
use clambot::agent::setup::{self, Choices};
use clambot::home::Home;
use clambot::state::HostState;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One JSON object: home, ready, and checks [{name, ok, detail}] (see docs/json-output.md).
    #[arg(long)]
    json: bool,
}

pub fn run(args: StatusArgs) -> Result<ExitCode> {
    let home = Home::from_env()?;
    let mut ready = true;
    let json = args.json;
    let checks = std::cell::RefCell::new(Vec::new());
    let line = |what: &str, ok: bool, text: String| {
        if !json {
            println!("{} {what:<10} {text}", if ok { "ok  " } else { "MISS" });
        }
        checks
            .borrow_mut()
            .push(serde_json::json!({"name": what, "ok": ok, "detail": text}));
    };
    if !json {
        println!("home          {}", home.root().display());
    }

    let config_path = setup::config_file(&home);
    let config = match ConfigFile::load(&config_path) {
        Ok(config) => {
            let note = if config_path.exists() {
                ""
            } else {
                " (absent: defaults)"
            };
            line("config", true, format!("{}{note}", config_path.display()));
            config
        }
        Err(error) => {
            line("config", false, format!("{error:#}"));
            ready = false;
            ConfigFile::default()
        }
    };

    let state = HostState::open(home.clone());
    match &state {
        Ok(state) => line(
            "state",
            true,
            format!(
                "{} (schema {})",
                home.database_file().display(),
                state.store.schema_version()?
            ),
        ),
        Err(error) => {
            line("state", false, format!("{error:#}"));
            ready = false;
        }
    }

    match &state {
        Ok(state) => {
            match config::provider_config(&config, &state.secrets, &|k| std::env::var(k).ok()) {
                Ok(provider) => {
                    let key = if provider.api_key.is_some() {
                        "key set"
                    } else {
                        "no key"
                    };
                    line(
                        "provider",
                        true,
                        format!(
                            "{} · {} · {} · {key}",
                            provider.name, provider.model, provider.base_url
                        ),
                    );
                }
                Err(error) => {
                    let first = error.to_string();
                    line(
                        "provider",
                        false,
                        first.lines().next().unwrap_or_default().to_owned(),
                    );
                    for rest in first.lines().skip(1).filter(|_| !json) {
                        println!("                {rest}");
                    }
                    ready = false;
                }
            }
        }
        Err(_) => line("provider", false, "the state could not be opened".into()),
    }

    let policy_path = setup::policy_path(&home, &config, &Choices::default());
    match setup::load_policy(&policy_path) {
        Ok((_, Some(notice))) => {
            line("policy", false, notice);
            ready = false;
        }
        Ok((policy, None)) => line(
            "policy",
            true,
            format!("{} ({} rules)", policy_path.display(), policy.rules().len()),
        ),
        Err(error) => {
            line("policy", false, format!("{error:#}"));
            ready = false;
        }
    }

    let workspace = home.workspace_dir();
    line(
        "workspace",
        workspace.is_dir(),
        if workspace.is_dir() {
            workspace.display().to_string()
        } else {
            format!(
                "{} (absent: `clambot onboard` creates it)",
                workspace.display()
            )
        },
    );
    ready &= workspace.is_dir();

    if let Ok(state) = &state {
        let names = state.secrets.names().unwrap_or_default();
        line("secrets", true, format!("{} set", names.len()));
    }
    let (clams, problems) = setup::clam_store(&home, &config).list();
    line(
        "clams",
        problems.is_empty(),
        format!(
            "{} saved in {}",
            clams.len(),
            setup::clams_dir(&home).display()
        ),
    );
    for problem in problems.iter().filter(|_| !json) {
        println!("                {}", clambot::terminal::inline(problem));
    }
    if json {
        super::output::print_json(&serde_json::json!({
            "home": home.root(),
            "ready": ready,
            "checks": checks.take(),
        }))?;
        return Ok(ExitCode::from(if ready { 0 } else { 1 }));
    }
    println!();
    if ready {
        println!("Ready: `clambot agent`.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("Not ready: fix the MISS lines above (`clambot onboard` sets up the basics).");
        Ok(ExitCode::from(1))
    }
}
