//! One loaded tool component and how a call into it runs.
//!
//! Every call gets a fresh instance (nothing carries from one call to the next)
//! with the tool's own time and memory limits. The tool's imports of host
//! interfaces are linked through the gate like the guest's, but judged under the
//! tool's identity (`caller = "tools.NAME"` rules only). Its WASI is inert: no
//! environment, arguments, stdin, files or sockets; stdout and stderr go to the
//! run's bounded output.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value as Json};
use tokio_util::sync::CancellationToken;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{
    Component, ComponentExportIndex, InstancePre, Linker, ResourceTable, Type, Val,
};
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::WasiCtxBuilder;

use crate::gate::value::{json_to_named_val, val_to_json};
use crate::gate::{
    self, BoxFuture, HostInterface, Implementations, RunContext, RunGate, ToolError,
};
use crate::policy::{Caller, ToolSettings};
use crate::sandbox::RunState;
use crate::sandbox::limits::{Deadline, MemoryLimiter};
use crate::sandbox::output::{OutputLimitReached, Stream};

/// A tool's limits when its table sets none.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_TOOL_MEMORY: u64 = 64 * 1024 * 1024;

/// One exported function: its WIT name and types.
#[derive(Debug, Clone)]
pub struct ToolFunction {
    /// WIT spelling, e.g. `count-words`.
    pub name: String,
    pub params: Vec<(String, Type)>,
    pub result: Option<Type>,
    export: ComponentExportIndex,
}

/// A loaded, linked tool component.
pub struct Tool {
    pub settings: ToolSettings,
    /// The exported interface's name, e.g. `clambot-tools:textkit/textkit@0.1.0`.
    pub interface: String,
    pub functions: BTreeMap<String, ToolFunction>,
    pub sha256: String,
    /// The component file, and the WIT directory beside it (if any).
    pub path: std::path::PathBuf,
    pub wit_dir: Option<std::path::PathBuf>,
    engine: Engine,
    pre: InstancePre<RunState>,
    /// The host interfaces the tool's own calls reach (never other tools).
    host: Arc<Implementations>,
}

impl std::fmt::Debug for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.settings.name)
            .field("interface", &self.interface)
            .field("sha256", &self.sha256)
            .finish_non_exhaustive()
    }
}

impl Tool {
    /// Links an admitted component (pin and imports already checked).
    pub fn link(
        settings: ToolSettings,
        sha256: String,
        path: &std::path::Path,
        component: &Component,
        engine: &Engine,
        host: Arc<Implementations>,
    ) -> Result<Self> {
        let mut linker: Linker<RunState> = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI")?;
        gate::link_host_imports(&mut linker, component, engine)?;
        let pre = linker
            .instantiate_pre(component)
            .map_err(anyhow::Error::from)
            .context("linking the component")?;
        let (interface, functions) = exported_functions(component, engine)?;
        Ok(Self {
            settings,
            interface,
            functions,
            sha256,
            path: path.to_path_buf(),
            wit_dir: path
                .parent()
                .map(|dir| dir.join("wit"))
                .filter(|dir| dir.is_dir()),
            engine: engine.clone(),
            pre,
            host,
        })
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The doc comments of the tool's WIT (`wit/` beside the component).
    pub fn docs(&self) -> std::collections::HashMap<String, String> {
        self.wit_dir
            .as_deref()
            .map(super::signature::wit_docs)
            .unwrap_or_default()
    }

    fn timeout(&self) -> Duration {
        self.settings.timeout.unwrap_or(DEFAULT_TOOL_TIMEOUT)
    }

    fn memory(&self) -> u64 {
        self.settings.memory.unwrap_or(DEFAULT_TOOL_MEMORY)
    }

    /// The WIT function a script's name means: the WIT spelling or its camelCase.
    pub fn resolve(&self, name: &str) -> Result<&ToolFunction, ToolError> {
        self.functions
            .values()
            .find(|f| f.name == name || crate::components::camel_case(&f.name) == name)
            .ok_or_else(|| {
                let known: Vec<String> = self
                    .functions
                    .values()
                    .map(|f| crate::components::camel_case(&f.name))
                    .collect();
                ToolError::Invalid(format!(
                    "tools.{} has no function `{name}`; it has: {}",
                    self.name(),
                    known.join(", ")
                ))
            })
    }

    /// Names positional arguments (a JSON array) by the function's WIT parameters,
    /// so policy conditions and the audit log see `{"text": …}`.
    pub fn named_args(&self, function: &ToolFunction, args: Json) -> Result<Json, ToolError> {
        let Json::Array(values) = args else {
            return Err(ToolError::Invalid(
                "tool arguments must be a JSON array".into(),
            ));
        };
        if values.len() > function.params.len() {
            return Err(ToolError::Invalid(format!(
                "tools.{}.{} takes {} argument(s) ({}), got {}",
                self.name(),
                function.name,
                function.params.len(),
                function
                    .params
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                values.len()
            )));
        }
        let mut named = Map::new();
        let mut values = values.into_iter();
        for (param, _) in &function.params {
            named.insert(param.clone(), values.next().unwrap_or(Json::Null));
        }
        Ok(Json::Object(named))
    }

    /// Calls `function` with named JSON arguments in a fresh instance.
    async fn invoke(
        &self,
        function: &str,
        args: Json,
        run: &RunContext,
    ) -> Result<Json, ToolError> {
        let name = self.name().to_owned();
        let function = self.resolve(function)?.clone();
        let params = function
            .params
            .iter()
            .map(|(param, ty)| {
                json_to_named_val(ty, args.get(param).unwrap_or(&Json::Null), param)
                    .map_err(|e| ToolError::Invalid(format!("tools.{name}.{}: {e}", function.name)))
            })
            .collect::<Result<Vec<Val>, ToolError>>()?;

        // The tool's own limit, wall-clock, never past the run's deadline: its
        // code, its host calls (an http fetch that hangs) and their waits all
        // count. A person answering an [[ask]] for the tool's call pauses both
        // clocks, as for the script's own calls.
        let timeout = self.timeout().min(run.deadline.remaining());
        let deadline = Arc::new(Deadline::within(&run.deadline, self.timeout()));
        let wasi = WasiCtxBuilder::new()
            .stdout(run.output.stream(Stream::Stdout))
            .stderr(run.output.stream(Stream::Stderr))
            .build();
        let gate = RunGate::for_tool(
            run,
            Arc::clone(&self.host),
            self.sha256.clone(),
            Caller::Tool(name.clone()),
            Arc::clone(&deadline),
        );
        let mut store = Store::new(
            &self.engine,
            RunState {
                wasi,
                table: ResourceTable::new(),
                limiter: MemoryLimiter::new(self.memory()),
                gate,
            },
        );
        store.limiter(|state| &mut state.limiter);
        store.set_hostcall_fuel(crate::sandbox::limits::HOSTCALL_FUEL);
        store.set_epoch_deadline(crate::sandbox::deadline_ticks(timeout));
        store.epoch_deadline_trap();

        let call = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            let Some(func) = instance.get_func(&mut store, function.export) else {
                return Err(wasmtime::format_err!("the export is not a function"));
            };
            let mut results = vec![Val::Bool(false); usize::from(function.result.is_some())];
            func.call_async(&mut store, &params, &mut results).await?;
            wasmtime::Result::Ok(results.pop())
        };
        // The epoch deadline stops the tool's code at its own limit; this stops a
        // call stuck in a host call at the same limit.
        let raw = crate::sandbox::until_deadline(&deadline, &CancellationToken::new(), call)
            .await
            .unwrap_or_else(|| Err(wasmtime::Error::from(Trap::Interrupt)));
        let memory_hit = store.data().limiter.was_hit();
        Self::report_calls(store, run);
        let result = raw.map_err(|error| {
            let what = format!("tools.{name}.{}", function.name);
            match error.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => ToolError::Limit(format!(
                    "{what} ran past its time limit of {}",
                    crate::size::show_duration(timeout)
                )),
                _ if memory_hit => ToolError::Limit(format!(
                    "{what} ran out of memory (limit {})",
                    crate::size::show_size(self.memory())
                )),
                _ if error.downcast_ref::<OutputLimitReached>().is_some() => {
                    ToolError::Limit(format!("{what} wrote more output than the run allows"))
                }
                Some(trap) => ToolError::Failed(format!("{what} crashed: {trap}")),
                None => ToolError::Failed(format!("{what} crashed: {error:#}")),
            }
        })?;
        result_to_json(&name, &function, result)
    }

    /// Moves the calls the tool made into the run's record.
    fn report_calls(store: Store<RunState>, run: &RunContext) {
        run.nested_calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(store.into_data().gate.into_calls());
    }
}

/// The result as the script sees it: a top-level `result` becomes its `ok` value
/// or a thrown `ToolError` (code `failed`) carrying the `err` value.
fn result_to_json(
    tool: &str,
    function: &ToolFunction,
    result: Option<Val>,
) -> Result<Json, ToolError> {
    match result {
        None => Ok(Json::Null),
        Some(Val::Result(Ok(value))) => Ok(value.as_deref().map_or(Json::Null, val_to_json)),
        Some(Val::Result(Err(error))) => {
            let message = match error.as_deref().map(val_to_json) {
                None => "(no details)".to_owned(),
                Some(Json::String(text)) => text,
                Some(other) => other.to_string(),
            };
            Err(ToolError::Failed(format!(
                "tools.{tool}.{}: {message}",
                function.name
            )))
        }
        Some(other) => Ok(val_to_json(&other)),
    }
}

impl HostInterface for Tool {
    fn call<'a>(
        &'a self,
        function: &'a str,
        args: Json,
        run: &'a RunContext,
    ) -> BoxFuture<'a, Result<Json, ToolError>> {
        Box::pin(self.invoke(function, args, run))
    }
}

/// The one interface a tool exports, and its functions.
fn exported_functions(
    component: &Component,
    engine: &Engine,
) -> Result<(String, BTreeMap<String, ToolFunction>)> {
    let instances: Vec<_> = component
        .component_type()
        .exports(engine)
        .filter_map(|(name, item)| match item.ty {
            // Only a package's interface (`ns:pkg/name`) is the tool's; a plain
            // name is toolchain plumbing the host never calls (componentize-py
            // leaves its build-time `exports` init interface in every component).
            ComponentItem::ComponentInstance(instance) if name.contains(':') => {
                Some((name.to_owned(), instance))
            }
            _ => None,
        })
        .collect();
    let [(interface, instance)] = instances.as_slice() else {
        bail!(
            "a tool exports exactly one package interface (`namespace:package/name`); this one exports {}",
            if instances.is_empty() {
                "none".to_owned()
            } else {
                instances
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    };
    let instance_index = component
        .get_export_index(None, interface)
        .context("the exported interface has no index")?;
    let mut functions = BTreeMap::new();
    for (name, item) in instance.exports(engine) {
        let ComponentItem::ComponentFunc(func) = item.ty else {
            continue;
        };
        for (_, ty) in func.params() {
            check_convertible(&ty).with_context(|| format!("`{name}`'s parameters"))?;
        }
        let results: Vec<Type> = func.results().collect();
        if results.len() > 1 {
            bail!("`{name}` returns several values; a tool function returns at most one");
        }
        let export = component
            .get_export_index(Some(&instance_index), name)
            .with_context(|| format!("`{name}` has no export index"))?;
        functions.insert(
            name.to_owned(),
            ToolFunction {
                name: name.to_owned(),
                params: func.params().map(|(n, t)| (n.to_owned(), t)).collect(),
                result: results.into_iter().next(),
                export,
            },
        );
    }
    if functions.is_empty() {
        bail!("`{interface}` exports no functions");
    }
    Ok((interface.clone(), functions))
}

/// Resources, streams and futures have no JSON form: refused at load, not at call.
fn check_convertible(ty: &Type) -> Result<()> {
    match ty {
        Type::Own(_)
        | Type::Borrow(_)
        | Type::Future(_)
        | Type::Stream(_)
        | Type::ErrorContext
        | Type::Map(_) => {
            bail!(
                "a parameter type has no JSON form (resources, streams and futures are not supported)"
            )
        }
        Type::List(l) => check_convertible(&l.ty()),
        Type::Option(o) => check_convertible(&o.ty()),
        Type::Record(r) => r.fields().try_for_each(|f| check_convertible(&f.ty)),
        Type::Tuple(t) => t.types().try_for_each(|t| check_convertible(&t)),
        Type::Variant(v) => v
            .cases()
            .filter_map(|c| c.ty)
            .try_for_each(|t| check_convertible(&t)),
        Type::Result(r) => r
            .ok()
            .into_iter()
            .chain(r.err())
            .try_for_each(|t| check_convertible(&t)),
        _ => Ok(()),
    }
}
