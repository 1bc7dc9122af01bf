//! Command-line interface: argument parsing and one module per subcommand.

mod agent;
mod audit;
mod clams;
mod completions;
mod cron;
pub mod exit;
mod gateway;
mod grants;
mod line_editor;
mod mcp;
mod memory;
mod onboard;
mod output;
mod policy;
mod run;
mod secrets;
mod status;
mod tools;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// clambot runs model-written JavaScript only inside a WebAssembly sandbox; every
/// effect a script has on the world is a host call that policy.toml must allow.
#[derive(Debug, Parser)]
#[command(name = "clambot", version = VERSION, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// `clambot --version`: the crate version and the embedded guest component's
/// SHA-256 prefix (the same hash that keys the precompiled-component cache).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (guest sha256 ",
    env!("CLAMBOT_GUEST_SHA256_SHORT"),
    ")"
);

const AFTER_HELP: &str = concat!(
    "All per-user state (config, data, cache) lives under $CLAMBOT_HOME (default ~/.clambot).\n\n",
    exit::table!()
);

#[derive(Debug, Subcommand)]
enum Command {
    /// Talk to the agent: one message with -m, or a REPL.
    Agent(agent::AgentArgs),
    /// Write config.toml, a starter policy and the workspace from what is found here.
    Onboard(onboard::OnboardArgs),
    /// What is ready and what is missing.
    Status(status::StatusArgs),
    /// Telegram, the cron scheduler and the heartbeat, until SIGINT or SIGTERM.
    Gateway(gateway::GatewayArgs),
    /// Scheduled jobs: list, add, remove, enable, disable.
    #[command(subcommand)]
    Cron(cron::CronCommand),
    /// The saved clams: list, show, run, rm.
    #[command(subcommand)]
    Clams(clams::ClamsCommand),
    /// Tool components: which are loaded under the policy, and their signatures.
    #[command(subcommand)]
    Tools(tools::ToolsCommand),
    /// MCP: the servers the policy declares and their tools; `serve` offers
    /// the sandbox to other AI tools.
    #[command(subcommand)]
    Mcp(mcp::McpCommand),
    /// Run a JavaScript file in the sandbox and print its result as JSON.
    Run(run::RunArgs),
    /// Check, explain and compare policy files (for code review and CI).
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// List and revoke the "always" grants people gave to [[ask]] rules.
    #[command(subcommand)]
    Grants(grants::GrantsCommand),
    /// Set, list and remove secrets (values are never shown or passed on argv).
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Export (as Markdown) or forget what the agent remembers.
    #[command(subcommand)]
    Memory(memory::MemoryCommand),
    /// The gated calls from the audit log: by run, denied only, since a time.
    Audit(audit::AuditArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff) for clambot and every subcommand.
    Man(completions::ManArgs),
}

impl Cli {
    /// Whether the command is a server that runs until stopped.
    pub fn is_long_running(&self) -> bool {
        matches!(self.command, Command::Gateway(_))
    }
}

pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Agent(args) => agent::run(args),
        Command::Onboard(args) => onboard::run(args),
        Command::Status(args) => status::run(args),
        Command::Clams(command) => clams::run(command),
        Command::Gateway(args) => gateway::run(args),
        Command::Cron(command) => cron::run(command),
        Command::Run(args) => run::run(args),
        Command::Tools(command) => tools::run(command),
        Command::Mcp(command) => mcp::run(command),
        Command::Policy(command) => policy::run(command),
        Command::Grants(command) => grants::run(command),
        Command::Secrets(command) => secrets::run(command),
        Command::Memory(command) => memory::run(command),
        Command::Audit(args) => audit::run(args),
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
    }
}
