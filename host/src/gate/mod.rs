//! The gate: the single door between a script and the world.
//!
//! Every function of every `clambot:host/*` interface the guest imports is linked
//! here, generically, by walking the component's import types: no function has gate
//! code of its own, so a new WIT function is gated the moment it exists. A call is
//! turned into a JSON view of its arguments ([`Call`]), judged by the run's
//! [`Policy`], recorded, and only then dispatched to the interface's
//! implementation. A refusal is the WIT `denied` error — a catchable `ToolError`
//! in JavaScript that names the rule — never a trap.
//!
//! Deny by default: with no policy ([`DenyAll`]) and for any function no rule
//! allows, the answer is `denied`. An allowed call to an interface clambot has no
//! implementation for is `failed`, never silently successful.

pub mod value;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value as Json, json};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, Type, Val};
use wasmtime::{Engine, StoreContextMut};

use crate::sandbox::output::OutputCapture;
use value::{json_to_val, val_to_json};

/// The WIT package every gated host interface belongs to.
pub const HOST_PACKAGE: &str = "clambot:host/";

/// One call a script made, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The interface's short name: `http`, `fs`, …
    pub interface: &'a str,
    /// The function's WIT name: `fetch`, `read-text`, …
    pub function: &'a str,
    /// The arguments as a JSON object keyed by WIT parameter name.
    pub args: &'a Json,
}

impl Call<'_> {
    /// `interface.function`, the name rules use.
    pub fn name(&self) -> String {
        format!("{}.{}", self.interface, self.function)
    }
}

/// What the policy says about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow { rule: String },
    Deny { rule: String, reason: String },
}

/// Decides calls. The policy engine implements this; so does [`DenyAll`].
pub trait Policy: Send + Sync + fmt::Debug {
    fn decide(&self, call: &Call<'_>) -> Decision;
}

/// The rule name reported when nothing allows a call.
pub const DEFAULT_DENY_RULE: &str = "default-deny";

/// The policy in force when none is given: every call is denied.
#[derive(Debug, Clone, Copy, Default)]
pub struct DenyAll;

impl Policy for DenyAll {
    fn decide(&self, call: &Call<'_>) -> Decision {
        Decision::Deny {
            rule: DEFAULT_DENY_RULE.into(),
            reason: format!(
                "no policy is in force, so every call is denied; allow `{}` in a policy file \
                 (clambot run --policy FILE)",
                call.name()
            ),
        }
    }
}

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

    fn to_json(&self) -> Json {
        match self {
            Self::Denied { rule, reason } => json!({ "denied": { "rule": rule, "reason": reason } }),
            Self::Invalid(m) | Self::NotFound(m) | Self::Failed(m) | Self::Limit(m) => {
                json!({ self.code(): m })
            }
        }
    }
}

/// A boxed future, as host implementations return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a host implementation can reach of the run that called it.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub output: OutputCapture,
}

/// The host side of one WIT interface. Reached only through the gate.
pub trait HostInterface: Send + Sync + fmt::Debug {
    /// Performs an allowed call. `args` is the JSON view of the arguments; the
    /// returned JSON must fit the function's `ok` type.
    fn call<'a>(&'a self, function: &'a str, args: Json, run: &'a RunContext) -> BoxFuture<'a, Result<Json, ToolError>>;
}

/// The implementations available to runs, by interface short name.
#[derive(Debug, Clone, Default)]
pub struct Implementations {
    by_interface: HashMap<String, Arc<dyn HostInterface>>,
}

impl Implementations {
    /// Every host interface clambot implements.
    pub fn standard() -> Self {
        let mut implementations = Self::default();
        implementations.insert("log", Arc::new(crate::tools::log::Log));
        implementations
    }

    pub fn insert(&mut self, interface: &str, implementation: Arc<dyn HostInterface>) {
        self.by_interface.insert(interface.to_owned(), implementation);
    }

    fn get(&self, interface: &str) -> Option<&Arc<dyn HostInterface>> {
        self.by_interface.get(interface)
    }
}

/// One gated call, as the run records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRecord {
    /// `interface.function`.
    pub function: String,
    pub allowed: bool,
    pub rule: String,
    /// The error code when the call did not succeed.
    pub error: Option<&'static str>,
    pub duration: Duration,
}

/// The gate's state for one run.
#[derive(Debug)]
pub struct RunGate {
    policy: Arc<dyn Policy>,
    implementations: Implementations,
    context: RunContext,
    calls: Vec<CallRecord>,
}

impl RunGate {
    pub fn new(policy: Arc<dyn Policy>, implementations: Implementations, output: OutputCapture) -> Self {
        Self {
            policy,
            implementations,
            context: RunContext { output },
            calls: Vec::new(),
        }
    }

    /// The calls made so far, in order.
    pub fn calls(&self) -> &[CallRecord] {
        &self.calls
    }

    pub fn into_calls(self) -> Vec<CallRecord> {
        self.calls
    }

    /// Judges one call and, when allowed, performs it.
    pub async fn handle(&mut self, interface: &str, function: &str, args: Json) -> Result<Json, ToolError> {
        let started = Instant::now();
        let call = Call {
            interface,
            function,
            args: &args,
        };
        let decision = self.policy.decide(&call);
        let (outcome, allowed, rule) = match decision {
            Decision::Deny { rule, reason } => (
                Err(ToolError::Denied {
                    rule: rule.clone(),
                    reason,
                }),
                false,
                rule,
            ),
            Decision::Allow { rule } => {
                let outcome = match self.implementations.get(interface) {
                    Some(implementation) => implementation.call(function, args, &self.context).await,
                    None => Err(ToolError::Failed(format!(
                        "the policy allows {interface}.{function}, but this clambot has no \
                         implementation of the `{interface}` interface"
                    ))),
                };
                (outcome, true, rule)
            }
        };
        self.calls.push(CallRecord {
            function: format!("{interface}.{function}"),
            allowed,
            rule,
            error: outcome.as_ref().err().map(ToolError::code),
            duration: started.elapsed(),
        });
        outcome
    }
}

/// Gives the gate's linker access to the run's gate.
pub trait GateView: Send {
    fn gate(&mut self) -> &mut RunGate;
}

/// What the linker needs to know of one imported function.
#[derive(Debug)]
struct GatedFunction {
    interface: String,
    function: String,
    params: Vec<String>,
    ok: Option<Type>,
    err: Type,
}

/// Links every function of every `clambot:host/*` interface `component` imports
/// through the gate. Fails for a host function that cannot report a denial (no
/// `result<_, error>` return) and for host-package imports that are not interfaces.
pub fn link_host_imports<T: GateView + 'static>(
    linker: &mut Linker<T>,
    component: &Component,
    engine: &Engine,
) -> Result<Vec<String>> {
    let mut linked = Vec::new();
    for (name, item) in component.component_type().imports(engine) {
        let Some(rest) = name.strip_prefix(HOST_PACKAGE) else { continue };
        let interface = rest.split('@').next().unwrap_or(rest).to_owned();
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            bail!("the component imports `{name}`, which is not an interface");
        };
        let mut linker_instance = linker
            .instance(name)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("linking `{name}`"))?;
        for (function, item) in instance.exports(engine) {
            let ComponentItem::ComponentFunc(func) = item.ty else {
                continue;
            };
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
            let gated = Arc::new(GatedFunction {
                interface: interface.clone(),
                function: function.to_owned(),
                params: func.params().map(|(n, _)| n.to_owned()).collect(),
                ok,
                err,
            });
            linked.push(format!("{interface}.{function}"));
            linker_instance.func_new_async(function, move |store, _ty, params, results| {
                let gated = Arc::clone(&gated);
                Box::new(async move { gated_call(store, &gated, params, results).await })
            })
            .map_err(anyhow::Error::from)?;
        }
    }
    Ok(linked)
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
            .map(|(name, val)| (name.clone(), val_to_json(val)))
            .collect::<Map<_, _>>(),
    );
    let outcome = store
        .data_mut()
        .gate()
        .handle(&gated.interface, &gated.function, args)
        .await;
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
    json_to_val(err_ty, &error.to_json())
        .map_err(|e| wasmtime::format_err!("the WIT `error` type does not have the case clambot sends: {e}"))
}
