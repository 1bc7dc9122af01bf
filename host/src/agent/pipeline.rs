//! One turn: exact-match reuse → selector → generator → static checks →
//! sandbox → analysis → fix (at most `max_fix_attempts`) → answer.
//!
//! Two rules beat the usual failure modes:
//! - A denied call is never "fixed" by asking the model again: the owner's
//!   policy said no, so the answer says what was denied and how to allow it.
//! - Every model output that cannot be read is reported as such; nothing is
//!   guessed into a decision.

use std::sync::Arc;

use anyhow::Result;
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use super::Agent;
use super::checks::check_script;
use super::clams::{Clam, NewClam};
use super::forming::{self, FormingReply};
use super::parse::{self, Generated, Selection, Verdict};
use super::prompt::{self, PromptParts};
use super::provider::{Completion, CompletionRequest, Message, ProviderError, TextSink};
use super::turn::{ClamRequest, Phase, TurnOutcome, TurnReply, TurnRequest};
use crate::gate::{CallRecord, GateSetup};
use crate::policy::Caller;
use crate::policy::bounds::Bound;
use crate::sandbox::{RunOutcome, RunRequest};

/// Why a step stopped the turn early.
enum Stop {
    Cancelled,
    Provider(ProviderError),
    /// State that could not be read or written.
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(error: anyhow::Error) -> Self {
        match error.downcast::<ProviderError>() {
            Ok(provider) => Self::Provider(provider),
            Err(other) => Self::Other(other),
        }
    }
}

impl From<ProviderError> for Stop {
    fn from(error: ProviderError) -> Self {
        Self::Provider(error)
    }
}

/// How one run of a script ended, for the loop.
enum RunEnd {
    /// It returned a value (JSON text).
    Value {
        json: String,
        console: String,
    },
    /// A call was denied and the script died of it (or returned nothing useful).
    Denied,
    /// It failed; `problem` is for the model.
    Failed {
        problem: String,
        console: String,
    },
    Cancelled,
}

/// What the turn knows while it works.
struct Attempt<'a> {
    request: &'a TurnRequest,
    /// One gate for every run of the turn, so a "this turn" approval given in
    /// the first run still holds in a fix's run.
    gate: GateSetup,
    denied: Vec<String>,
    denials: Vec<CallRecord>,
    /// The host functions the last run called and the gate allowed.
    last_calls: Vec<String>,
}

impl Agent {
    /// Answers one message; every call is also judged by `bounds` (a job's).
    pub(super) async fn answer(
        &self,
        request: &TurnRequest,
        bounds: &[Bound],
    ) -> Result<TurnReply> {
        let mut attempt = Attempt {
            request,
            gate: self.gate(Arc::clone(&request.approver), bounds)?,
            denied: Vec::new(),
            denials: Vec::new(),
            last_calls: Vec::new(),
        };
        let reply = match self.answer_inner(&mut attempt).await {
            Ok(reply) => reply,
            Err(Stop::Cancelled) => TurnReply {
                text: "Cancelled.".into(),
                outcome: TurnOutcome::Cancelled,
                denied: attempt.denied.clone(),
            },
            Err(Stop::Provider(error)) => TurnReply {
                text: format!("I could not get an answer from the model: {error}"),
                outcome: TurnOutcome::Failed,
                denied: attempt.denied.clone(),
            },
            Err(Stop::Other(error)) => return Err(error),
        };
        if reply.outcome != TurnOutcome::Cancelled {
            self.sessions
                .append_exchange(&request.session, &request.message, &reply.text)?;
        }
        Ok(reply)
    }

    async fn answer_inner(&self, attempt: &mut Attempt<'_>) -> Result<TurnReply, Stop> {
        let request = attempt.request;
        // 1. The same request as a saved clam's: run it, no model call at all.
        if let Some(clam) = self.clams.find_by_request(&request.message) {
            let args = clam.meta.inputs();
            match self
                .run_once(attempt, &clam.script, &args, Some(&clam.meta.name))
                .await
            {
                RunEnd::Value { json, .. } => {
                    let _ = self.clams.record_run(&clam, true);
                    return Ok(TurnReply {
                        text: render_value(&json),
                        outcome: TurnOutcome::Ran {
                            clam: Some(clam.meta.name.clone()),
                            reused: true,
                        },
                        denied: attempt.denied.clone(),
                    });
                }
                RunEnd::Denied => {
                    let _ = self.clams.record_run(&clam, false);
                    return Ok(self.denied_reply(attempt));
                }
                RunEnd::Cancelled => return Err(Stop::Cancelled),
                RunEnd::Failed { problem, console } => {
                    let _ = self.clams.record_run(&clam, false);
                    // The saved clam broke (the world changed): fix it, as version n+1.
                    let facts = self.facts_for(&request.message).unwrap_or_default();
                    let history = self.session_messages(&request.session).await?;
                    let broken = Generated {
                        script: clam.script.clone(),
                        name: Some(clam.meta.name.clone()),
                        description: Some(clam.meta.description.clone()),
                        args,
                    };
                    return self
                        .fix_loop(
                            attempt,
                            &facts,
                            history,
                            broken,
                            Some(&clam),
                            problem,
                            console,
                            1,
                        )
                        .await;
                }
            }
        }

        // 2. The selector: chat, use a clam, or generate.
        request.progress.phase(Phase::Thinking);
        let facts = self.facts_for(&request.message).unwrap_or_default();
        let history = self.session_messages(&request.session).await?;
        let (clams, _) = self.clams.list();
        let parts = PromptParts {
            js_api: &self.js_api,
            policy: &self.policy_text,
            facts: &facts,
            memory_budget_tokens: self.settings.memory_budget_tokens,
            clams: &clams,
        };
        let selection = self.select(request, &parts, &history).await?;
        match selection {
            Ok(Selection::Chat { reply }) => Ok(TurnReply {
                text: reply.clone(),
                outcome: TurnOutcome::Chat,
                denied: Vec::new(),
            })
            .inspect(|_| self.extract_facts_later(&request.message, &reply)),
            Ok(Selection::Use { clam, args }) => match self.clams.get(&clam) {
                Ok(clam) => {
                    let chosen = Generated {
                        script: clam.script.clone(),
                        name: Some(clam.meta.name.clone()),
                        description: Some(clam.meta.description.clone()),
                        args,
                    };
                    self.run_loop(attempt, &facts, history, chosen, Some(&clam))
                        .await
                }
                // The selector named a clam that is not there: write a new script.
                Err(_) => self.generate_and_run(attempt, &facts, history).await,
            },
            // Unreadable twice: writing a script is the safe default (it is
            // checked, gated and analysed like any other).
            Ok(Selection::Generate) | Err(_) => {
                self.generate_and_run(attempt, &facts, history).await
            }
        }
    }

    /// Asks the selector, with one repair round for an unreadable answer.
    async fn select(
        &self,
        request: &TurnRequest,
        parts: &PromptParts<'_>,
        history: &[Message],
    ) -> Result<Result<Selection, parse::Malformed>, Stop> {
        let mut messages = vec![Message::system(prompt::selector_system(parts))];
        messages.extend(history.iter().rev().take(6).rev().cloned());
        messages.push(Message::user(request.message.clone()));
        let first = self
            .ask_forming(request, messages.clone(), 1_024, forming::CHAT)
            .await?;
        match parse::selection(&first.text) {
            Ok(selection) => Ok(Ok(selection)),
            Err(error) => {
                messages.push(Message::assistant(first.text));
                messages.push(Message::user(prompt::repair(&error.0)));
                let second = self
                    .ask_forming(request, messages, 1_024, forming::CHAT)
                    .await?;
                Ok(parse::selection(&second.text))
            }
        }
    }

    async fn generate_and_run(
        &self,
        attempt: &mut Attempt<'_>,
        facts: &[String],
        history: Vec<Message>,
    ) -> Result<TurnReply, Stop> {
        let request = attempt.request;
        let messages =
            self.generation_messages(facts, &history, prompt::generate_request(&request.message));
        let answer = self
            .ask(
                &request.cancel,
                messages,
                self.settings.max_script_tokens,
                true,
            )
            .await?;
        match parse::generated(&answer.text) {
            Ok(generated) => {
                self.run_loop(attempt, facts, history, generated, None)
                    .await
            }
            Err(error) => {
                let unreadable = Generated {
                    script: String::new(),
                    name: None,
                    description: None,
                    args: Json::Object(Default::default()),
                };
                let problem = format!(
                    "your answer could not be read ({error}); it was:\n{}",
                    prompt::clip(&answer.text, 2_000)
                );
                self.fix_loop(
                    attempt,
                    facts,
                    history,
                    unreadable,
                    None,
                    problem,
                    String::new(),
                    0,
                )
                .await
            }
        }
    }

    fn generation_messages(
        &self,
        facts: &[String],
        history: &[Message],
        ask: String,
    ) -> Vec<Message> {
        let (clams, _) = self.clams.list();
        let system = prompt::generation_system(&PromptParts {
            js_api: &self.js_api,
            policy: &self.policy_text,
            facts,
            memory_budget_tokens: self.settings.memory_budget_tokens,
            clams: &clams,
        });
        let mut messages = vec![Message::system(system)];
        messages.extend(history.iter().cloned());
        messages.push(Message::user(ask));
        messages
    }

    /// Checks and runs `script`; on success analyses it; on failure hands it to
    /// the fix loop.
    async fn run_loop(
        &self,
        attempt: &mut Attempt<'_>,
        facts: &[String],
        history: Vec<Message>,
        script: Generated,
        saved: Option<&Clam>,
    ) -> Result<TurnReply, Stop> {
        self.fix_loop_from(attempt, facts, history, script, saved, None, 0)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn fix_loop(
        &self,
        attempt: &mut Attempt<'_>,
        facts: &[String],
        history: Vec<Message>,
        broken: Generated,
        saved: Option<&Clam>,
        problem: String,
        console: String,
        runs_so_far: u32,
    ) -> Result<TurnReply, Stop> {
        self.fix_loop_from(
            attempt,
            facts,
            history,
            broken,
            saved,
            Some((problem, console)),
            runs_so_far,
        )
        .await
    }

    /// The loop: (fix if there is a problem) → check → run → analyse, until an
    /// answer, a denial, a rejection, or the fix budget is spent.
    #[allow(clippy::too_many_arguments)]
    async fn fix_loop_from(
        &self,
        attempt: &mut Attempt<'_>,
        facts: &[String],
        history: Vec<Message>,
        mut script: Generated,
        saved: Option<&Clam>,
        mut problem: Option<(String, String)>,
        mut tries: u32,
    ) -> Result<TurnReply, Stop> {
        let request = attempt.request;
        let mut fixes = 0;
        loop {
            if let Some((what, console)) = problem.take() {
                if fixes >= self.settings.max_fix_attempts {
                    return Ok(TurnReply {
                        text: format!(
                            "I could not get this working: the script failed {tries} time{} \
                             and {fixes} fix{} did not help. The last problem was:\n{}",
                            if tries == 1 { "" } else { "s" },
                            if fixes == 1 { "" } else { "es" },
                            prompt::clip(&what, 1_000)
                        ),
                        outcome: TurnOutcome::Failed,
                        denied: attempt.denied.clone(),
                    });
                }
                fixes += 1;
                request.progress.phase(Phase::Fixing { attempt: fixes });
                let ask = prompt::fix_request(&request.message, &script.script, &what, &console);
                let messages = self.generation_messages(facts, &history, ask);
                let answer = self
                    .ask(
                        &request.cancel,
                        messages,
                        self.settings.max_script_tokens,
                        true,
                    )
                    .await?;
                match parse::generated(&answer.text) {
                    Ok(fixed) => {
                        script = Generated {
                            // A fix keeps the clam's identity unless the model renamed it.
                            name: fixed.name.or(script.name),
                            description: fixed.description.or(script.description),
                            ..fixed
                        };
                    }
                    Err(error) => {
                        problem = Some((
                            format!(
                                "your answer could not be read ({error}); it was:\n{}",
                                prompt::clip(&answer.text, 2_000)
                            ),
                            String::new(),
                        ));
                        continue;
                    }
                }
            }
            if let Err(failure) = check_script(&script.script) {
                problem = Some((format!("{failure}"), String::new()));
                continue;
            }
            tries += 1;
            let clam_name = saved.map(|c| c.meta.name.as_str());
            match self
                .run_once(attempt, &script.script, &script.args, clam_name)
                .await
            {
                RunEnd::Cancelled => return Err(Stop::Cancelled),
                RunEnd::Denied => return Ok(self.denied_reply(attempt)),
                RunEnd::Failed {
                    problem: what,
                    console,
                } => {
                    problem = Some((what, console));
                }
                RunEnd::Value { json, console } => {
                    request.progress.phase(Phase::Answering);
                    let mut ask =
                        prompt::analysis_request(&request.message, &script.script, &json, &console);
                    if !attempt.denied.is_empty() {
                        ask.push_str(&format!(
                            "\nCalls the policy denied during the run (say so if it matters): {}\n",
                            attempt.denied.join("; ")
                        ));
                    }
                    let messages =
                        vec![Message::system(prompt::ANALYST_SYSTEM), Message::user(ask)];
                    let answer = self
                        .ask_forming(request, messages, 2_048, forming::ACCEPT)
                        .await?;
                    match parse::verdict(&answer.text) {
                        Ok(Verdict::Accept { answer }) => {
                            let saved_as = self.save_clam(request, &script, saved, attempt);
                            self.extract_facts_later(&request.message, &answer);
                            return Ok(TurnReply {
                                text: answer,
                                outcome: TurnOutcome::Ran {
                                    clam: saved_as,
                                    reused: false,
                                },
                                denied: attempt.denied.clone(),
                            });
                        }
                        Ok(Verdict::Fix { instructions }) => {
                            problem = Some((
                                format!(
                                    "the result does not answer the request: {instructions}\nResult: {}",
                                    prompt::clip(&json, 2_000)
                                ),
                                console,
                            ));
                        }
                        Ok(Verdict::Reject { reason }) => {
                            return Ok(TurnReply {
                                text: reason,
                                outcome: TurnOutcome::Failed,
                                denied: attempt.denied.clone(),
                            });
                        }
                        Err(error) => {
                            // The run worked but its check is unreadable: give the
                            // result as it is, and do not save an unchecked clam.
                            return Ok(TurnReply {
                                text: format!(
                                    "{}\n\n(The model's check of this result could not be read ({error}), \
                                     so the script was not saved as a clam.)",
                                    render_value(&json)
                                ),
                                outcome: TurnOutcome::Ran {
                                    clam: None,
                                    reused: false,
                                },
                                denied: attempt.denied.clone(),
                            });
                        }
                    }
                }
            }
        }
    }

    fn save_clam(
        &self,
        request: &TurnRequest,
        script: &Generated,
        saved: Option<&Clam>,
        attempt: &Attempt<'_>,
    ) -> Option<String> {
        let replaces = saved.filter(|c| c.writable).map(|c| c.meta.name.as_str());
        // A read-only clam that worked as it is needs no copy.
        if let Some(clam) = saved
            && clam.script == script.script
        {
            let _ = self.clams.record_run(clam, true);
            return Some(clam.meta.name.clone());
        }
        let description = script
            .description
            .clone()
            .unwrap_or_else(|| request.message.clone());
        let name = script.name.clone().unwrap_or_else(|| description.clone());
        let calls = attempt.last_calls.clone();
        let new = NewClam {
            name: &name,
            description: &description,
            request: &request.message,
            script: &script.script,
            inputs: &script.args,
            calls,
            replaces,
        };
        self.clams.save(&new).ok().map(|c| c.meta.name)
    }

    /// One run in the sandbox under the gate, cancellable.
    async fn run_once(
        &self,
        attempt: &mut Attempt<'_>,
        script: &str,
        args: &Json,
        clam: Option<&str>,
    ) -> RunEnd {
        let request = attempt.request;
        request.progress.script(script);
        request.progress.phase(Phase::Running {
            clam: clam.map(str::to_owned),
        });
        let outcome = match self
            .run_script(
                script,
                args,
                attempt.gate.clone(),
                &request.cancel,
                clam.is_some_and(|name| self.is_saved(name, script)),
            )
            .await
        {
            Ok(Some(outcome)) => outcome,
            Ok(None) => return RunEnd::Cancelled,
            Err(error) => {
                return RunEnd::Failed {
                    problem: format!("the sandbox could not start the run: {error:#}"),
                    console: String::new(),
                };
            }
        };
        attempt.last_calls = allowed_calls(&outcome);
        for call in outcome.calls.iter().filter(|c| c.denial.is_some()) {
            attempt
                .denied
                .push(format!("{} (rule {})", call.function, call.rule));
            attempt.denials.push(call.clone());
        }
        let console = outcome.console.text();
        match outcome.result {
            Ok(json) => RunEnd::Value { json, console },
            Err(error) if error.is_denial() => RunEnd::Denied,
            // The full report (frames, source line and caret): what the model
            // needs to fix the script.
            Err(error) => RunEnd::Failed {
                problem: error.report(),
                console,
            },
        }
    }

    /// Runs `script` with `args`; `None` when cancelled (the run is dropped, and
    /// with it its sandbox instance). A saved clam (`saved`) starts from its
    /// cached bytecode; a script that does not compile runs from source, which
    /// reports its syntax error the usual way.
    pub(super) async fn run_script(
        &self,
        script: &str,
        args: &Json,
        gate: GateSetup,
        cancel: &CancellationToken,
        saved: bool,
    ) -> Result<Option<RunOutcome>> {
        let limits = self.run_limits(&gate.policy);
        let run = RunRequest {
            source: script.to_owned(),
            args_json: args.to_string(),
            limits,
            gate,
        };
        let bytecode = match saved {
            true => self.bytecode.get(&self.sandbox, script).await.ok(),
            false => None,
        };
        let outcome = match bytecode {
            Some(bytecode) => self.sandbox.run_compiled(&run, &bytecode, cancel).await,
            None => self.sandbox.run_cancellable(&run, cancel).await,
        };
        Ok(match outcome.result {
            Err(crate::sandbox::RunError::Cancelled) => None,
            _ => Some(outcome),
        })
    }

    /// Whether `script` is the saved text of the clam `name` (a fix in progress
    /// is not: it runs from source until it is accepted).
    fn is_saved(&self, name: &str, script: &str) -> bool {
        self.clams.get(name).is_ok_and(|clam| clam.script == script)
    }

    /// The agent's limits, lowered by `policy`'s `[run]` (the run's own policy:
    /// a job's is narrowed by the policies it was made under).
    fn run_limits(&self, policy: &crate::policy::Policy) -> crate::sandbox::RunLimits {
        let mut limits = self.settings.run_limits;
        let ceiling = policy.run();
        if let Some(timeout) = ceiling.timeout {
            limits.timeout = limits.timeout.min(timeout);
        }
        if let Some(memory) = ceiling.memory {
            limits.memory = limits.memory.min(memory);
        }
        if let Some(max_output) = ceiling.max_output {
            limits.max_output = limits
                .max_output
                .min(usize::try_from(max_output).unwrap_or(usize::MAX));
        }
        limits
    }

    /// The answer when the policy said no: what, by which rule, and how to allow it.
    fn denied_reply(&self, attempt: &Attempt<'_>) -> TurnReply {
        let mut text = String::from("I could not do that: the policy denied ");
        let mut seen = Vec::new();
        for call in &attempt.denials {
            let key = (call.function.clone(), call.rule.clone());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let reason = call.denial.as_ref().map_or("", |d| d.reason.as_str());
            text.push_str(&format!(
                "`{}` (rule `{}`: {reason})",
                call.function, call.rule
            ));
            text.push_str("; ");
        }
        if attempt.denials.is_empty() {
            text.push_str("a call; ");
        }
        text.truncate(text.trim_end_matches("; ").len());
        if attempt
            .denials
            .iter()
            .any(|c| c.rule.starts_with(crate::policy::bounds::BOUND_RULE_PREFIX))
        {
            // The current policy is not what refused: the job's maker had no such right.
            text.push_str(
                ".\n\nThis job was made by a script, and a job never has more rights than the run \
                 that made it. To give it the current policy's rights, remove it and add it yourself \
                 with `clambot cron add`.",
            );
            return TurnReply {
                text,
                outcome: TurnOutcome::Failed,
                denied: attempt.denied.clone(),
            };
        }
        text.push('.');
        if let Some(call) = attempt.denials.first() {
            let null = Json::Null;
            let args = call.denial.as_ref().map_or(&null, |d| &d.args);
            let advice = if call.verdict == crate::gate::audit::Verdict::Limit {
                // A budget ran out: a fresh run would be allowed, so no rule helps.
                crate::policy::suggest::Advice::Nothing {
                    why: format!(
                        "{} allows the call, but its per-run budget ran out; raise `max-calls` only if the script needs more calls",
                        crate::policy::escape(&call.rule)
                    ),
                }
            } else {
                suggested_rule(&self.policy, &call.function, &call.caller, args)
            };
            text.push_str("\n\n");
            text.push_str(&advice.render(&self.policy));
            if matches!(advice, crate::policy::suggest::Advice::Add { .. }) {
                text.push_str("\nthen check it with `clambot policy check` and ask again.");
            }
        }
        TurnReply {
            text,
            outcome: TurnOutcome::Failed,
            denied: attempt.denied.clone(),
        }
    }

    /// Runs a saved clam with the given arguments (cron jobs, `clams run`): no
    /// model, no fixing; the result as it is.
    pub(super) async fn run_saved(
        &self,
        request: &ClamRequest,
        bounds: &[Bound],
    ) -> Result<TurnReply> {
        let clam = self.clams.get(&request.clam)?;
        request.progress.script(&clam.script);
        request.progress.phase(Phase::Running {
            clam: Some(clam.meta.name.clone()),
        });
        let gate = self.gate(Arc::clone(&request.approver), bounds)?;
        let Some(outcome) = self
            .run_script(
                &clam.script,
                &request.args,
                gate.clone(),
                &request.cancel,
                true,
            )
            .await?
        else {
            return Ok(TurnReply {
                text: "Cancelled.".into(),
                outcome: TurnOutcome::Cancelled,
                denied: Vec::new(),
            });
        };
        let denials: Vec<CallRecord> = outcome
            .calls
            .iter()
            .filter(|c| c.denial.is_some())
            .cloned()
            .collect();
        let denied: Vec<String> = denials
            .iter()
            .map(|c| format!("{} (rule {})", c.function, c.rule))
            .collect();
        let _ = self.clams.record_run(&clam, outcome.result.is_ok());
        Ok(match outcome.result {
            Ok(json) => TurnReply {
                text: render_value(&json),
                outcome: TurnOutcome::Ran {
                    clam: Some(clam.meta.name),
                    reused: true,
                },
                denied,
            },
            Err(error) if error.is_denial() => {
                let attempt = Attempt {
                    request: &TurnRequest {
                        session: request.session.clone(),
                        message: String::new(),
                        approver: Arc::clone(&request.approver),
                        progress: Arc::clone(&request.progress),
                        cancel: request.cancel.clone(),
                    },
                    gate,
                    denied,
                    denials,
                    last_calls: Vec::new(),
                };
                self.denied_reply(&attempt)
            }
            Err(error) => TurnReply {
                text: format!("The clam {} failed: {}", clam.meta.name, error.report()),
                outcome: TurnOutcome::Failed,
                denied,
            },
        })
    }

    /// A model call whose JSON answer may be the reply (`wanted` says when):
    /// streamed, so the front end sees the reply as it is written.
    async fn ask_forming(
        &self,
        request: &TurnRequest,
        messages: Vec<Message>,
        max_tokens: u32,
        wanted: forming::Wanted,
    ) -> Result<Completion, Stop> {
        let request_body = CompletionRequest {
            messages,
            max_tokens,
            temperature: Some(0.0),
            json: true,
        };
        let sink = FormingReply::new(wanted, Arc::clone(&request.progress));
        let answer = tokio::select! {
            answer = self.provider.complete_streaming(&request_body, &sink) => answer,
            () = request.cancel.cancelled() => return Err(Stop::Cancelled),
        };
        // A preview of an answer that failed is taken back (a phase that
        // follows any other answer supersedes its preview at the front end).
        if answer.is_err() {
            sink.restart();
        }
        Ok(answer?)
    }

    /// One model call, cancellable.
    async fn ask(
        &self,
        cancel: &CancellationToken,
        messages: Vec<Message>,
        max_tokens: u32,
        json: bool,
    ) -> Result<Completion, Stop> {
        let request = CompletionRequest {
            messages,
            max_tokens,
            temperature: Some(0.0),
            json,
        };
        tokio::select! {
            answer = self.provider.complete(&request) => Ok(answer?),
            () = cancel.cancelled() => Err(Stop::Cancelled),
        }
    }
}

/// The distinct host functions a run called with the gate's leave.
fn allowed_calls(outcome: &RunOutcome) -> Vec<String> {
    let mut calls: Vec<String> = outcome
        .calls
        .iter()
        .filter(|c| c.allowed())
        .map(|c| c.function.clone())
        .collect();
    calls.sort();
    calls.dedup();
    calls
}

/// A script's JSON result for a person: a string as it is, anything else as
/// indented JSON.
pub fn render_value(json: &str) -> String {
    match serde_json::from_str::<Json>(json) {
        Ok(Json::String(text)) => text,
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_else(|_| json.to_owned()),
        Err(_) => json.to_owned(),
    }
}

/// What to tell the owner about a denied call: a verified rule for exactly that
/// call, or the [[ask]]/[[deny]] rule that refused it.
pub fn suggested_rule(
    policy: &crate::policy::Policy,
    function: &str,
    caller: &Caller,
    args: &Json,
) -> crate::policy::suggest::Advice {
    let (interface, function) = crate::policy::split_call_name(function);
    crate::policy::suggest::advise(
        policy,
        caller,
        &crate::policy::Call {
            interface,
            function,
            args,
        },
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rendering() {
        assert_eq!(render_value("\"hi\""), "hi");
        assert_eq!(render_value("{\"a\":1}"), "{\n  \"a\": 1\n}");
    }

    #[test]
    fn suggestions_are_exactly_the_call_and_verified() {
        use crate::policy::suggest::Advice;
        let policy = crate::policy::Policy::parse(
            "p.toml",
            "version = 1\n[tools.textkit]\nsha256 = \"0000000000000000000000000000000000000000000000000000000000000000\"\nimports = [\"http\"]\n",
        )
        .expect("loads");
        let text = |function: &str, caller: &Caller, args: Json| match suggested_rule(
            &policy, function, caller, &args,
        ) {
            Advice::Add { rule, .. } => rule.to_toml(),
            other => panic!("{other:?}"),
        };
        let rule = text(
            "http.fetch",
            &Caller::Script,
            json!({"req": {"url": "https://api.example.com:8443/v1/x?y=1", "method": "POST"}}),
        );
        assert!(
            rule.contains("url = [\"https://api.example.com:8443/v1/x\"]"),
            "{rule}"
        );
        assert!(rule.contains("method = [\"POST\"]"), "{rule}");
        let rule = text(
            "fs.write-text",
            &Caller::Script,
            json!({"path": "notes/today.md"}),
        );
        assert!(rule.contains("path = [\"notes/today.md\"]"), "{rule}");
        assert!(!rule.contains("caller"), "{rule}");
        let rule = text(
            "http.fetch",
            &Caller::Tool("textkit".into()),
            json!({"req": {"url": "https://tides.example/x"}}),
        );
        assert!(rule.contains("caller = \"tools.textkit\"\n"), "{rule}");
    }
}
