//! `clambot agent`: one turn (`-m`) or a REPL. Ctrl-C cancels the running turn
//! (and its sandbox run), not the program; approvals are asked on the terminal;
//! a status line shows what the agent is doing.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use tokio_util::sync::CancellationToken;

use clambot::agent::Agent;
use clambot::agent::config::NO_PROVIDER_HELP;
use clambot::agent::setup::{self, Choices};
use clambot::agent::turn::{AnnouncingApprover, Phase, Progress, TurnOutcome, TurnRequest, Turns};
use clambot::gate::BoxFuture;
use clambot::gate::approver::{
    Approval, ApprovalRequest, Approver, DEFAULT_PROMPT_TIMEOUT, NonInteractive, TerminalApprover,
    parse_answer, question,
};
use clambot::home::Home;

use super::line_editor::{LineEditor, NoLine};

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
    let status = Arc::new(StatusLine::new());
    let current = Arc::new(Mutex::new(None));
    // The REPL reads approvals through its own line editor (one reader of the
    // terminal); a one-shot turn has no editor and asks on /dev/tty.
    let mode = match args.message {
        Some(message) => Mode::Once(message),
        None => Mode::Repl(LineEditor::start(
            Home::from_env()?.data_dir().join("agent_history"),
        )?),
    };
    let approver: Arc<dyn Approver> = match &mode {
        _ if args.non_interactive => Arc::new(NonInteractive),
        Mode::Repl(editor) => Arc::new(EditorApprover {
            editor: editor.clone(),
            status: Arc::clone(&status),
            current: Arc::clone(&current),
            timeout: DEFAULT_PROMPT_TIMEOUT,
        }),
        Mode::Once(_) => match TerminalApprover::from_tty(DEFAULT_PROMPT_TIMEOUT) {
            Some(terminal) => Arc::new(terminal),
            None => Arc::new(NonInteractive),
        },
    };
    let shell = Shell {
        agent: Arc::new(agent),
        approver,
        status,
        current,
    };
    runtime.block_on(async {
        // Ctrl-C cancels the turn in progress; at a prompt the line editor
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
        match &mode {
            Mode::Once(message) => shell.one_turn(&session, message).await,
            Mode::Repl(editor) => shell.repl(editor, session).await,
        }
    })
}

/// One message (`-m`), or a REPL with its line editor.
enum Mode {
    Once(String),
    Repl(LineEditor),
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

/// The REPL's commands; any other line is a message for the agent.
const COMMANDS: &[(&str, &str)] = &[
    ("/help", "this list"),
    (
        "/new",
        "start a new session (the model forgets this conversation)",
    ),
    ("/exit", "quit (also /quit, or Ctrl-D)"),
];

/// What a REPL line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    Empty,
    Help,
    New,
    Exit,
    /// A `/word` that is no command: refused, never sent to the model.
    Unknown(&'a str),
    Message(&'a str),
}

fn classify(line: &str) -> Line<'_> {
    let line = line.trim();
    if line.is_empty() {
        return Line::Empty;
    }
    // `//text` sends `/text` as a message.
    if let Some(message) = line.strip_prefix("//") {
        return Line::Message(line.get(1..).unwrap_or(message));
    }
    let Some(word) = line.strip_prefix('/') else {
        return Line::Message(line);
    };
    let word = word.split_whitespace().next().unwrap_or("");
    // "/usr/bin is what?" is a message, not a command.
    if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphabetic()) {
        return Line::Message(line);
    }
    match word {
        "help" => Line::Help,
        "new" => Line::New,
        "exit" | "quit" => Line::Exit,
        _ => Line::Unknown(line.split_whitespace().next().unwrap_or(line)),
    }
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
        // The status line shows how long the current phase has taken.
        let ticker = {
            let status = Arc::clone(&self.status);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(1));
                loop {
                    every.tick().await;
                    status.tick();
                }
            })
        };
        let reply = self.agent.turn(request).await;
        ticker.abort();
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

    async fn repl(&self, editor: &LineEditor, mut session: String) -> Result<ExitCode> {
        eprintln!(
            "clambot agent (model {}, session {session}). /help lists commands, /exit or Ctrl-D \
             quits; Ctrl-C cancels a running turn.",
            self.agent.provider().model()
        );
        loop {
            let line = match editor.read("you> ", true, None).await {
                Ok(line) => line,
                Err(NoLine::Interrupted) => {
                    eprintln!("(Ctrl-D or /exit quits)");
                    continue;
                }
                Err(NoLine::Eof) => break,
                Err(NoLine::TimedOut) => continue,
                Err(NoLine::Failed(error)) => anyhow::bail!("reading a line: {error}"),
            };
            match classify(&line) {
                Line::Empty => {}
                Line::Exit => break,
                Line::Help => {
                    for (command, what) in COMMANDS {
                        eprintln!("  {command:<7} {what}");
                    }
                    eprintln!(
                        "  Anything else is a message for the agent (start it with // to send \
                         a leading /). Ctrl-C cancels a running turn; at an approval question \
                         it rejects the call and cancels the turn."
                    );
                }
                Line::New => {
                    session = new_session_key();
                    eprintln!("(new session {session})");
                }
                Line::Unknown(command) => {
                    eprintln!("clambot: unknown command {command}; /help lists the commands");
                }
                Line::Message(message) => {
                    if let Err(error) = self.turn(&session, message).await {
                        eprintln!("clambot: {error:#}");
                    }
                }
            }
        }
        self.agent.wait_background().await;
        Ok(ExitCode::SUCCESS)
    }
}

/// Asks approval questions through the REPL's own line editor, so the answer
/// and every line typed after it reach the right reader.
#[derive(Debug)]
struct EditorApprover {
    editor: LineEditor,
    status: Arc<StatusLine>,
    current: Arc<Mutex<Option<CancellationToken>>>,
    timeout: Duration,
}

impl EditorApprover {
    async fn ask(&self, request: &ApprovalRequest) -> Approval {
        let deadline = Instant::now() + self.timeout;
        eprint!("\n{}", question(request));
        let has_script = self.status.script().is_some();
        let prompt = format!(
            "  {}(no answer within {}s rejects) > ",
            if has_script {
                "[s] show the script   "
            } else {
                ""
            },
            self.timeout.as_secs()
        );
        loop {
            match self.editor.read(&prompt, false, Some(deadline)).await {
                Ok(answer) => {
                    if let Some(approval) = parse_answer(&answer) {
                        return approval;
                    }
                    if matches!(answer.trim(), "s" | "S")
                        && let Some(script) = self.status.script()
                    {
                        // Model-written text: escaped, so it cannot repaint the question.
                        let script =
                            clambot::terminal::escape(&script, clambot::terminal::Newlines::Keep);
                        eprintln!("---- the script ----\n{script}\n--------------------");
                        continue;
                    }
                    eprintln!("  (answer o, t, a or r)");
                }
                Err(NoLine::Interrupted) => {
                    if let Some(token) = self
                        .current
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .as_ref()
                    {
                        token.cancel();
                    }
                    return Approval::Reject("cancelled at the terminal (Ctrl-C)".into());
                }
                Err(NoLine::TimedOut) => {
                    eprintln!(
                        "\n  (no answer within {}s: rejected)",
                        self.timeout.as_secs()
                    );
                    return Approval::Reject(format!(
                        "no answer at the terminal within {}s",
                        self.timeout.as_secs()
                    ));
                }
                Err(NoLine::Eof) => return Approval::Reject("the terminal closed".into()),
                Err(NoLine::Failed(error)) => {
                    return Approval::Reject(format!("the terminal cannot be read: {error}"));
                }
            }
        }
    }
}

impl Approver for EditorApprover {
    fn approve<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Approval> {
        Box::pin(self.ask(request))
    }
}

/// One line on stderr saying what the agent does and for how long, when stderr
/// is a terminal; it also keeps the script being run, for the approval question.
#[derive(Debug)]
struct StatusLine {
    terminal: bool,
    shown: Mutex<Option<(Phase, Instant)>>,
    script: Mutex<Option<String>>,
}

/// A phase shorter than this shows no elapsed time.
const SHOW_ELAPSED_AFTER: Duration = Duration::from_secs(2);

impl StatusLine {
    fn new() -> Self {
        Self {
            terminal: std::io::stderr().is_terminal(),
            shown: Mutex::new(None),
            script: Mutex::new(None),
        }
    }

    fn clear(&self) {
        *self.shown.lock().unwrap_or_else(PoisonError::into_inner) = None;
        *self.script.lock().unwrap_or_else(PoisonError::into_inner) = None;
        if self.terminal {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }

    fn script(&self) -> Option<String> {
        self.script
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn paint(&self, phase: &Phase, elapsed: Duration) {
        let mut stderr = std::io::stderr();
        // A clam's name is the model's text.
        let phase = clambot::terminal::inline(&phase.to_string());
        if elapsed >= SHOW_ELAPSED_AFTER {
            let _ = write!(stderr, "\r\x1b[2K… {phase} ({}s)", elapsed.as_secs());
        } else {
            let _ = write!(stderr, "\r\x1b[2K… {phase}");
        }
        let _ = stderr.flush();
    }

    /// Repaints the current phase with its elapsed time (once a second).
    fn tick(&self) {
        if !self.terminal {
            return;
        }
        if let Some((phase, since)) = &*self.shown.lock().unwrap_or_else(PoisonError::into_inner) {
            self.paint(phase, since.elapsed());
        }
    }
}

impl Progress for StatusLine {
    fn phase(&self, phase: Phase) {
        let mut shown = self.shown.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(phase, Phase::WaitingForApproval { .. }) {
            // The question follows on its own lines; nothing repaints over it.
            *shown = None;
            if self.terminal {
                let _ = write!(std::io::stderr(), "\r\x1b[2K");
            }
            return;
        }
        if self.terminal {
            self.paint(&phase, Duration::ZERO);
        }
        *shown = Some((phase, Instant::now()));
    }

    fn script(&self, source: &str) {
        *self.script.lock().unwrap_or_else(PoisonError::into_inner) = Some(source.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_slash_words_are_commands() {
        assert_eq!(classify("/help"), Line::Help);
        assert_eq!(classify("  /exit "), Line::Exit);
        assert_eq!(classify("/quit"), Line::Exit);
        assert_eq!(classify("/new"), Line::New);
        assert_eq!(classify("/hepl me"), Line::Unknown("/hepl"));
        assert_eq!(
            classify("/usr/bin is what?"),
            Line::Message("/usr/bin is what?")
        );
        assert_eq!(classify("//help"), Line::Message("/help"));
        assert_eq!(classify("hello /help"), Line::Message("hello /help"));
        assert_eq!(classify("   "), Line::Empty);
    }
}
