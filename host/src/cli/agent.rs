//! `clambot agent`: one turn (`-m`) or a REPL. Ctrl-C cancels the running turn
//! (and its sandbox run), not the program; approvals are asked on the terminal;
//! a status line shows what the agent is doing.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use clap::Args;
use tokio_util::sync::CancellationToken;

use clambot::agent::Agent;
use clambot::agent::config::NO_PROVIDER_HELP;
use clambot::agent::setup::{self, Choices};
use clambot::agent::turn::{AnnouncingApprover, Phase, Progress, TurnOutcome, TurnRequest, Turns};
use clambot::gate::approver::{Approver, DEFAULT_PROMPT_TIMEOUT, NonInteractive, TerminalApprover};
use clambot::home::Home;

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// One message: answer it and exit. Without it, a REPL starts.
    #[arg(short, long, value_name = "TEXT")]
    message: Option<String>,

    /// Continue a session: the last CLI session, or the one named.
    #[arg(short, long, value_name = "SESSION", num_args = 0..=1, default_missing_value = "")]
    resume: Option<String>,

    /// The policy every host call is checked against
    /// [default: [agent] policy in config.toml, else $CLAMBOT_HOME/policy.toml].
    #[arg(long, value_name = "FILE", env = "CLAMBOT_POLICY")]
    policy: Option<PathBuf>,

    /// Never ask: calls that an [[ask]] rule covers are rejected.
    #[arg(long)]
    non_interactive: bool,
}

/// Exit code when no model provider is configured.
const NO_PROVIDER: u8 = 78;

pub fn run(args: AgentArgs) -> Result<ExitCode> {
    let home = Home::from_env()?;
    let choices = Choices {
        policy: args.policy.clone(),
    };
    let (agent, notices) = match setup::open_agent(home, &choices, setup::wit_api_text()) {
        Ok(opened) => opened,
        Err(error) if error.to_string() == NO_PROVIDER_HELP => {
            eprintln!("{NO_PROVIDER_HELP}");
            return Ok(ExitCode::from(NO_PROVIDER));
        }
        Err(error) => return Err(error),
    };
    for notice in notices {
        eprintln!("clambot: {notice}");
    }
    let session = match args.resume.as_deref() {
        Some("") => agent
            .sessions()
            .latest("cli:")?
            .unwrap_or_else(new_session_key),
        Some(key) => key.to_owned(),
        None => new_session_key(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let approver: Arc<dyn Approver> = match TerminalApprover::from_tty(DEFAULT_PROMPT_TIMEOUT) {
        Some(terminal) if !args.non_interactive => Arc::new(terminal),
        _ => Arc::new(NonInteractive),
    };
    let shell = Shell {
        agent: Arc::new(agent),
        approver,
        status: Arc::new(StatusLine::new()),
        current: Arc::new(Mutex::new(None)),
    };
    runtime.block_on(async {
        // Ctrl-C cancels the turn in progress; at the prompt the line editor
        // handles it (the terminal is in raw mode there, so no signal arrives).
        let current = Arc::clone(&shell.current);
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                let token = current
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                match token {
                    Some(token) => token.cancel(),
                    None => std::process::exit(130),
                }
            }
        });
        match &args.message {
            Some(message) => shell.one_turn(&session, message).await,
            None => shell.repl(session).await,
        }
    })
}

fn new_session_key() -> String {
    format!("cli:{}", uuid::Uuid::now_v7())
}

struct Shell {
    agent: Arc<Agent>,
    approver: Arc<dyn Approver>,
    status: Arc<StatusLine>,
    current: Arc<Mutex<Option<CancellationToken>>>,
}

impl Shell {
    async fn turn(&self, session: &str, message: &str) -> Result<TurnOutcome> {
        let cancel = CancellationToken::new();
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(cancel.clone());
        let progress: Arc<dyn Progress> = Arc::clone(&self.status) as Arc<dyn Progress>;
        let request = TurnRequest {
            session: session.to_owned(),
            message: message.to_owned(),
            approver: Arc::new(AnnouncingApprover {
                inner: Arc::clone(&self.approver),
                progress: Arc::clone(&progress),
            }),
            progress,
            cancel,
        };
        let reply = self.agent.turn(request).await;
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.status.clear();
        let reply = reply?;
        // The answer carries model- and script-chosen text: shown as text only.
        println!(
            "{}",
            clambot::terminal::escape(&reply.text, clambot::terminal::Newlines::Keep)
        );
        Ok(reply.outcome)
    }

    async fn one_turn(&self, session: &str, message: &str) -> Result<ExitCode> {
        let outcome = self.turn(session, message).await?;
        // Facts are extracted after the answer; a one-shot process waits for
        // that (the answer is already printed).
        self.agent.wait_background().await;
        Ok(match outcome {
            TurnOutcome::Chat | TurnOutcome::Ran { .. } => ExitCode::SUCCESS,
            TurnOutcome::Failed => ExitCode::from(1),
            TurnOutcome::Cancelled => ExitCode::from(130),
        })
    }

    async fn repl(&self, mut session: String) -> Result<ExitCode> {
        let history = Home::from_env()?.data_dir().join("agent_history");
        let mut editor = rustyline::DefaultEditor::new().context("starting the line editor")?;
        let _ = editor.load_history(&history);
        eprintln!(
            "clambot agent (model {}, session {session}). /new starts afresh, /exit or Ctrl-D quits; \
             Ctrl-C cancels a running turn.",
            self.agent.provider().model()
        );
        loop {
            // The editor blocks; keep it off the async workers.
            let line = tokio::task::block_in_place(|| editor.readline("you> "));
            let line = match line {
                Ok(line) => line,
                Err(rustyline::error::ReadlineError::Interrupted) => {
                    eprintln!("(Ctrl-D or /exit quits)");
                    continue;
                }
                Err(rustyline::error::ReadlineError::Eof) => break,
                Err(error) => return Err(error).context("reading a line"),
            };
            let message = line.trim();
            if message.is_empty() {
                continue;
            }
            let _ = editor.add_history_entry(message);
            match message {
                "/exit" | "/quit" => break,
                "/new" => {
                    session = new_session_key();
                    eprintln!("(new session {session})");
                    continue;
                }
                _ => {}
            }
            if let Err(error) = self.turn(&session, message).await {
                eprintln!("clambot: {error:#}");
            }
        }
        if let Some(dir) = history.parent() {
            let _ = clambot::atomic::create_private_dir(dir);
        }
        let _ = editor.save_history(&history);
        self.agent.wait_background().await;
        Ok(ExitCode::SUCCESS)
    }
}

/// One line on stderr saying what the agent does, when stderr is a terminal.
#[derive(Debug)]
struct StatusLine {
    terminal: bool,
}

impl StatusLine {
    fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn clear(&self) {
        if self.terminal {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

impl Progress for StatusLine {
    fn phase(&self, phase: Phase) {
        if !self.terminal {
            return;
        }
        let mut stderr = std::io::stderr();
        let _ = write!(stderr, "\r\x1b[2K… {phase}");
        if matches!(phase, Phase::WaitingForApproval { .. }) {
            // The approval prompt follows on its own line.
            let _ = writeln!(stderr);
        }
        let _ = stderr.flush();
    }
}
