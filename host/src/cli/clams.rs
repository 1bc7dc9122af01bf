//! `clambot clams list|show|run|rm`: the saved scripts.

use std::process::ExitCode;
use std::sync::Arc;

use super::exit::Exit;
use anyhow::{Context, Result};
use clap::Subcommand;
use tokio_util::sync::CancellationToken;

use clambot::agent::config::ConfigFile;
use clambot::agent::setup::{self, Choices};
use clambot::agent::turn::{ClamRequest, Quiet, TurnOutcome, Turns};
use clambot::gate::approver::{Approver, DEFAULT_PROMPT_TIMEOUT, NonInteractive, TerminalApprover};
use clambot::home::Home;
use clambot::terminal::{self, Newlines};

#[derive(Debug, Subcommand)]
pub enum ClamsCommand {
    /// The saved clams, with their versions and use counts.
    List {
        /// A JSON array: name, version, description, runs, failures, created, updated, calls.
        #[arg(long)]
        json: bool,
    },
    /// A clam's metadata and script.
    Show { name: String },
    /// Runs a clam with arguments (no model call), under the agent's policy.
    Run {
        name: String,
        /// Arguments as JSON [default: the ones it was saved with].
        #[arg(long, value_name = "JSON")]
        args: Option<String>,
        /// Never ask: calls that an [[ask]] rule covers are rejected.
        #[arg(long)]
        non_interactive: bool,
    },
    /// Deletes a saved clam.
    Rm { name: String },
}

pub fn run(command: ClamsCommand) -> Result<ExitCode> {
    let home = Home::from_env()?;
    let config = ConfigFile::load(&setup::config_file(&home))?;
    let store = setup::clam_store(&home, &config);
    match command {
        ClamsCommand::List { json } => {
            let (clams, problems) = store.list();
            if json {
                let list: Vec<_> = clams
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "name": c.meta.name, "version": c.meta.version,
                            "description": c.meta.description, "runs": c.meta.runs,
                            "failures": c.meta.failures, "created": c.meta.created,
                            "updated": c.meta.updated, "calls": c.meta.calls,
                        })
                    })
                    .collect();
                super::output::print_json(&list)?;
            } else if clams.is_empty() && problems.is_empty() {
                println!(
                    "No clams yet. Accepted scripts are saved in {}.",
                    store.save_dir().display()
                );
            }
            for clam in clams.iter().filter(|_| !json) {
                // Names and descriptions are the model's words.
                let line = format!(
                    "{:<28} v{:<3} runs {:<4} failures {:<3} {}",
                    clam.meta.name,
                    clam.meta.version,
                    clam.meta.runs,
                    clam.meta.failures,
                    clam.meta.description
                );
                println!("{}", terminal::inline(&line));
            }
            for problem in &problems {
                eprintln!("clambot: cannot use {}", terminal::inline(problem));
            }
            Ok(if problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        ClamsCommand::Show { name } => {
            let clam = store
                .get(&name)
                .map_err(|e| Exit::not_found(format!("{e:#}")))?;
            let meta = std::fs::read_to_string(clam.dir.join("clam.toml"))?;
            let shown = format!(
                "{meta}\n# {}\n{}",
                clam.dir.join("clam.js").display(),
                clam.script
            );
            println!("{}", terminal::escape(&shown, Newlines::Keep));
            Ok(ExitCode::SUCCESS)
        }
        ClamsCommand::Rm { name } => {
            store.remove(&name)?;
            println!("removed {name}");
            Ok(ExitCode::SUCCESS)
        }
        ClamsCommand::Run {
            name,
            args,
            non_interactive,
        } => {
            let clam = store
                .get(&name)
                .map_err(|e| Exit::not_found(format!("{e:#}")))?;
            let args = match args {
                Some(text) => serde_json::from_str(&text)
                    .with_context(|| Exit::usage(format!("--args is not valid JSON: {text}")))?,
                None => clam.meta.inputs(),
            };
            // A saved clam runs without the model: no provider is needed.
            let (agent, notices) = setup::open_agent_without_model(home, &Choices::default())?;
            for notice in notices {
                eprintln!("clambot: {notice}");
            }
            let approver: Arc<dyn Approver> =
                match TerminalApprover::from_tty(DEFAULT_PROMPT_TIMEOUT) {
                    Some(terminal) if !non_interactive => Arc::new(terminal),
                    _ => Arc::new(NonInteractive),
                };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()?;
            let reply = runtime.block_on(agent.run_clam(ClamRequest {
                session: "cli:clams".into(),
                clam: name,
                args,
                approver,
                progress: Arc::new(Quiet),
                cancel: CancellationToken::new(),
            }))?;
            println!("{}", terminal::escape(&reply.text, Newlines::Keep));
            Ok(match reply.outcome {
                TurnOutcome::Ran { .. } => ExitCode::SUCCESS,
                _ => ExitCode::from(1),
            })
        }
    }
}
