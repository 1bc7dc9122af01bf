//! The gate: the single door between a script and the world.
//!
//! Every function of every `clambot:host/*` interface the guest imports is linked
//! here, generically, by walking the component's import types: no function has gate
//! code of its own, so a new WIT function is gated the moment it exists. For each
//! call, in this order: the [`Policy`] decides (budgets, deny, ask, allow, default
//! deny); an `ask` is answered by a stored or turn [`Grants`] entry or else by the
//! [`Approver`]; the decision is written to the [`AuditLog`]; and only an allowed
//! call reaches the interface's implementation. A refusal is the WIT `denied`
//! error — a catchable `ToolError` in JavaScript that names the rule — never a trap.
//!
//! Deny by default: with no policy ([`GateSetup::deny_all`]) and for any call no
//! rule allows, the answer is `denied`. An allowed call to an interface clambot
//! has no implementation for is `failed`, never silently successful.

pub mod approver;
pub mod ask_queue;
pub mod audit;
mod concurrent;
mod concurrent_link;
pub mod grants;
pub mod redact;
pub mod value;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value as Json, json};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, Type, Val};
use wasmtime::{Engine, StoreContextMut};

use crate::components::Tool;
pub use crate::policy::{Call, DEFAULT_DENY_RULE, Decision, Policy};
use crate::policy::{Caller, Usage};
use crate::sandbox::limits::Deadline;
use crate::sandbox::output::OutputCapture;
use approver::{Approval, ApprovalRequest, Approver, NonInteractive};
use ask_queue::{AskQueue, Ticket};
use audit::{AuditLog, Decided, Ending, RunAudit, Stopped, Verdict};
use grants::Grants;
use redact::Redactor;
use value::{json_to_val, val_to_json};

/// The rule name recorded when a call's arguments could not be judged.
pub const INVALID_ARGUMENTS_RULE: &str = "invalid-arguments";

/// The host interface through which the guest calls tool components.
pub const TOOL_CALLS_INTERFACE: &str = "components";

/// The host interface through which the guest calls MCP servers' tools.
pub const MCP_CALLS_INTERFACE: &str = "mcp";

/// The WIT package every gated host interface belongs to.
pub const HOST_PACKAGE: &str = "clambot:host/";

/// The WIT `error` variant, host side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("denied by {rule}: {reason}")]
    Denied { rule: String, reason: String },
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("failed: {0}")]
    Failed(String),
    #[error("limit: {0}")]
    Limit(String),
}

impl ToolError {
    /// The WIT case name, which is also JavaScript's `ToolError.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Denied { .. } => "denied",
            Self::Invalid(_) => "invalid",
            Self::NotFound(_) => "not-found",
            Self::Failed(_) => "failed",
            Self::Limit(_) => "limit",
        }
    }

    /// The same error with secret values taken out of its text.
    pub fn redacted(self, redactor: &Redactor) -> Self {
        if !redactor.has_secrets() {
            return self;
        }
        match self {
            Self::Denied { rule, reason } => Self::Denied {
                rule: redactor.text(&rule),
                reason: redactor.text(&reason),
            },
            Self::Invalid(m) => Self::Invalid(redactor.text(&m)),
            Self::NotFound(m) => Self::NotFound(redactor.text(&m)),
            Self::Failed(m) => Self::Failed(redactor.text(&m)),
            Self::Limit(m) => Self::Limit(redactor.text(&m)),
        }
    }

    fn to_json(&self) -> Json {
        match self {
            Self::Denied { rule, reason } => {
                json!({ "denied": { "rule": rule, "reason": reason } })
            }
            Self::Invalid(m) | Self::NotFound(m) | Self::Failed(m) | Self::Limit(m) => {
                json!({ self.code(): m })
            }
        }
    }
}

/// A boxed future, as host implementations and approvers return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a host implementation can reach of the run that called it.
#[derive(Debug)]
pub struct RunContext {
    pub output: OutputCapture,
    /// The run's deadline: no call may outlive it.
    pub deadline: Arc<Deadline>,
    /// The gate the run's calls go through (the http tool reads `[net]` from its
    /// policy); a tool component's own calls go through it too.
    pub gate: GateSetup,
    pub run_id: String,
    /// Whose calls this context serves: the script's, or a tool component's
    /// (a job made through it records its maker).
    pub caller: Caller,
    /// Calls a tool component made while serving one of this run's calls; the
    /// gate moves them into the run's record.
    pub nested_calls: std::sync::Mutex<Vec<CallRecord>>,
    /// The run's share of the audit log (its volume budget), shared with the
    /// gates of the tool components serving it.
    audit: Option<Arc<RunAudit>>,
    /// What the run has spent of its budgets (calls, egress, per-rule counts).
    /// Shared with the gates of the tool components serving it, so a tool's own
    /// calls draw on the run's `[run]` limits instead of fresh ones per call.
    usage: Arc<std::sync::Mutex<Usage>>,
    /// The run's questions to a person, one at a time in call order; shared
    /// with the gates of the tool components serving it.
    asks: Arc<AskQueue>,
    /// Set when a call waited for a person (which moved the deadline), so the
    /// sandbox re-arms its epoch deadline.
    waited: Arc<AtomicBool>,
}

/// The host side of one WIT interface. Reached only through the gate.
pub trait HostInterface: Send + Sync + fmt::Debug {
    /// Performs an allowed call. `args` is the JSON view of the arguments; the
    /// returned JSON must fit the function's `ok` type.
    fn call<'a>(
        &'a self,
        function: &'a str,
        args: Json,
        run: &'a RunContext,
    ) -> BoxFuture<'a, Result<Json, ToolError>>;
}

/// The implementations available to runs, by interface short name.
#[derive(Debug, Clone, Default)]
pub struct Implementations {
    by_interface: HashMap<String, Arc<dyn HostInterface>>,
    /// Loaded tool components, by name (reached as `tools.NAME`).
    tools: HashMap<String, Arc<Tool>>,
    /// The policy's MCP servers (reached as `mcp.NAME`).
    mcp: Option<Arc<crate::mcp::McpHub>>,
}

impl Implementations {
    /// Every host interface clambot implements.
    pub fn standard() -> Self {
        let mut implementations = Self::default();
        implementations.insert("log", Arc::new(crate::tools::log::Log));
        implementations
    }

    pub fn insert(&mut self, interface: &str, implementation: Arc<dyn HostInterface>) {
        self.by_interface
            .insert(interface.to_owned(), implementation);
    }

    /// Makes a loaded tool component callable as `tools.NAME.*`.
    pub fn insert_tool(&mut self, tool: Arc<Tool>) {
        self.tools.insert(tool.name().to_owned(), tool);
    }

    /// Makes the policy's MCP servers callable as `mcp.NAME.*`.
    pub fn set_mcp(&mut self, hub: Arc<crate::mcp::McpHub>) {
        self.mcp = Some(hub);
    }

    /// The MCP servers, when the policy declares any.
    pub fn mcp(&self) -> Option<&Arc<crate::mcp::McpHub>> {
        self.mcp.as_ref()
    }

    /// The loaded tool named `name`.
    pub fn tool(&self, name: &str) -> Option<&Arc<Tool>> {
        self.tools.get(name)
    }

    /// The tools' names, sorted.
    pub fn tool_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tools.keys().cloned().collect();
        names.sort();
        names
    }

    fn get(&self, interface: &str) -> Option<Arc<dyn HostInterface>> {
        if let Some(server) = interface.strip_prefix("mcp.") {
            return self
                .mcp
                .as_ref()?
                .server(server)
                .map(|s| Arc::clone(s) as Arc<dyn HostInterface>);
        }
        match interface.strip_prefix("tools.") {
            Some(tool) => self
                .tools
                .get(tool)
                .map(|t| Arc::clone(t) as Arc<dyn HostInterface>),
            None => self.by_interface.get(interface).cloned(),
        }
    }
}

/// What the gate of every run shares: the policy, the grants, who approves,
/// where decisions are written, and which secret values to keep out of them.
#[derive(Debug, Clone)]
pub struct GateSetup {
    pub policy: Arc<Policy>,
    pub grants: Arc<Grants>,
    pub approver: Arc<dyn Approver>,
    pub audit: Option<Arc<AuditLog>>,
    pub redactor: Arc<Redactor>,
}

impl GateSetup {
    /// No policy: every call denied, nothing stored, nothing asked.
    pub fn deny_all() -> Self {
        Self::with_policy(Policy::deny_all())
    }

    /// `policy`, non-interactive, with in-memory grants and no audit log.
    pub fn with_policy(policy: Policy) -> Self {
        Self {
            policy: Arc::new(policy),
            grants: Arc::new(Grants::in_memory()),
            approver: Arc::new(NonInteractive),
            audit: None,
            redactor: Arc::new(Redactor::default()),
        }
    }
}

/// One gated call, as the run records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// `interface.function`.
    pub function: String,
    pub verdict: Verdict,
    pub rule: String,
    /// The error code when the call did not succeed.
    pub error: Option<&'static str>,
    pub duration: Duration,
    /// For a denied or rejected call: why, and the (redacted) arguments, so a
    /// front end can tell the owner exactly what to allow.
    pub denial: Option<Denial>,
    /// Who made the call: the script, or a tool component serving it.
    pub caller: Caller,
}

/// Why a call was refused, kept with the run's record of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub reason: String,
    /// Redacted.
    pub args: Json,
}

impl CallRecord {
    /// Whether the call got past the gate.
    pub fn allowed(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Allow | Verdict::Granted | Verdict::Approved
        )
    }
}

/// The gate's state for one run.
#[derive(Debug)]
pub struct RunGate {
    script_sha256: Arc<str>,
    implementations: Arc<Implementations>,
    /// The setup, run id and deadline, as implementations see them (shared
    /// with the calls under way, which run as tasks of their own).
    context: Arc<RunContext>,
    calls: Vec<CallRecord>,
    /// Whose calls these are: the script's, or a tool component's.
    caller: Caller,
    /// Calls started with `calls.start` and not yet collected.
    concurrent: concurrent::InFlight,
}

impl RunGate {
    pub fn new(
        setup: GateSetup,
        implementations: Arc<Implementations>,
        output: OutputCapture,
        run_id: String,
        script_sha256: String,
        deadline: Arc<Deadline>,
    ) -> Self {
        let audit = setup
            .audit
            .as_ref()
            .map(|log| Arc::new(RunAudit::new(Arc::clone(log), &run_id)));
        let max_concurrent = setup.policy.max_concurrent();
        Self {
            context: Arc::new(RunContext {
                output,
                deadline,
                gate: setup,
                run_id,
                caller: Caller::Script,
                nested_calls: std::sync::Mutex::default(),
                usage: Arc::default(),
                audit,
                asks: Arc::default(),
                waited: Arc::default(),
            }),
            script_sha256: script_sha256.into(),
            implementations,
            calls: Vec::new(),
            caller: Caller::Script,
            concurrent: concurrent::InFlight::new(max_concurrent),
        }
    }

    /// The gate for a tool component serving one of `run`'s calls: the run's
    /// setup, output and budgets, judging the tool's own calls (only rules with
    /// `caller = "tools.NAME"` apply). `deadline` is the tool call's own, within
    /// the run's: the tool's host calls are cut off at it.
    pub fn for_tool(
        run: &RunContext,
        implementations: Arc<Implementations>,
        component_sha256: String,
        tool: Caller,
        deadline: Arc<Deadline>,
    ) -> Self {
        Self {
            context: Arc::new(RunContext {
                output: run.output.clone(),
                deadline,
                gate: run.gate.clone(),
                run_id: run.run_id.clone(),
                caller: tool.clone(),
                nested_calls: std::sync::Mutex::default(),
                usage: Arc::clone(&run.usage),
                audit: run.audit.clone(),
                asks: Arc::clone(&run.asks),
                waited: Arc::clone(&run.waited),
            }),
            script_sha256: component_sha256.into(),
            implementations,
            calls: Vec::new(),
            caller: tool,
            concurrent: concurrent::InFlight::new(1),
        }
    }

    /// Whether a call waited for a person (and moved the deadline) since the
    /// last time this was asked; clears it.
    pub fn take_waited(&mut self) -> bool {
        self.context.waited.swap(false, Ordering::Relaxed)
    }

    /// The run's deadline.
    pub fn deadline(&self) -> &Deadline {
        &self.context.deadline
    }

    /// The calls made so far, in order.
    pub fn calls(&self) -> &[CallRecord] {
        &self.calls
    }

    pub fn into_calls(self) -> Vec<CallRecord> {
        self.calls
    }

    /// Judges one call and, when allowed, performs it.
    pub async fn handle(
        &mut self,
        interface: &str,
        function: &str,
        args: Json,
    ) -> Result<Json, ToolError> {
        if interface == TOOL_CALLS_INTERFACE {
            return self.handle_tool_call(function, args).await;
        }
        if interface == MCP_CALLS_INTERFACE {
            return self.handle_mcp_call(function, args).await;
        }
        self.judge_and_perform(interface, function, args).await
    }

    /// `components.call(tool, function, args-json)` from the guest: judged and
    /// audited as `tools.TOOL.FUNCTION` with the arguments named by the tool's WIT.
    async fn handle_tool_call(&mut self, function: &str, args: Json) -> Result<Json, ToolError> {
        let (interface, function, named) = self.tool_call(function, &args)?;
        self.judge_and_perform(&interface, &function, named)
            .await
            .map(|result| Json::String(result.to_string()))
    }

    /// The tool call `components.call(tool, function, args-json)` names: its
    /// interface (`tools.TOOL`), function and named arguments.
    fn tool_call(&self, function: &str, args: &Json) -> Result<(String, String, Json), ToolError> {
        let text = |key: &str| args.get(key).and_then(Json::as_str).unwrap_or_default();
        if function != "call" || self.caller != Caller::Script {
            return Err(ToolError::Invalid(
                "only a script calls tools, through `tools.NAME.function(...)`".into(),
            ));
        }
        let (tool_name, wanted) = (text("tool"), text("function"));
        let Some(tool) = self.implementations.tool(tool_name).cloned() else {
            let loaded = self.implementations.tool_names();
            return Err(ToolError::NotFound(format!(
                "no tool `{tool_name}` is loaded (loaded: {}); `clambot tools list` shows why",
                if loaded.is_empty() {
                    "none".to_owned()
                } else {
                    loaded.join(", ")
                }
            )));
        };
        let positional: Json = serde_json::from_str(text("args-json"))
            .map_err(|e| ToolError::Invalid(format!("the tool arguments are not JSON: {e}")))?;
        let target = tool.resolve(wanted)?;
        let named = tool.named_args(target, positional)?;
        Ok((format!("tools.{tool_name}"), target.name.clone(), named))
    }

    /// `mcp.call(server, tool, args-json)` from the guest: judged and audited as
    /// `mcp.SERVER.TOOL` with the tool's arguments, like a host call.
    async fn handle_mcp_call(&mut self, function: &str, args: Json) -> Result<Json, ToolError> {
        let text = |key: &str| args.get(key).and_then(Json::as_str).unwrap_or_default();
        if function != "call" || self.caller != Caller::Script {
            return Err(ToolError::Invalid(
                "only a script calls MCP servers, through `mcp.NAME.tool(args)`".into(),
            ));
        }
        let (server_name, wanted) = (text("server"), text("tool"));
        let declared = self
            .implementations
            .mcp()
            .map(|hub| hub.names())
            .unwrap_or_default();
        let Some(server) = self
            .implementations
            .mcp()
            .and_then(|hub| hub.server(server_name))
            .cloned()
        else {
            return Err(ToolError::NotFound(format!(
                "no MCP server `{server_name}` is declared (declared: {}); add an [mcp.{server_name}] table to the policy",
                if declared.is_empty() {
                    "none".to_owned()
                } else {
                    declared.join(", ")
                }
            )));
        };
        let arguments: Json = serde_json::from_str(text("args-json"))
            .map_err(|e| ToolError::Invalid(format!("the MCP tool arguments are not JSON: {e}")))?;
        if !arguments.is_object() {
            return Err(ToolError::Invalid(format!(
                "mcp.{}.{wanted} takes one object of named arguments, not {arguments}",
                server.name()
            )));
        }
        let interface = format!("mcp.{}", server.name());
        // The name is judged as the server spells it; looking that up starts
        // the server, so only when some rule could let a call to it through.
        let tool = if self.context.gate.policy.may_let_through(&interface) {
            let budget = server.timeout().min(self.context.deadline.remaining());
            server
                .resolve(wanted, budget)
                .await
                .unwrap_or_else(|| wanted.to_owned())
        } else {
            wanted.to_owned()
        };
        self.judge_and_perform(&interface, &tool, arguments)
            .await
            .map(|result| Json::String(result.to_string()))
    }

    async fn judge_and_perform(
        &mut self,
        interface: &str,
        function: &str,
        args: Json,
    ) -> Result<Json, ToolError> {
        let started = Instant::now();
        let (verdict, rule, refusal) = match self.decide(interface, function, &args) {
            Judgement::Settled(verdict, rule, refusal) => (verdict, rule, refusal),
            Judgement::Ask { rule, scope } => {
                let mut ticket = self.context.asks.ticket();
                let name = format!("{interface}.{function}");
                ask(&self.context, &name, &args, rule, scope, &mut ticket).await
            }
        };
        let judged = record_decision(
            &self.context,
            &self.script_sha256,
            &self.caller,
            CallName {
                interface,
                function,
            },
            &args,
            (verdict, rule, refusal),
            started,
        );
        let (record, outcome) = perform(
            &self.context,
            &self.implementations,
            interface,
            function,
            args,
            judged,
        )
        .await;
        self.record(interface, record);
        outcome
    }

    /// The policy's decision on a call (its budgets reserved): settled, or a
    /// question for a person.
    fn decide(&self, interface: &str, function: &str, args: &Json) -> Judgement {
        let call = Call {
            interface,
            function,
            args,
        };
        let decision = {
            let mut usage = self
                .context
                .usage
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.context
                .gate
                .policy
                .decide_for(&self.caller, &call, &mut usage)
        };
        match decision {
            Decision::Allow { rule } => Judgement::Settled(Verdict::Allow, rule, None),
            Decision::Deny { rule, reason } => Judgement::Settled(
                Verdict::Deny,
                rule.clone(),
                Some(ToolError::Denied { rule, reason }),
            ),
            Decision::Limit { rule, reason } => {
                Judgement::Settled(Verdict::Limit, rule, Some(ToolError::Limit(reason)))
            }
            Decision::Invalid { reason } => Judgement::Settled(
                Verdict::Invalid,
                INVALID_ARGUMENTS_RULE.to_owned(),
                Some(ToolError::Invalid(reason)),
            ),
            Decision::Ask { rule, scope } => Judgement::Ask { rule, scope },
        }
    }

    /// Adds a finished call to the run's record, after the calls a tool
    /// component made while serving it (they finished before it did).
    fn record(&mut self, interface: &str, record: CallRecord) {
        if interface.starts_with("tools.") {
            self.calls.append(
                &mut self
                    .context
                    .nested_calls
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
        }
        self.calls.push(record);
    }
}

/// What the policy said of a call.
enum Judgement {
    /// Allowed or refused.
    Settled(Verdict, String, Option<ToolError>),
    /// An `ask` rule matched: a grant or a person decides.
    Ask {
        rule: String,
        scope: crate::policy::Scope,
    },
}

/// A call's interface and function, as the gate names it.
#[derive(Debug, Clone, Copy)]
struct CallName<'a> {
    interface: &'a str,
    function: &'a str,
}

/// A call the gate has decided, with its audit record under way.
#[derive(Debug)]
struct Judged {
    name: String,
    verdict: Verdict,
    rule: String,
    refusal: Option<ToolError>,
    denial: Option<Denial>,
    audit: Option<audit::PendingCall>,
    started: Instant,
}

/// Answers an `ask` decision when `ticket`'s turn comes: by a grant (perhaps
/// one given for an earlier question), else by a person. The deadline stands
/// still while the person thinks.
async fn ask(
    context: &RunContext,
    name: &str,
    args: &Json,
    rule: String,
    scope: crate::policy::Scope,
    ticket: &mut Ticket,
) -> (Verdict, String, Option<ToolError>) {
    ticket.turn().await;
    if context.gate.grants.covers(&scope.fingerprint()) {
        return (Verdict::Granted, rule, None);
    }
    let request = ApprovalRequest {
        function: name.to_owned(),
        args: context.gate.redactor.json(args),
        rule: rule.clone(),
        scope: scope.clone(),
    };
    // A person's thinking time is not the script's running time.
    context.deadline.pause();
    let approval = context.gate.approver.approve(&request).await;
    context.deadline.resume();
    context.waited.store(true, Ordering::Relaxed);
    match approval {
        Approval::Once => (Verdict::Approved, rule, None),
        Approval::Turn => {
            context.gate.grants.grant_turn(&scope);
            (Verdict::Approved, rule, None)
        }
        Approval::Always => {
            if let Err(e) = context.gate.grants.grant_always(&scope, &rule) {
                // The person said yes to this call, so it goes ahead; the
                // grant could not be stored, and the output says so.
                let note = format!(
                    "[gate] allowed once: the grant for {} could not be stored ({e:#})",
                    scope.summary
                );
                let _ = context.output.note(&note);
            }
            (Verdict::Approved, rule, None)
        }
        Approval::Reject(reason) => {
            let reason = context.gate.redactor.text(&reason);
            (
                Verdict::Rejected,
                rule.clone(),
                Some(ToolError::Denied { rule, reason }),
            )
        }
    }
}

/// Puts the decision on record before anything happens (counted against the
/// run's audit volume, which can refuse the call).
fn record_decision(
    context: &RunContext,
    script_sha256: &str,
    caller: &Caller,
    call: CallName<'_>,
    args: &Json,
    (verdict, rule, refusal): (Verdict, String, Option<ToolError>),
    started: Instant,
) -> Judged {
    let CallName {
        interface,
        function,
    } = call;
    let name = format!("{interface}.{function}");
    let (mut verdict, mut rule, mut refusal) = (verdict, rule, refusal);
    let audit = match &context.audit {
        None => None,
        Some(audit) => {
            let audited_args = context.gate.redactor.json(args);
            // Over the redacted arguments: a hash of a secret would let it be guessed.
            let fingerprint = context
                .gate
                .policy
                .scope_for(
                    caller,
                    &Call {
                        interface,
                        function,
                        args: &audited_args,
                    },
                )
                .fingerprint();
            let decided = Decided {
                script_sha256,
                function: &name,
                verdict,
                rule: &rule,
                fingerprint: &fingerprint,
                args: &audited_args,
            };
            match audit.decided(&decided, refusal.as_ref().map(ToolError::code), started) {
                Ok(pending) => pending,
                Err(Stopped::Volume { reason }) => {
                    verdict = Verdict::Limit;
                    rule = audit::AUDIT_VOLUME_RULE.to_owned();
                    refusal = Some(ToolError::Limit(reason));
                    None
                }
                Err(Stopped::Unwritable(e)) => {
                    refusal = Some(ToolError::Failed(format!(
                        "the audit log could not be written ({e:#}); the call was not made"
                    )));
                    None
                }
            }
        }
    };
    let denial = match &refusal {
        Some(ToolError::Denied { reason, .. }) => Some(Denial {
            reason: reason.clone(),
            args: context.gate.redactor.json(args),
        }),
        _ => None,
    };
    Judged {
        name,
        verdict,
        rule,
        refusal,
        denial,
        audit,
        started,
    }
}

/// Makes a decided call (unless it was refused), completes its audit record and
/// returns the run's record of it with its outcome.
async fn perform(
    context: &RunContext,
    implementations: &Implementations,
    interface: &str,
    function: &str,
    args: Json,
    judged: Judged,
) -> (CallRecord, Result<Json, ToolError>) {
    let outcome = match judged.refusal.clone() {
        Some(error) => Err(error),
        None => match implementations.get(interface) {
            // Whatever an implementation hands back (a response body, a file, an
            // error message) passes the redactor: a secret value never reaches
            // the guest, even when a server or a file echoes it.
            Some(implementation) => implementation
                .call(function, args, context)
                .await
                .map(|result| context.gate.redactor.json_values(result))
                .map_err(|error| error.redacted(&context.gate.redactor)),
            None => Err(ToolError::Failed(format!(
                "the policy allows {}, but this clambot has no implementation of the `{interface}` interface",
                judged.name
            ))),
        },
    };
    conclude(context, judged, outcome)
}

/// Completes a decided call's audit record with its outcome and returns the
/// run's record of it.
fn conclude(
    context: &RunContext,
    judged: Judged,
    mut outcome: Result<Json, ToolError>,
) -> (CallRecord, Result<Json, ToolError>) {
    let Judged {
        name,
        verdict,
        rule,
        refusal: _,
        denial,
        audit,
        started,
    } = judged;
    let duration = started.elapsed();
    if let Some(pending) = audit {
        let ending = Ending {
            error: outcome.as_ref().err().map(ToolError::code),
            refused_by: match &outcome {
                Err(ToolError::Denied { rule, .. }) => Some(rule.as_str()),
                _ => None,
            },
            result_bytes: outcome.as_ref().map_or(0, |v| v.to_string().len() as u64),
        };
        if let Err(e) = pending.complete(&ending) {
            // The effect has happened; what the gate can still do is withhold
            // the result and say why.
            outcome = Err(ToolError::Failed(format!(
                "the audit log could not be written ({e:#}); the call's result is withheld"
            )));
        }
    }
    let record = CallRecord {
        function: name,
        verdict,
        rule,
        error: outcome.as_ref().err().map(ToolError::code),
        duration,
        denial,
        caller: context.caller.clone(),
    };
    (record, outcome)
}

/// Gives the gate's linker access to the run's gate.
pub trait GateView: Send {
    fn gate(&mut self) -> &mut RunGate;
}

/// What the linker needs to know of one imported function.
#[derive(Debug)]
pub(crate) struct GatedFunction {
    interface: String,
    function: String,
    params: Vec<(String, Type)>,
    ok: Option<Type>,
    err: Type,
}

/// The host interface the guest's job loop starts and collects concurrent calls
/// through (`wit/calls.wit`); not gated itself: every call it starts is.
pub const CONCURRENT_CALLS_INTERFACE: &str = "calls";

/// Links every function of every `clambot:host/*` interface `component` imports
/// through the gate. Fails for a host function that cannot report a denial (no
/// `result<_, error>` return) and for host-package imports that are not interfaces.
pub fn link_host_imports<T: GateView + 'static>(
    linker: &mut Linker<T>,
    component: &Component,
    engine: &Engine,
) -> Result<Vec<String>> {
    let mut linked = Vec::new();
    let mut gated_functions: HashMap<String, Arc<GatedFunction>> = HashMap::new();
    let mut concurrent_calls = None;
    for (name, item) in component.component_type().imports(engine) {
        let Some(rest) = name.strip_prefix(HOST_PACKAGE) else {
            continue;
        };
        let interface = rest.split('@').next().unwrap_or(rest).to_owned();
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            bail!("the component imports `{name}`, which is not an interface");
        };
        if interface == CONCURRENT_CALLS_INTERFACE {
            concurrent_calls = Some((name.to_owned(), instance));
            continue;
        }
        let mut linker_instance = linker
            .instance(name)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("linking `{name}`"))?;
        for (function, item) in instance.exports(engine) {
            let ComponentItem::ComponentFunc(func) = item.ty else {
                continue;
            };
            let gated = Arc::new(gated_function(&interface, function, &func)?);
            linked.push(format!("{interface}.{function}"));
            gated_functions.insert(format!("{interface}.{function}"), Arc::clone(&gated));
            linker_instance
                .func_new_async(function, move |store, _ty, params, results| {
                    let gated = Arc::clone(&gated);
                    Box::new(async move { gated_call(store, &gated, params, results).await })
                })
                .map_err(anyhow::Error::from)?;
        }
    }
    if let Some((name, instance)) = concurrent_calls {
        concurrent_link::link(linker, &name, &instance, engine, gated_functions)?;
        linked.push(format!("{CONCURRENT_CALLS_INTERFACE}.*"));
    }
    Ok(linked)
}

/// The types of one imported host function, which must be able to report a
/// denial.
fn gated_function(
    interface: &str,
    function: &str,
    func: &wasmtime::component::types::ComponentFunc,
) -> Result<GatedFunction> {
    let results: Vec<Type> = func.results().collect();
    let (ok, err) = match results.as_slice() {
        [Type::Result(result)] if result.err().is_some() => {
            (result.ok(), result.err().expect("checked above"))
        }
        _ => bail!(
            "`{interface}.{function}` must return `result<_, error>` so a denial can reach \
             the script as an error instead of a trap"
        ),
    };
    Ok(GatedFunction {
        interface: interface.to_owned(),
        function: function.to_owned(),
        params: func.params().map(|(n, t)| (n.to_owned(), t)).collect(),
        ok,
        err,
    })
}

async fn gated_call<T: GateView>(
    mut store: StoreContextMut<'_, T>,
    gated: &GatedFunction,
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    let args = Json::Object(
        gated
            .params
            .iter()
            .zip(params)
            .map(|((name, _), val)| (name.clone(), val_to_json(val)))
            .collect::<Map<_, _>>(),
    );
    let outcome = store
        .data_mut()
        .gate()
        .handle(&gated.interface, &gated.function, args)
        .await;
    if store.data_mut().gate().take_waited() {
        let remaining = store.data_mut().gate().context.deadline.remaining();
        store.set_epoch_deadline(crate::sandbox::deadline_ticks(remaining));
    }
    let result = match outcome {
        Ok(json) => match &gated.ok {
            None => Ok(None),
            Some(ty) => match json_to_val(ty, &json) {
                Ok(val) => Ok(Some(Box::new(val))),
                // A host implementation returned the wrong shape: a host bug, told to
                // the script as a failure rather than a trap.
                Err(e) => Err(Some(Box::new(error_val(
                    &gated.err,
                    &ToolError::Failed(format!(
                        "{}.{} returned a value that does not fit its WIT type ({e})",
                        gated.interface, gated.function
                    )),
                )?))),
            },
        },
        Err(error) => Err(Some(Box::new(error_val(&gated.err, &error)?))),
    };
    results[0] = Val::Result(result);
    Ok(())
}

fn error_val(err_ty: &Type, error: &ToolError) -> wasmtime::Result<Val> {
    json_to_val(err_ty, &error.to_json()).map_err(|e| {
        wasmtime::format_err!("the WIT `error` type does not have the case clambot sends: {e}")
    })
}
