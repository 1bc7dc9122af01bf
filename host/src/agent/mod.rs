//! The agent: a message goes in; a saved clam is reused or the model writes
//! JavaScript; it runs in the sandbox under the gate; the result is checked,
//! fixed if it failed, answered, and remembered.
//!
//! - [`provider`]: the two LLM wire protocols.
//! - [`pipeline`]: one turn, from message to answer.
//! - [`clams`]: saved scripts; [`normalize`]: the key they are found by.
//! - [`prompt`], [`parse`], [`checks`]: what models are told, how their answers
//!   are read, and what generated code may not contain.
//! - [`recall`]: session compaction and background fact extraction.
//! - [`turn`]: what front ends (CLI, gateway, cron, heartbeat) ask of the agent.

pub mod checks;
pub mod clams;
pub mod config;
pub mod forming;
pub mod normalize;
pub mod parse;
pub mod pipeline;
pub mod prompt;
pub mod provider;
pub mod recall;
pub mod setup;
pub mod turn;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Result;
use tokio_util::task::TaskTracker;

use self::clams::ClamStore;
use self::provider::Provider;
use self::turn::{ClamRequest, TurnReply, TurnRequest, Turns};
use crate::gate::approver::Approver;
use crate::gate::audit::AuditLog;
use crate::gate::grants::Grants;
use crate::gate::{BoxFuture, GateSetup};
use crate::policy::Policy;
use crate::policy::bounds::Bound;
use crate::sandbox::bytecode::BytecodeCache;
use crate::sandbox::{RunLimits, Sandbox};
use crate::state::HostState;
use crate::store::memory::Memory;
use crate::store::sessions::Sessions;

/// How the agent behaves (from `[agent]` in config.toml).
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// Fixes after the first failed run (so at most 1 + this many runs).
    pub max_fix_attempts: u32,
    /// Above this many (estimated) tokens, older turns are summarised.
    pub session_budget_tokens: usize,
    /// Turns kept word for word when compacting.
    pub keep_recent_turns: usize,
    /// Remembered facts in prompts, at most this many tokens.
    pub memory_budget_tokens: usize,
    /// Whether durable facts are extracted from each exchange (in the
    /// background, by a model call) and put in later prompts.
    pub remember_facts: bool,
    /// Limits for each script run (the policy's `[run]` lowers them).
    pub run_limits: RunLimits,
    /// Tokens a model may write for a script.
    pub max_script_tokens: u32,
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self::from_section(&config::AgentSection::default())
    }
}

impl AgentSettings {
    /// The settings `[agent]` describes.
    pub fn from_section(section: &config::AgentSection) -> Self {
        Self {
            max_fix_attempts: section.max_fix_attempts,
            session_budget_tokens: section.session_budget_tokens,
            keep_recent_turns: section.keep_recent_turns,
            memory_budget_tokens: section.memory_budget_tokens,
            remember_facts: section.remember_facts,
            run_limits: RunLimits::default(),
            max_script_tokens: 4_096,
        }
    }
}

/// The agent. Cheap to share (`Arc`); turns in different sessions run
/// concurrently, turns in one session one after another.
pub struct Agent {
    provider: Arc<dyn Provider>,
    sandbox: Arc<Sandbox>,
    state: HostState,
    policy: Arc<Policy>,
    audit: Arc<AuditLog>,
    clams: ClamStore,
    sessions: Sessions,
    memory: Memory,
    settings: AgentSettings,
    /// The JavaScript API, rendered from the WIT.
    js_api: String,
    /// `clambot policy explain` of the policy, for the prompt.
    policy_text: String,
    background: TaskTracker,
    /// Saved clams run from bytecode (compiled once, cached).
    bytecode: BytecodeCache,
    session_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("provider", &self.provider.name())
            .field("model", &self.provider.model())
            .field("policy", &self.policy.name())
            .finish_non_exhaustive()
    }
}

/// What an [`Agent`] is made of.
#[derive(Debug)]
pub struct AgentParts {
    pub provider: Arc<dyn Provider>,
    pub sandbox: Arc<Sandbox>,
    pub state: HostState,
    pub policy: Policy,
    pub clams: ClamStore,
    pub settings: AgentSettings,
    pub js_api: String,
}

impl Agent {
    pub fn new(parts: AgentParts) -> Result<Self> {
        let audit = Arc::new(
            AuditLog::open(&parts.state.home.audit_dir())?
                .with_index(Arc::clone(&parts.state.store)),
        );
        let policy_text = parts.policy.explain();
        let bytecode = BytecodeCache::new(Some(parts.state.home.cache_dir().join("bytecode")));
        Ok(Self {
            sessions: Sessions::new(Arc::clone(&parts.state.store)),
            memory: Memory::new(Arc::clone(&parts.state.store)),
            provider: parts.provider,
            sandbox: parts.sandbox,
            state: parts.state,
            policy: Arc::new(parts.policy),
            audit,
            clams: parts.clams,
            settings: parts.settings,
            js_api: parts.js_api,
            policy_text,
            background: TaskTracker::new(),
            bytecode,
            session_locks: Mutex::new(HashMap::new()),
        })
    }

    pub fn provider(&self) -> &dyn Provider {
        self.provider.as_ref()
    }

    pub fn clams(&self) -> &ClamStore {
        &self.clams
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Waits for background work (fact extraction) started so far.
    pub async fn wait_background(&self) {
        self.background.close();
        self.background.wait().await;
        self.background.reopen();
    }

    /// The gate for one turn: the shared policy and audit log, this turn's
    /// approver, and turn grants of its own (a "this turn" answer in one chat
    /// never covers a call in another).
    fn gate(&self, approver: Arc<dyn Approver>, bounds: &[Bound]) -> Result<GateSetup> {
        let policy = match bounds {
            [] => Arc::clone(&self.policy),
            bounds => Arc::new((*self.policy).clone().within(bounds.iter().cloned())),
        };
        Ok(GateSetup {
            policy,
            grants: Arc::new(Grants::open(Arc::clone(&self.state.store))),
            approver,
            audit: Some(Arc::clone(&self.audit)),
            redactor: Arc::new(self.state.redactor()?),
        })
    }

    fn session_lock(&self, session: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .session_locks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(session.to_owned()).or_default())
    }
}

impl Turns for Agent {
    fn turn(&self, request: TurnRequest) -> BoxFuture<'_, Result<TurnReply>> {
        Box::pin(async move {
            let lock = self.session_lock(&request.session);
            let _guard = lock.lock().await;
            self.answer(&request, &[]).await
        })
    }

    fn turn_within(
        &self,
        request: TurnRequest,
        bounds: Vec<Bound>,
    ) -> BoxFuture<'_, Result<TurnReply>> {
        Box::pin(async move {
            let lock = self.session_lock(&request.session);
            let _guard = lock.lock().await;
            self.answer(&request, &bounds).await
        })
    }

    fn run_clam_within(
        &self,
        request: ClamRequest,
        bounds: Vec<Bound>,
    ) -> BoxFuture<'_, Result<TurnReply>> {
        Box::pin(async move {
            let lock = self.session_lock(&request.session);
            let _guard = lock.lock().await;
            self.run_saved(&request, &bounds).await
        })
    }

    fn run_clam(&self, request: ClamRequest) -> BoxFuture<'_, Result<TurnReply>> {
        Box::pin(async move {
            let lock = self.session_lock(&request.session);
            let _guard = lock.lock().await;
            self.run_saved(&request, &[]).await
        })
    }

    fn new_session(&self, session: &str) -> Result<()> {
        self.sessions.reset(session)
    }
}
