//! `clambot mcp list|inspect|serve`: the MCP servers the policy declares and
//! their tools as JavaScript signatures; and clambot's sandbox as an MCP server.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Subcommand;

use clambot::agent::config::ConfigFile;
use clambot::agent::setup::{self, Choices};
use clambot::gate::approver::NonInteractive;
use clambot::home::Home;
use clambot::mcp::{McpHub, McpServer};
use clambot::policy::Policy;
use clambot::sandbox::{Sandbox, SandboxConfig};
use clambot::state::HostState;
use clambot::terminal;

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// The MCP servers the policy declares ([mcp.NAME]): how each is run or
    /// reached, and its tools (each server is started to ask for them).
    List {
        /// The policy [default: the agent's].
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// A JSON array: name, transport, status (ready|failed), tools, reason.
        #[arg(long)]
        json: bool,
    },
    /// A server's tools as JavaScript signatures (from their JSON Schemas), with
    /// their descriptions: what scripts and the model see.
    Inspect {
        name: String,
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
    },
    /// Serve clambot's sandbox over MCP on stdin/stdout: tools to run a script,
    /// list the saved clams and run one, under the owner's policy.
    Serve {
        /// The policy every run is judged by [default: the agent's].
        #[arg(long, value_name = "FILE", env = "CLAMBOT_POLICY")]
        policy: Option<PathBuf>,
    },
}

fn policy_file(home: &Home, policy: Option<PathBuf>) -> Result<PathBuf> {
    let config = ConfigFile::load(&setup::config_file(home))?;
    Ok(policy.unwrap_or_else(|| setup::policy_path(home, &config, &Choices::default())))
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn hub(policy: Option<PathBuf>) -> Result<(Policy, McpHub)> {
    let home = Home::from_env()?;
    let path = policy_file(&home, policy)?;
    let (policy, _) = setup::load_policy(&path)?;
    let state = HostState::open(home)?;
    let hub = McpHub::new(&policy, Arc::clone(&state.secrets));
    Ok((policy, hub))
}

/// One server's tools, or why there are none.
async fn tools_of(server: &McpServer) -> Result<Vec<clambot::mcp::client::ServerTool>, String> {
    server
        .tools(server.timeout())
        .await
        .map_err(|e| e.to_string())
}

pub fn run(command: McpCommand) -> Result<ExitCode> {
    match command {
        McpCommand::List { policy, json } => {
            let (_, hub) = hub(policy)?;
            let runtime = runtime()?;
            let listed = runtime.block_on(async {
                let mut listed = Vec::new();
                for server in hub.servers() {
                    listed.push((Arc::clone(server), tools_of(server).await));
                }
                hub.shutdown().await;
                listed
            });
            if json {
                let list: Vec<_> = listed
                    .iter()
                    .map(|(server, tools)| {
                        serde_json::json!({
                            "name": server.name(),
                            "transport": server.settings().describe(),
                            "status": if tools.is_ok() { "ready" } else { "failed" },
                            "tools": tools.as_ref().ok().map(|ts| ts.iter().map(|t| t.name.clone()).collect::<Vec<_>>()),
                            "reason": tools.as_ref().err(),
                        })
                    })
                    .collect();
                super::output::print_json(&list)?;
            } else if listed.is_empty() {
                println!("The policy declares no MCP server ([mcp.NAME] tables).");
            }
            for (server, tools) in listed.iter().filter(|_| !json) {
                let line = match tools {
                    Ok(tools) => format!(
                        "{:<16} ready   {} tools: {}  ({})",
                        server.name(),
                        tools.len(),
                        tools
                            .iter()
                            .map(|t| t.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        server.settings().describe()
                    ),
                    Err(why) => format!("{:<16} failed  {why}", server.name()),
                };
                println!("{}", terminal::inline(&line));
            }
            let failed = listed.iter().any(|(_, t)| t.is_err());
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        McpCommand::Inspect { name, policy } => {
            let (_, hub) = hub(policy)?;
            let Some(server) = hub.server(&name).cloned() else {
                eprintln!(
                    "clambot: the policy declares no MCP server `{name}` (declared: {}); add an [mcp.{name}] table",
                    if hub.is_empty() {
                        "none".to_owned()
                    } else {
                        hub.names().join(", ")
                    }
                );
                return Ok(ExitCode::from(super::exit::INVALID));
            };
            let runtime = runtime()?;
            let tools = runtime.block_on(async {
                let tools = tools_of(&server).await;
                hub.shutdown().await;
                tools
            });
            match tools {
                Ok(tools) => {
                    println!(
                        "// mcp.{}: {}",
                        server.name(),
                        terminal::inline(&server.settings().describe())
                    );
                    print!(
                        "{}",
                        terminal::escape(
                            &clambot::mcp::schema::signatures(server.name(), &tools),
                            terminal::Newlines::Keep
                        )
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    eprintln!("clambot: {}", terminal::inline(&why));
                    Ok(ExitCode::from(1))
                }
            }
        }
        McpCommand::Serve { policy } => serve(policy),
    }
}

fn serve(policy: Option<PathBuf>) -> Result<ExitCode> {
    let home = Home::from_env()?;
    let path = policy_file(&home, policy)?;
    let (policy, notice) = setup::load_policy(&path)?;
    if let Some(notice) = notice {
        eprintln!("clambot mcp serve: {notice}");
    }
    let config = ConfigFile::load(&setup::config_file(&home))?;
    let state = HostState::open(home.clone())?;
    if !policy.is_implicit() {
        state.check_policy_file(&path)?;
    }
    let limits = clambot::sandbox::RunLimits::default().lowered_by(&policy);
    let (implementations, toolbox) = state.implementations_with_tools(&policy)?;
    for refusal in toolbox.named_refusals() {
        eprintln!("clambot mcp serve: {refusal}");
    }
    let hub = implementations.mcp().cloned();
    let sandbox = Arc::new(Sandbox::with_implementations(
        &SandboxConfig {
            cache_dir: Some(home.cache_dir()),
            max_concurrent_runs: 4,
        },
        implementations,
    )?);
    let gate = state.gate(policy, Arc::new(NonInteractive))?;
    let server = clambot::mcp::serve::ClamServer::new(
        sandbox,
        gate,
        limits,
        setup::clam_store(&home, &config),
    );
    let runtime = runtime()?;
    let served = runtime.block_on(async {
        let served = server.serve_stdio().await;
        if let Some(hub) = hub {
            hub.shutdown().await;
        }
        served
    });
    served?;
    Ok(ExitCode::SUCCESS)
}
