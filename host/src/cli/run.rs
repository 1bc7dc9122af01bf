//! `clambot run`: one script, one fresh sandbox, no model.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::exit::{self, Exit};
use clambot::gate::approver::{Approver, DEFAULT_PROMPT_TIMEOUT, NonInteractive, TerminalApprover};
use clambot::home::Home;
use clambot::policy::Policy;
use clambot::sandbox::{RunError, RunLimits, RunRequest, Sandbox, SandboxConfig, limits};
use clambot::size::{parse_duration, parse_size};
use clambot::state::HostState;
use clambot::terminal;

#[derive(Debug, Args)]
#[command(after_help = RUN_AFTER_HELP)]
pub struct RunArgs {
    /// The script: the body of an async function with `args` in scope, or a file
    /// that defines `async function run(args)`.
    file: PathBuf,

    /// The script's `args`, as JSON.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    args: String,

    /// Wall-clock limit, e.g. `30s`, `500ms` [default: 30s, or the policy's].
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    timeout: Option<Duration>,

    /// Memory limit for the sandbox, e.g. `64MiB`, at most 512MiB [default: 64MiB, or the policy's].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    memory: Option<u64>,

    /// Limit on captured console output, e.g. `1MiB` [default: 1MiB, or the policy's].
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_output: Option<u64>,

    /// The policy every host call is checked against [default: the agent's: `[agent]
    /// policy` in config.toml, else $CLAMBOT_HOME/policy.toml; none there denies every call].
    #[arg(long, value_name = "FILE", env = "CLAMBOT_POLICY")]
    policy: Option<PathBuf>,

    /// Never ask: calls that an [[ask]] rule covers are rejected. Implied when
    /// there is no terminal.
    #[arg(long)]
    non_interactive: bool,

    /// Print each host call and the gate's decision on stderr.
    #[arg(long, short)]
    verbose: bool,
}

const RUN_AFTER_HELP: &str = concat!(
    "\
The result is printed as JSON on stdout; console output goes to stderr, each
line marked `| ` and with control characters shown escaped (`\\x1b`), so a
script can neither act on the terminal nor pass a line off as clambot's.
Without --policy the run uses the agent's policy ($CLAMBOT_HOME/policy.toml, or
[agent] policy in config.toml); with no policy file every host call is denied.
A policy's [run] limits are ceilings: --timeout, --memory and --max-output can
only lower them. Every host call is recorded in $CLAMBOT_HOME/data/audit/audit.jsonl.

",
    exit::table!()
);

pub fn run(args: RunArgs) -> Result<ExitCode> {
    let parsed_args: serde_json::Value = serde_json::from_str(&args.args)
        .with_context(|| Exit::usage(format!("--args is not valid JSON: {}", args.args)))?;
    let source = std::fs::read_to_string(&args.file)
        .with_context(|| Exit::not_found(format!("reading {}", args.file.display())))?;
    // One policy, one home: without --policy, the agent's (`[agent] policy` in
    // config.toml, else $CLAMBOT_HOME/policy.toml); no file there denies everything.
    let home = Home::from_env()?;
    let policy_file = match &args.policy {
        Some(path) => path.clone(),
        None => {
            let config = clambot::agent::config::ConfigFile::load(
                &clambot::agent::setup::config_file(&home),
            )?;
            clambot::agent::setup::policy_path(
                &home,
                &config,
                &clambot::agent::setup::Choices::default(),
            )
        }
    };
    let policy = if args.policy.is_none() && !policy_file.exists() {
        Policy::deny_all()
    } else {
        match Policy::load(&policy_file) {
            Ok(policy) => policy,
            Err(error) => {
                eprintln!("{error}");
                eprintln!("clambot: the policy has errors; nothing was run");
                return Ok(ExitCode::from(exit::POLICY));
            }
        }
    };
    let limits = effective_limits(&args, &policy)?;
    let state = HostState::open(home)?;
    if !policy.is_implicit() {
        state.check_policy_file(&policy_file)?;
    }
    let approver: Arc<dyn Approver> = match TerminalApprover::from_tty(DEFAULT_PROMPT_TIMEOUT) {
        Some(terminal) if !args.non_interactive => Arc::new(terminal),
        _ => Arc::new(NonInteractive),
    };
    let gate = state.gate(policy, approver)?;
    let request = RunRequest {
        source,
        args_json: parsed_args.to_string(),
        limits,
        gate,
    };

    let (implementations, toolbox) = state.implementations_with_tools(&request.gate.policy)?;
    let mcp = implementations.mcp().cloned();
    for refusal in toolbox.named_refusals() {
        eprintln!("clambot: {refusal}");
    }
    let sandbox = Sandbox::with_implementations(
        &SandboxConfig {
            cache_dir: Some(state.home.cache_dir()),
            max_concurrent_runs: 1,
        },
        implementations,
    )?;
    // Multi-threaded so a terminal approval prompt can block without stalling the run.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let outcome = runtime.block_on(async {
        let outcome = sandbox.run(&request).await;
        // The MCP servers the run started stop with it.
        if let Some(hub) = &mcp {
            hub.shutdown().await;
        }
        outcome
    });

    // Everything below reaches a terminal: script-chosen text only through the
    // terminal module's escaping.
    let mut stderr = std::io::stderr().lock();
    stderr.write_all(outcome.console.terminal_text().as_bytes())?;
    if args.verbose {
        for call in &outcome.calls {
            let line = format!(
                "call {} {:?} by {} ({})",
                call.function,
                call.verdict,
                call.rule,
                clambot::size::show_duration(call.duration)
            );
            writeln!(stderr, "clambot: {}", terminal::inline(&line))?;
        }
    }
    match outcome.result {
        Ok(json) => {
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{}", terminal::json(&json))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            // The advice first, so the last line stays the one-line reason.
            if error.is_denial()
                && let Some(call) = outcome.calls.iter().find(|c| c.denial.is_some())
                && let Some(denial) = &call.denial
            {
                let (interface, function) = clambot::policy::split_call_name(&call.function);
                let policy = &request.gate.policy;
                let advice = if call.verdict == clambot::gate::audit::Verdict::Limit {
                    clambot::policy::suggest::Advice::Nothing {
                        why: format!(
                            "{} allows the call, but its per-run budget ran out",
                            clambot::policy::escape(&call.rule)
                        ),
                    }
                } else {
                    clambot::policy::suggest::advise(
                        policy,
                        &call.caller,
                        &clambot::policy::Call {
                            interface,
                            function,
                            args: &denial.args,
                        },
                    )
                };
                writeln!(stderr, "clambot: {}", advice.render(policy))?;
            }
            // Where it failed (the script's frames, the source line and a caret),
            // then the one-line reason.
            for context in error.context() {
                writeln!(stderr, "clambot:   {}", terminal::inline(&context))?;
            }
            let line = format!("{}: {error}", args.file.display());
            writeln!(stderr, "clambot: {}", terminal::inline(&line))?;
            Ok(ExitCode::from(exit_code(&error)))
        }
    }
}

/// The policy's `[run]` limits, lowered by any flag.
fn effective_limits(args: &RunArgs, policy: &Policy) -> Result<RunLimits> {
    let run = policy.run();
    let defaults = RunLimits::default();
    let lower = |flag: Option<u64>, ceiling: Option<u64>, default: u64| match (flag, ceiling) {
        (Some(f), Some(c)) => f.min(c),
        (Some(f), None) => f,
        (None, Some(c)) => c,
        (None, None) => default,
    };
    let memory = lower(args.memory, run.memory, defaults.memory);
    if memory > limits::MAX_MEMORY {
        bail!(Exit::usage("the memory limit may be at most 512MiB"));
    }
    let timeout = match (args.timeout, run.timeout) {
        (Some(f), Some(c)) => f.min(c),
        (Some(f), None) => f,
        (None, Some(c)) => c,
        (None, None) => defaults.timeout,
    };
    // The same ceiling the policy loader applies, so a flag cannot overflow the deadline.
    let timeout = clambot::policy::limits::check_timeout(timeout).map_err(anyhow::Error::msg)?;
    Ok(RunLimits {
        timeout,
        memory,
        max_output: usize::try_from(lower(
            args.max_output,
            run.max_output,
            defaults.max_output as u64,
        ))
        .unwrap_or(usize::MAX),
        ..defaults
    })
}

/// The run's exit code. A denial is one only if the gate refused a call (the
/// sandbox checks a script's claim to one against the run's own record).
fn exit_code(error: &RunError) -> u8 {
    match error {
        _ if error.is_denial() => exit::DENIED,
        RunError::Script(_) => exit::SCRIPT_ERROR,
        RunError::Timeout(_) => exit::TIMEOUT,
        RunError::OutOfMemory(_) | RunError::StackOverflow => exit::MEMORY,
        RunError::OutputLimit(_) | RunError::ResultTooLarge { .. } => exit::OUTPUT,
        RunError::Trap(_) | RunError::Cancelled => exit::INTERNAL,
    }
}
