//! Approvers: who answers an `ask` rule at the moment of the call.
//!
//! The trait lets the terminal, the Telegram gateway and unattended runs answer
//! the same question. Every approver fails closed: no answer, a timeout, an
//! unreadable terminal or an unknown reply is a rejection.

use std::fmt;
use std::io::{BufRead, Write};
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::Duration;

use serde_json::Value as Json;

use super::BoxFuture;
use crate::policy::Scope;
use crate::terminal;

/// The question put to a person.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    /// `interface.function`.
    pub function: String,
    /// The arguments, secrets redacted.
    pub args: Json,
    /// The `ask` rule that matched.
    pub rule: String,
    /// What an "always" or "this turn" answer would cover.
    pub scope: Scope,
}

/// A person's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// This call only.
    Once,
    /// Calls in the same scope until the turn ends.
    Turn,
    /// Calls in the same scope from now on (stored as a grant).
    Always,
    /// No; the reason reaches the script.
    Reject(String),
}

/// Answers `ask` rules.
pub trait Approver: Send + Sync + fmt::Debug {
    fn approve<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Approval>;
}

/// For runs with nobody at hand (CI, cron, pipes): rejects, saying which rule
/// would have to change.
#[derive(Debug, Clone, Copy, Default)]
pub struct NonInteractive;

impl Approver for NonInteractive {
    fn approve<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Approval> {
        Box::pin(async move {
            Approval::Reject(format!(
                "{} needs a person's approval and this run is non-interactive; \
                 to allow it unattended, turn that rule into an [[allow]] rule",
                request.rule
            ))
        })
    }
}

/// How long a terminal prompt waits before rejecting.
pub const DEFAULT_PROMPT_TIMEOUT: Duration = Duration::from_secs(60);

/// Asks on a terminal. Lines are read by one thread, started at the first
/// question and kept for the approver's life, so a prompt that timed out cannot
/// steal the answer to the next one.
pub struct TerminalApprover {
    input: Mutex<Option<Box<dyn BufRead + Send>>>,
    lines: Mutex<Option<mpsc::Receiver<String>>>,
    output: Mutex<Box<dyn Write + Send>>,
    timeout: Duration,
}

impl fmt::Debug for TerminalApprover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalApprover")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TerminalApprover {
    /// Reads answers from `input` and writes prompts to `output`.
    pub fn new(
        input: Box<dyn BufRead + Send>,
        output: Box<dyn Write + Send>,
        timeout: Duration,
    ) -> Self {
        Self {
            input: Mutex::new(Some(input)),
            lines: Mutex::new(None),
            output: Mutex::new(output),
            timeout,
        }
    }

    /// Starts the reader thread if it is not running yet.
    fn reader(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Receiver<String>>> {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.is_none()
            && let Some(input) = self
                .input
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
        {
            let (sender, receiver) = mpsc::channel();
            let started = std::thread::Builder::new()
                .name("clambot-approver".into())
                .spawn(move || {
                    for line in input.lines() {
                        let Ok(line) = line else { break };
                        if sender.send(line).is_err() {
                            break;
                        }
                    }
                });
            if started.is_ok() {
                *lines = Some(receiver);
            }
        }
        lines
    }

    /// The controlling terminal (`/dev/tty`), if there is one.
    pub fn from_tty(timeout: Duration) -> Option<Self> {
        let input = std::fs::File::open("/dev/tty").ok()?;
        let output = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/tty")
            .ok()?;
        Some(Self::new(
            Box::new(std::io::BufReader::new(input)),
            Box::new(output),
            timeout,
        ))
    }

    fn prompt(&self, request: &ApprovalRequest) -> Approval {
        let text = prompt_text(request, self.timeout);
        {
            let mut output = self.output.lock().unwrap_or_else(PoisonError::into_inner);
            if output
                .write_all(text.as_bytes())
                .and_then(|()| output.flush())
                .is_err()
            {
                return Approval::Reject("the approval prompt could not be shown".into());
            }
        }
        let guard = self.reader();
        let Some(lines) = guard.as_ref() else {
            return Approval::Reject("the terminal cannot be read".into());
        };
        // Drop anything typed before the question was asked.
        while lines.try_recv().is_ok() {}
        match lines.recv_timeout(self.timeout) {
            Ok(answer) => parse_answer(&answer).unwrap_or_else(|| {
                Approval::Reject(format!(
                    "rejected at the terminal (answer {:?})",
                    answer.trim()
                ))
            }),
            Err(mpsc::RecvTimeoutError::Timeout) => Approval::Reject(format!(
                "no answer at the terminal within {}",
                crate::size::show_duration(self.timeout)
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Approval::Reject("the terminal closed".into())
            }
        }
    }
}

/// The most of a call's arguments a prompt shows (a 16 MiB file body would bury
/// the question); the rest is cut with a note saying how much.
pub const PROMPT_ARGS_MAX: usize = 8 * 1024;

/// The question put to a person at a terminal, without the answer prompt: what
/// is called, under which rule, with which (redacted) arguments, and what each
/// answer would cover. Everything in it that a script chose (the function's
/// arguments, the scope's URL or path, a tool's name) is escaped by
/// [`terminal`], so it can neither move the cursor nor fake an answer line.
pub fn question(request: &ApprovalRequest) -> String {
    let mut args = terminal::json(&serde_json::to_string_pretty(&request.args).unwrap_or_default());
    crate::sandbox::output::bound_text(&mut args, PROMPT_ARGS_MAX);
    format!(
        "clambot: the script asks to call {function}\n  rule:   {rule}\n  args:   {args}\n  \
         scope:  {scope}\n  [o] allow once   [t] allow for this turn   [a] allow always (this scope)   \
         [r] reject\n",
        function = terminal::inline(&request.function),
        rule = terminal::inline(&request.rule),
        args = args.replace('\n', "\n          "),
        scope = terminal::inline(&request.scope.summary),
    )
}

/// The question as the one-shot terminal approver shows it, with its prompt.
pub fn prompt_text(request: &ApprovalRequest, timeout: Duration) -> String {
    format!(
        "\n{}  (no answer within {} rejects) > ",
        question(request),
        crate::size::show_duration(timeout)
    )
}

/// A typed answer, or `None` when it is not one of the choices (which callers
/// treat as a rejection, or ask again).
pub fn parse_answer(answer: &str) -> Option<Approval> {
    match answer.trim().to_ascii_lowercase().as_str() {
        "o" | "once" | "y" | "yes" => Some(Approval::Once),
        "t" | "turn" => Some(Approval::Turn),
        "a" | "always" => Some(Approval::Always),
        "r" | "reject" | "n" | "no" => Some(Approval::Reject("rejected at the terminal".into())),
        _ => None,
    }
}

impl Approver for TerminalApprover {
    fn approve<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Approval> {
        // The prompt blocks on the terminal; keep it off the async workers.
        Box::pin(async move { tokio::task::block_in_place(|| self.prompt(request)) })
    }
}
