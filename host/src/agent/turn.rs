//! One turn of the agent, as every front end asks for it: the CLI and REPL, the
//! Telegram gateway, cron jobs and the heartbeat. Front ends never touch the
//! sandbox or the tools themselves; they hand a [`TurnRequest`] (or a
//! [`ClamRequest`]) to [`Turns`], whose runs all pass the one gate.

use std::fmt;
use std::sync::Arc;

use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use crate::gate::BoxFuture;
use crate::gate::approver::Approver;
use crate::policy::bounds::Bound;

/// What the agent is doing, for a status line or an edited status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the model.
    Thinking,
    /// A script is running in the sandbox (`clam` names it when it is saved).
    Running { clam: Option<String> },
    /// A script failed and the model is writing a fix (1-based attempt).
    Fixing { attempt: u32 },
    /// A call waits for a person's approval (`interface.function`).
    WaitingForApproval { function: String },
    /// Writing the answer.
    Answering,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Thinking => f.write_str("thinking"),
            Self::Running { clam: Some(name) } => write!(f, "running {name}"),
            Self::Running { clam: None } => f.write_str("running"),
            Self::Fixing { attempt } => write!(f, "fixing (attempt {attempt})"),
            Self::WaitingForApproval { function } => {
                write!(f, "waiting for approval of {function}")
            }
            Self::Answering => f.write_str("answering"),
        }
    }
}

/// Receives phase changes. Called from the turn's task; must not block.
pub trait Progress: Send + Sync + fmt::Debug {
    fn phase(&self, phase: Phase);

    /// The script about to run, so a front end can show it when a person is
    /// asked to approve one of its calls. Most front ends ignore it.
    fn script(&self, _source: &str) {}

    /// The reply as the model writes it, whole so far (each call replaces the
    /// last; empty: what was shown is void, the model starts over). The turn's
    /// [`TurnReply`] is the reply to send; this is only a preview of it, and
    /// the next [`Progress::phase`] supersedes it.
    fn answer_so_far(&self, _text: &str) {}
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn phase(&self, _phase: Phase) {}
}

/// An approver that reports [`Phase::WaitingForApproval`] before asking, so a
/// status line shows why the turn stands still.
#[derive(Debug)]
pub struct AnnouncingApprover {
    pub inner: Arc<dyn Approver>,
    pub progress: Arc<dyn Progress>,
}

impl Approver for AnnouncingApprover {
    fn approve<'a>(
        &'a self,
        request: &'a crate::gate::approver::ApprovalRequest,
    ) -> BoxFuture<'a, crate::gate::approver::Approval> {
        self.progress.phase(Phase::WaitingForApproval {
            function: request.function.clone(),
        });
        self.inner.approve(request)
    }
}

/// A message for the agent.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    /// Which conversation: `"cli"`, `"telegram:<chat id>"`, `"cron:<job id>"`,
    /// `"heartbeat"`. Sessions are kept (and resumed) per key.
    pub session: String,
    pub message: String,
    /// Who answers `ask` rules during this turn.
    pub approver: Arc<dyn Approver>,
    pub progress: Arc<dyn Progress>,
    /// Cancelling ends the turn and drops its sandbox run.
    pub cancel: CancellationToken,
}

/// A saved clam to run as it is, with no model call (cron jobs, `clams run`).
#[derive(Debug, Clone)]
pub struct ClamRequest {
    pub session: String,
    pub clam: String,
    pub args: Json,
    pub approver: Arc<dyn Approver>,
    pub progress: Arc<dyn Progress>,
    pub cancel: CancellationToken,
}

/// How a turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnOutcome {
    /// The model answered in words; nothing ran.
    Chat,
    /// A script ran and its result was accepted.
    Ran {
        clam: Option<String>,
        /// True when a saved clam was reused without asking the model.
        reused: bool,
    },
    /// Nothing useful could be produced; `text` says why, honestly.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

/// The agent's answer to one turn.
#[derive(Debug, Clone)]
pub struct TurnReply {
    pub text: String,
    pub outcome: TurnOutcome,
    /// Calls the gate denied during the turn (`interface.function: rule`), so a
    /// front end can tell the owner what to allow.
    pub denied: Vec<String>,
}

/// The agent, as front ends see it.
pub trait Turns: Send + Sync + fmt::Debug {
    /// Answers one message.
    fn turn(&self, request: TurnRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>>;
    /// Runs a saved clam with arguments (no model call).
    fn run_clam(&self, request: ClamRequest) -> BoxFuture<'_, anyhow::Result<TurnReply>>;
    /// [`Turns::turn`] with every call also judged by `bounds` (a job made by a
    /// run: see [`crate::policy::bounds`]). An agent that cannot narrow its
    /// policy refuses rather than run with more rights.
    fn turn_within(
        &self,
        request: TurnRequest,
        bounds: Vec<Bound>,
    ) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
        if bounds.is_empty() {
            return self.turn(request);
        }
        Box::pin(async {
            anyhow::bail!("this agent cannot run a job within the rights it was made with")
        })
    }
    /// [`Turns::run_clam`] with every call also judged by `bounds`.
    fn run_clam_within(
        &self,
        request: ClamRequest,
        bounds: Vec<Bound>,
    ) -> BoxFuture<'_, anyhow::Result<TurnReply>> {
        if bounds.is_empty() {
            return self.run_clam(request);
        }
        Box::pin(async {
            anyhow::bail!("this agent cannot run a job within the rights it was made with")
        })
    }
    /// Forgets the conversation under `session` (`/new`).
    fn new_session(&self, session: &str) -> anyhow::Result<()>;
}
