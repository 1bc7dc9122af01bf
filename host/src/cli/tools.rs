//! `clambot tools list|inspect|new`: the tool components found, whether each is
//! loaded under the policy (and why not), their JS signatures, and a new tool's
//! scaffold.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use clambot::agent::config::ConfigFile;
use clambot::agent::setup::{self, Choices};
use clambot::components::scaffold::{self, Language};
use clambot::components::{Toolbox, signature};
use clambot::home::Home;
use clambot::state::HostState;

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// Every tool component found, loaded or refused (with why), with its sha256.
    List {
        /// The policy to load tools under [default: the agent's].
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// A JSON array: name, status (loaded|refused), functions, sha256, path, reason.
        #[arg(long)]
        json: bool,
    },
    /// A loaded tool's functions as JavaScript signatures, with their docs.
    Inspect {
        name: String,
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// Writes a new tool component's source (WIT, code, README), ready to build
    /// with `just tool DIR`.
    New {
        /// The tool's name: lowercase words joined by `-` (e.g. `csv-stats`).
        name: String,
        #[arg(long, value_enum)]
        lang: Language,
        /// Where to write it [default: the user's tools directory, $CLAMBOT_HOME/tools/NAME].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

fn open(policy: Option<PathBuf>) -> Result<Toolbox> {
    let home = Home::from_env()?;
    let config = ConfigFile::load(&setup::config_file(&home))?;
    let path = policy.unwrap_or_else(|| setup::policy_path(&home, &config, &Choices::default()));
    let (policy, _) = setup::load_policy(&path)?;
    let state = HostState::open(home)?;
    let (_, toolbox) = state.implementations_with_tools(&policy)?;
    Ok(toolbox)
}

pub fn run(command: ToolsCommand) -> Result<ExitCode> {
    match command {
        ToolsCommand::List { policy, json: true } => {
            let toolbox = open(policy)?;
            let mut list: Vec<_> = toolbox
                .tools
                .iter()
                .map(|tool| {
                    serde_json::json!({
                        "name": tool.name(), "status": "loaded",
                        "functions": tool.functions.len(), "sha256": tool.sha256,
                        "path": tool.path, "reason": null,
                    })
                })
                .collect();
            list.extend(toolbox.refused.iter().map(|refusal| {
                serde_json::json!({
                    "name": refusal.tool(), "status": "refused", "functions": null,
                    "sha256": null, "path": null, "reason": refusal.to_string(),
                })
            }));
            super::output::print_json(&list)?;
            Ok(ExitCode::SUCCESS)
        }
        ToolsCommand::List {
            policy,
            json: false,
        } => {
            let toolbox = open(policy)?;
            if toolbox.tools.is_empty() && toolbox.refused.is_empty() {
                println!("No tool components found, and policy names none.");
            }
            for tool in &toolbox.tools {
                println!(
                    "{:<16} loaded   {} functions  sha256 {}  {}",
                    tool.name(),
                    tool.functions.len(),
                    tool.sha256,
                    tool.path.display()
                );
            }
            for refusal in &toolbox.refused {
                println!("{:<16} refused  {refusal}", refusal.tool());
            }
            for found in &toolbox.found {
                if let Some(hidden) = &found.shadows {
                    println!(
                        "{:<16} note     {} hides {}",
                        found.name,
                        found.path.display(),
                        hidden.display()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ToolsCommand::Inspect { name, policy } => {
            let toolbox = open(policy)?;
            let Some(tool) = toolbox.get(&name) else {
                match toolbox.refused.iter().find(|r| r.tool() == name) {
                    Some(refusal) => eprintln!("clambot: {refusal}"),
                    None => eprintln!(
                        "clambot: no tool `{name}` was found; `clambot tools list` shows what there is"
                    ),
                }
                return Ok(ExitCode::from(super::exit::INVALID));
            };
            println!(
                "// tools.{name}: {} (sha256 {})",
                tool.interface, tool.sha256
            );
            print!("{}", signature::signatures(tool, &tool.docs()));
            Ok(ExitCode::SUCCESS)
        }
        ToolsCommand::New { name, lang, dir } => {
            let dir = match dir {
                Some(dir) => dir,
                None => Home::from_env()?.tools_dir().join(&name),
            };
            let written = match scaffold::create(&name, lang, &dir) {
                Ok(written) => written,
                Err(e) => {
                    eprintln!("clambot: {e:#}");
                    return Ok(ExitCode::from(super::exit::INVALID));
                }
            };
            println!("Wrote {}:", dir.display());
            for file in written {
                println!("  {}", file.strip_prefix(&dir).unwrap_or(&file).display());
            }
            println!(
                "Next: build it with `just tool {}` (from the clambot checkout), pin the printed \
                 sha256 as [tools.{name}] in policy.toml, allow `tools.{name}.hello`, then \
                 `clambot tools inspect {name}`.",
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
