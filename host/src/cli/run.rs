//! `clambot run`: one script, one fresh sandbox, no model.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::exit;
use clambot::gate::{DenyAll, Policy};
use clambot::home::Home;
use clambot::sandbox::{RunError, RunLimits, RunRequest, Sandbox, SandboxConfig, limits};
use clambot::size::{parse_duration, parse_size};

#[derive(Debug, Args)]
#[command(after_help = RUN_AFTER_HELP)]
pub struct RunArgs {
    /// The script: the body of an async function with `args` in scope, or a file
    /// that defines `async function run(args)`.
    file: PathBuf,

    /// The script's `args`, as JSON.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    args: String,

    /// Wall-clock limit, e.g. `30s`, `500ms`.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,

    /// Memory limit for the sandbox, e.g. `64MiB` (at most 512MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "64MiB")]
    memory: u64,

    /// Limit on captured console output, e.g. `1MiB`.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1MiB")]
    max_output: u64,

    /// Print each host call and the gate's decision on stderr.
    #[arg(long, short)]
    verbose: bool,
}

const RUN_AFTER_HELP: &str = "\
The result is printed as JSON on stdout; console output goes to stderr.
With no policy every host call (http, fs, cron, memory, secrets, log) is denied.

Exit codes:
  0   the script returned a value
  1   the script threw, had a syntax error, or returned something that is not JSON
  2   bad command-line usage
  3   the script died of a denied host call
  4   the time limit was reached
  5   the memory limit was reached or the stack overflowed
  6   the output or result limit was reached
  10  clambot itself failed";

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let source = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let parsed_args: serde_json::Value = serde_json::from_str(&args.args)
        .with_context(|| format!("--args is not valid JSON: {}", args.args))?;
    if args.memory > limits::MAX_MEMORY {
        bail!("--memory may be at most 512MiB");
    }
    let policy: Arc<dyn Policy> = Arc::new(DenyAll);
    let request = RunRequest {
        source,
        args_json: parsed_args.to_string(),
        limits: RunLimits {
            timeout: args.timeout,
            memory: args.memory,
            max_output: usize::try_from(args.max_output).unwrap_or(usize::MAX),
            ..RunLimits::default()
        },
        policy,
    };

    let home = Home::from_env()?;
    let sandbox = Sandbox::new(&SandboxConfig {
        cache_dir: Some(home.cache_dir()),
        max_concurrent_runs: 1,
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(sandbox.run(&request));

    let mut stderr = std::io::stderr().lock();
    stderr.write_all(outcome.console.text().as_bytes())?;
    if args.verbose {
        for call in &outcome.calls {
            let verdict = if call.allowed { "allowed" } else { "denied" };
            writeln!(stderr, "clambot: call {} {verdict} by {} ({:?})", call.function, call.rule, call.duration)?;
        }
    }
    match outcome.result {
        Ok(json) => {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{json}")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            writeln!(stderr, "clambot: {}: {error}", args.file.display())?;
            Ok(ExitCode::from(exit_code(&error)))
        }
    }
}

fn exit_code(error: &RunError) -> u8 {
    match error {
        _ if error.is_denial() => exit::DENIED,
        RunError::Script(_) => exit::SCRIPT_ERROR,
        RunError::Timeout(_) => exit::TIMEOUT,
        RunError::OutOfMemory(_) | RunError::StackOverflow => exit::MEMORY,
        RunError::OutputLimit(_) | RunError::ResultTooLarge { .. } => exit::OUTPUT,
        RunError::Trap(_) => exit::INTERNAL,
    }
}
