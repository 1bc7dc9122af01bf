//! Concurrent host calls, host side: `clambot:host/calls` (`wit/calls.wit`;
//! the design is in `docs/concurrency.md`).
//!
//! `start` judges a call exactly as a blocking call is judged — at once, in the
//! order the script started its calls, budgets reserved then — and, unless the
//! gate refuses it, runs the rest (a person's answer for an `ask`, the effect,
//! the audit completion) as a task of its own, so the calls overlap. `next`
//! hands the guest whichever finishes first. At most `[run] max-concurrent`
//! calls are under way at once; the others wait their turn, already judged and
//! on record. Whatever cuts the run short (its deadline, cancellation, a trap)
//! ends every call still under way, and each has its `interrupted` record.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value as Json;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::audit::{Decided, OUTCOME_INTERRUPTED, Verdict};
use super::{
    CallName, CallRecord, GatedFunction, Judgement, RunContext, RunGate, TOOL_CALLS_INTERFACE,
    ToolError, ask, perform, record_decision,
};
use crate::policy::Caller;

/// The calls of one run started with `calls.start` and not yet collected.
pub(super) struct InFlight {
    tasks: JoinSet<Finished>,
    /// What the gate knows of each call under way, by handle.
    calls: HashMap<u64, Started>,
    /// The handle of each task, for a task that ended without finishing.
    handles: HashMap<tokio::task::Id, u64>,
    next_handle: u64,
    /// `[run] max-concurrent`: one permit per call under way.
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for InFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InFlight")
            .field("calls", &self.calls.len())
            .field("permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

/// A call under way.
#[derive(Debug)]
struct Started {
    /// The function the guest started (`http.fetch`, `components.call`), whose
    /// WIT result type the completion is given in.
    function: Arc<GatedFunction>,
    /// The interface the gate judged it under (`tools.NAME` for a tool call).
    interface: String,
    /// The run's record of it, should it be cut short.
    record: CallRecord,
    at: Instant,
}

/// A call that has run its course.
struct Finished {
    handle: u64,
    record: CallRecord,
    outcome: Result<Json, ToolError>,
}

impl InFlight {
    pub(super) fn new(max_concurrent: u32) -> Self {
        Self {
            tasks: JoinSet::new(),
            calls: HashMap::new(),
            handles: HashMap::new(),
            next_handle: 1,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1) as usize)),
        }
    }
}

/// A call `next` hands back: its handle, the function the guest started and its outcome.
pub(super) type Completion = (u64, Arc<GatedFunction>, Result<Json, ToolError>);

impl RunGate {
    /// `calls.start`: judges the call now and, unless refused, sets it going.
    pub(super) fn start(
        &mut self,
        function: Arc<GatedFunction>,
        args: Json,
    ) -> Result<u64, ToolError> {
        let started = Instant::now();
        let (interface, name, args) = if function.interface == TOOL_CALLS_INTERFACE {
            if self.caller != Caller::Script {
                return Err(ToolError::Invalid(
                    "only a script calls tools, through `tools.NAME.function(...)`".into(),
                ));
            }
            self.tool_call(&function.function, &args)?
        } else {
            (function.interface.clone(), function.function.clone(), args)
        };
        let judgement = self.decide(&interface, &name, &args);
        let handle = self.concurrent.next_handle;
        self.concurrent.next_handle += 1;
        let context = Arc::clone(&self.context);
        let implementations = Arc::clone(&self.implementations);
        let permits = Arc::clone(&self.concurrent.permits);
        let script_sha256 = Arc::clone(&self.script_sha256);
        let caller = self.caller.clone();
        let full_name = format!("{interface}.{name}");
        let placeholder = |verdict: Verdict, rule: &str| CallRecord {
            function: format!("{interface}.{name}"),
            verdict,
            rule: rule.to_owned(),
            error: Some(OUTCOME_INTERRUPTED),
            duration: std::time::Duration::ZERO,
            denial: None,
            caller: caller.clone(),
        };
        let (record, task) = match judgement {
            Judgement::Settled(verdict, rule, refusal) => {
                let call = CallName {
                    interface: &interface,
                    function: &name,
                };
                let judged = record_decision(
                    &context,
                    &script_sha256,
                    &caller,
                    call,
                    &args,
                    (verdict, rule, refusal),
                    started,
                );
                if let Some(error) = judged.refusal.clone() {
                    // Refused at its start: on record now, and the script hears now.
                    let (record, _) = super::conclude(&context, judged, Err(error.clone()));
                    self.record(&interface, record);
                    return Err(error);
                }
                let record = placeholder(judged.verdict, &judged.rule);
                let (interface, name) = (interface.clone(), name.clone());
                let task = async move {
                    let _permit = permits.acquire_owned().await;
                    let (record, outcome) =
                        perform(&context, &implementations, &interface, &name, args, judged).await;
                    Finished {
                        handle,
                        record,
                        outcome,
                    }
                };
                (
                    record,
                    Box::pin(task) as super::BoxFuture<'static, Finished>,
                )
            }
            Judgement::Ask { rule, scope } => {
                // The place in the question queue is taken now, in start order.
                let mut ticket = context.asks.ticket();
                let record = placeholder(Verdict::Rejected, &rule);
                let (interface, name) = (interface.clone(), name.clone());
                let task = async move {
                    let mut unanswered = Unanswered {
                        context: Arc::clone(&context),
                        script_sha256: Arc::clone(&script_sha256),
                        caller: caller.clone(),
                        interface: interface.clone(),
                        function: name.clone(),
                        rule: rule.clone(),
                        args: args.clone(),
                        started,
                        answered: false,
                    };
                    let decision = ask(&context, &full_name, &args, rule, scope, &mut ticket).await;
                    drop(ticket);
                    unanswered.answered = true;
                    let call = CallName {
                        interface: &interface,
                        function: &name,
                    };
                    let judged = record_decision(
                        &context,
                        &script_sha256,
                        &caller,
                        call,
                        &args,
                        decision,
                        started,
                    );
                    let _permit = match judged.refusal {
                        None => Some(permits.acquire_owned().await),
                        Some(_) => None,
                    };
                    let (record, outcome) =
                        perform(&context, &implementations, &interface, &name, args, judged).await;
                    Finished {
                        handle,
                        record,
                        outcome,
                    }
                };
                (
                    record,
                    Box::pin(task) as super::BoxFuture<'static, Finished>,
                )
            }
        };
        let task = self.concurrent.tasks.spawn(task);
        self.concurrent.handles.insert(task.id(), handle);
        self.concurrent.calls.insert(
            handle,
            Started {
                function,
                interface,
                record,
                at: started,
            },
        );
        Ok(handle)
    }

    /// `calls.next`: waits for whichever started call finishes first.
    pub(super) async fn next(&mut self) -> Result<Completion, ToolError> {
        let Some(joined) = self.concurrent.tasks.join_next_with_id().await else {
            return Err(ToolError::Failed("no host call is under way".into()));
        };
        let (handle, record, outcome) = match joined {
            Ok((id, finished)) => {
                self.concurrent.handles.remove(&id);
                (finished.handle, Some(finished.record), finished.outcome)
            }
            // Only a panic ends a task early while the run goes on: a host bug,
            // told to the script as a failure.
            Err(error) => {
                let handle = self
                    .concurrent
                    .handles
                    .remove(&error.id())
                    .ok_or_else(|| ToolError::Failed("a host call ended unknown".into()))?;
                (
                    handle,
                    None,
                    Err(ToolError::Failed(format!("the host call crashed: {error}"))),
                )
            }
        };
        let started = self
            .concurrent
            .calls
            .remove(&handle)
            .ok_or_else(|| ToolError::Failed(format!("host call {handle} was not started")))?;
        let record = record.unwrap_or(CallRecord {
            error: Some("failed"),
            ..started.record
        });
        self.record(&started.interface, record);
        let outcome = if started.function.interface == TOOL_CALLS_INTERFACE {
            // `components.call` returns the tool's value as JSON text.
            outcome.map(|value| Json::String(value.to_string()))
        } else {
            outcome
        };
        Ok((handle, started.function, outcome))
    }

    /// Ends every call still under way (the run is over: finished, out of time,
    /// cancelled or trapped). Each one's audit record is completed as
    /// `interrupted` as its task is dropped, and the run's record lists it.
    pub async fn end_calls_under_way(&mut self) {
        if self.concurrent.calls.is_empty() {
            return;
        }
        self.concurrent.tasks.abort_all();
        while let Some(joined) = self.concurrent.tasks.join_next_with_id().await {
            let (id, finished) = match joined {
                Ok((id, finished)) => (id, Some(finished)),
                Err(error) => (error.id(), None),
            };
            let Some(handle) = self.concurrent.handles.remove(&id) else {
                continue;
            };
            let Some(started) = self.concurrent.calls.remove(&handle) else {
                continue;
            };
            let record = match finished {
                // It finished before it could be stopped; the script never saw it.
                Some(finished) => finished.record,
                None => CallRecord {
                    duration: started.at.elapsed(),
                    ..started.record
                },
            };
            self.record(&started.interface, record);
        }
    }
}

/// An `ask` whose question had no answer when its call was ended: its
/// `decided` record says so (no effect happened).
struct Unanswered {
    context: Arc<RunContext>,
    script_sha256: Arc<str>,
    caller: Caller,
    interface: String,
    function: String,
    rule: String,
    args: Json,
    started: Instant,
    answered: bool,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let Some(audit) = &self.context.audit else {
            return;
        };
        let args = self.context.gate.redactor.json(&self.args);
        let call = crate::policy::Call {
            interface: &self.interface,
            function: &self.function,
            args: &args,
        };
        let fingerprint = self
            .context
            .gate
            .policy
            .scope_for(&self.caller, &call)
            .fingerprint();
        let name = call.name();
        let decided = Decided {
            script_sha256: &self.script_sha256,
            function: &name,
            verdict: Verdict::Rejected,
            rule: &self.rule,
            fingerprint: &fingerprint,
            args: &args,
        };
        let _ = audit.decided(&decided, Some(OUTCOME_INTERRUPTED), self.started);
    }
}
