//! The sandbox: a wasmtime host for the QuickJS guest component.
//!
//! Every run gets a fresh instance (nothing carries from one run to the next),
//! made cheap by the pooling allocator, copy-on-write memory initialisation, a
//! pre-linked [`InstancePre`] and a guest that was pre-initialised at build time.
//! A run is bounded in time (epoch interruption plus a wall-clock timeout around
//! host calls), memory (a limiter), output (a bounded capture) and result size.
//! The guest's only imports are the gated `clambot:host/*` interfaces and the
//! minimal WASI it needs; there are no preopened directories, no sockets, no
//! environment variables and no arguments.

pub mod bytecode;
pub mod cache;
pub mod limits;
pub mod output;
pub mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use wasmtime::component::{
    ComponentExportIndex, ComponentType, InstancePre, Lift, Linker, ResourceTable,
};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
    UpdateDeadline,
};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::gate::{self, CallRecord, GateSetup, GateView, Implementations, RunGate};
pub use cache::CacheStatus;
pub use limits::RunLimits;
use limits::{Deadline, MemoryLimiter};
use output::{Console, OutputCapture, OutputLimitReached, Stream};

/// How often the engine's epoch advances; the resolution of run deadlines.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Extra wall-clock time after the deadline before the run's future is dropped.
/// The epoch deadline stops wasm code; this catches a run stuck in a host call.
const WALL_CLOCK_GRACE: Duration = Duration::from_millis(50);

/// The wasm stack. Deep JS recursion ends as a stack-overflow trap here, which
/// the run reports as `StackOverflow`.
const MAX_WASM_STACK: usize = 1024 * 1024;

/// The fiber stack a run executes on: the wasm stack plus room for host calls.
/// It must exceed `MAX_WASM_STACK`, or an overflow would hit the fiber's guard page
/// and abort the whole process instead of trapping.
const ASYNC_STACK: usize = MAX_WASM_STACK + 1024 * 1024;

/// Bytes of each memory slot kept resident between runs: about what a small
/// run dirties. More costs RSS on idle slots; less brings page faults back.
const KEEP_RESIDENT: usize = 1024 * 1024;

/// Bytes of each table slot kept resident between runs.
const KEEP_RESIDENT_TABLE: usize = 64 * 1024;

/// How the sandbox is set up.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where precompiled components are cached (`None`: compile in memory).
    pub cache_dir: Option<PathBuf>,
    /// How many runs may be live at once; more wait their turn.
    pub max_concurrent_runs: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            max_concurrent_runs: 1000,
        }
    }
}

/// A script and what it runs under.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub source: String,
    /// The `args` the script sees, as JSON text.
    pub args_json: String,
    pub limits: RunLimits,
    /// The policy, grants, approver and audit log every host call goes through.
    pub gate: GateSetup,
}

impl RunRequest {
    /// A run of `source` with no arguments, default limits and no policy
    /// (every host call denied).
    pub fn new(source: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            args_json: "{}".into(),
            limits: RunLimits::default(),
            gate: GateSetup::deny_all(),
        }
    }
}

/// A failure inside the script, as the guest reports it (WIT `script-error`).
#[derive(Debug, Clone, PartialEq, Eq, ComponentType, Lift)]
#[component(record)]
struct GuestFailure {
    kind: String,
    message: String,
    line: Option<u32>,
    column: Option<u32>,
    stack: Option<String>,
    #[component(name = "tool-code")]
    tool_code: Option<String>,
    rule: Option<String>,
}

/// A failure inside the script, made fit to show (see [`script_failure`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFailure {
    /// `syntax`, `exception`, `args` or `result`.
    pub kind: String,
    /// `Name: message`.
    pub message: String,
    /// Where the failing expression is: line and character column (1-based) in
    /// the script's own text.
    pub line: Option<u32>,
    pub column: Option<u32>,
    /// The stack as the guest wrote it (bounded).
    pub stack: Option<String>,
    /// The `ToolError` code, when the uncaught error was one.
    pub tool_code: Option<String>,
    /// The deciding rule, when the uncaught error was a denial.
    pub rule: Option<String>,
    /// The script's own frames, innermost first: `at f (3:17)`.
    pub frames: Vec<String>,
    /// The failing line of the script and a caret under the column.
    pub excerpt: Option<[String; 2]>,
}

impl ScriptFailure {
    /// The lines that go under the one-line description: the stack, when it
    /// says more than the position does, and the source excerpt.
    pub fn context(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.frames.len() > 1 {
            lines.extend(self.frames.iter().cloned());
        }
        lines.extend(self.excerpt.iter().flatten().cloned());
        lines
    }
}

/// Why a run did not produce a result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    #[error("{}", describe_script_failure(.0))]
    Script(Box<ScriptFailure>),
    #[error("timed out after {}", crate::size::show_duration(*.0))]
    Timeout(Duration),
    #[error("out of memory (limit {})", crate::size::show_size(*.0))]
    OutOfMemory(u64),
    #[error("output limit of {} reached", crate::size::show_size(*.0 as u64))]
    OutputLimit(usize),
    #[error(
        "the result is {}, over the limit of {}",
        crate::size::show_size(*.size as u64),
        crate::size::show_size(*.limit as u64)
    )]
    ResultTooLarge { size: usize, limit: usize },
    #[error("stack overflow (recursion too deep)")]
    StackOverflow,
    #[error("the sandbox stopped: {0}")]
    Trap(String),
    #[error("cancelled")]
    Cancelled,
}

impl RunError {
    /// Whether the script died of an uncaught denial.
    pub fn is_denial(&self) -> bool {
        matches!(self, Self::Script(f) if f.tool_code.as_deref() == Some("denied"))
    }

    /// The lines under the one-line description (empty unless the script
    /// failed): its short stack and the failing source line with a caret.
    pub fn context(&self) -> Vec<String> {
        match self {
            Self::Script(failure) => failure.context(),
            _ => Vec::new(),
        }
    }

    /// The description and, indented under it, the [`RunError::context`]: what
    /// a reader (or a model fixing the script) needs to find the failure.
    pub fn report(&self) -> String {
        let mut text = self.to_string();
        for line in self.context() {
            text.push_str("\n  ");
            text.push_str(&line);
        }
        text
    }
}

fn describe_script_failure(failure: &ScriptFailure) -> String {
    let position = match (failure.line, failure.column) {
        (Some(line), Some(column)) => format!(" at {line}:{column}"),
        _ => String::new(),
    };
    let what = match failure.kind.as_str() {
        "syntax" => "syntax error",
        "args" => "bad arguments",
        "result" => "the result is not JSON",
        _ => "uncaught",
    };
    let rule = failure
        .rule
        .as_ref()
        .map(|r| format!(" (rule: {r})"))
        .unwrap_or_default();
    format!("{what}{position}: {}{rule}", failure.message)
}

/// What one run produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The script's value as JSON text, or why there is none.
    pub result: Result<String, RunError>,
    /// Console and log output, bounded.
    pub console: Console,
    /// Every host call, in order, with the gate's decision.
    pub calls: Vec<CallRecord>,
    pub elapsed: Duration,
}

/// The store data of one run (of the guest, or of a tool component serving it).
pub(crate) struct RunState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) gate: RunGate,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl GateView for RunState {
    fn gate(&mut self) -> &mut RunGate {
        &mut self.gate
    }
}

/// Advances the engine's epoch until dropped.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("clambot-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Where a run starts.
#[derive(Debug, Clone, Copy)]
enum Entry<'a> {
    /// Parse and run the source.
    Source,
    /// Run bytecode compiled earlier.
    Bytecode(&'a [u8]),
    /// Only compile the source; the "result" is the bytecode, hex.
    Compile,
    /// Only parse the source as a whole Script or Module.
    CheckSyntax { module: bool },
}

/// The compiled, linked guest, ready to run scripts concurrently.
pub struct Sandbox {
    engine: Engine,
    pre: InstancePre<RunState>,
    run_export: ComponentExportIndex,
    compile_export: ComponentExportIndex,
    run_compiled_export: ComponentExportIndex,
    check_syntax_export: ComponentExportIndex,
    implementations: Arc<Implementations>,
    permits: Semaphore,
    cache_status: CacheStatus,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("guest_sha256", &crate::GUEST_SHA256)
            .field("cache_status", &self.cache_status)
            .finish_non_exhaustive()
    }
}

/// The engine configuration: pooling, copy-on-write, epochs.
pub fn engine(max_concurrent_runs: u32) -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(max_concurrent_runs)
        .total_core_instances(max_concurrent_runs * 4)
        .total_memories(max_concurrent_runs)
        .total_tables(max_concurrent_runs * 2)
        .total_stacks(max_concurrent_runs)
        .max_memory_size(limits::MAX_MEMORY as usize)
        .max_memories_per_component(2)
        .max_tables_per_component(4)
        .max_core_instances_per_component(8)
        .table_elements(limits::MAX_TABLE_ELEMENTS_POOL)
        // Reset a finished run's memory by rewriting only the pages it dirtied
        // (PAGEMAP_SCAN, Linux 6.7+; plain memset otherwise) instead of unmapping
        // and faulting them in again: page faults were over half of a trivial run.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT_TABLE)
        .pagemap_scan(wasmtime::Enabled::Auto);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .async_stack_size(ASYNC_STACK)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")
}

impl Sandbox {
    /// Compiles (or loads from the cache) the embedded guest and links it.
    pub fn new(config: &SandboxConfig) -> Result<Self> {
        Self::with_implementations(config, Implementations::standard())
    }

    /// Like [`Sandbox::new`], with the given host implementations behind the gate.
    pub fn with_implementations(
        config: &SandboxConfig,
        implementations: Implementations,
    ) -> Result<Self> {
        let engine = engine(config.max_concurrent_runs)?;
        let (component, cache_status) = cache::load(
            &engine,
            "guest",
            crate::GUEST_COMPONENT,
            crate::GUEST_SHA256,
            config.cache_dir.as_deref(),
        )?;
        let mut linker: Linker<RunState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking WASI")?;
        gate::link_host_imports(&mut linker, &component, &engine)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("linking the guest: it imports something clambot does not provide")?;
        let export = |name: &str| {
            component
                .get_export_index(None, name)
                .with_context(|| format!("the guest component exports no `{name}` function"))
        };
        let run_export = export("run")?;
        let compile_export = export("compile")?;
        let run_compiled_export = export("run-compiled")?;
        let check_syntax_export = export("check-syntax")?;
        Ok(Self {
            _ticker: EpochTicker::start(&engine),
            engine,
            pre,
            run_export,
            compile_export,
            run_compiled_export,
            check_syntax_export,
            implementations: Arc::new(implementations),
            permits: Semaphore::new(config.max_concurrent_runs as usize),
            cache_status,
        })
    }

    /// How the compiled guest was obtained.
    pub fn cache_status(&self) -> &CacheStatus {
        &self.cache_status
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Creates a fresh instance and drops it without running anything: a health
    /// check, and the "instantiate alone" benchmark.
    pub async fn probe(&self) -> Result<()> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let output = OutputCapture::new(0);
        let state = RunState {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits::DEFAULT_MEMORY),
            gate: RunGate::new(
                GateSetup::deny_all(),
                Arc::clone(&self.implementations),
                output,
                String::new(),
                String::new(),
                Arc::new(Deadline::after(limits::DEFAULT_TIMEOUT)),
            ),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_hostcall_fuel(limits::HOSTCALL_FUEL);
        store.set_epoch_deadline(deadline_ticks(limits::DEFAULT_TIMEOUT));
        store.epoch_deadline_trap();
        self.pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .context("instantiating the guest")?;
        Ok(())
    }

    /// Runs one script in a fresh instance.
    pub async fn run(&self, request: &RunRequest) -> RunOutcome {
        self.run_inner(request, None, Entry::Source).await
    }

    /// Runs bytecode from [`Sandbox::compile`] of `request.source` (which still
    /// names the script in the audit log), cancellable like
    /// [`Sandbox::run_cancellable`]. Bytecode from another guest build is refused
    /// by the guest as a syntax error.
    pub async fn run_compiled(
        &self,
        request: &RunRequest,
        bytecode: &[u8],
        cancel: &CancellationToken,
    ) -> RunOutcome {
        self.run_inner(request, Some(cancel), Entry::Bytecode(bytecode))
            .await
    }

    /// Compiles `source` to QuickJS bytecode in a fresh instance (nothing runs,
    /// no host call is possible), for [`Sandbox::run_compiled`].
    pub async fn compile(&self, source: &str) -> Result<Vec<u8>, RunError> {
        let request = RunRequest::new(source);
        let outcome = self.run_inner(&request, None, Entry::Compile).await;
        let hex = outcome.result?;
        hex::decode(&hex)
            .map_err(|e| RunError::Trap(format!("the guest's bytecode is not hex: {e}")))
    }

    /// Parses `source` as a whole ECMAScript Script (with `module`, a Module),
    /// as given rather than wrapped like a script run, in a fresh instance:
    /// nothing runs, no host call is possible. A syntax or early error is a
    /// [`RunError::Script`] of kind `syntax` with its position.
    pub async fn check_syntax(&self, source: &str, module: bool) -> Result<(), RunError> {
        let request = RunRequest::new(source);
        let outcome = self
            .run_inner(&request, None, Entry::CheckSyntax { module })
            .await;
        outcome.result.map(drop)
    }

    /// Runs one script, stopping it within an epoch tick of `cancel` (even in a
    /// busy loop, which never yields to the async runtime); the run ends with
    /// [`RunError::Cancelled`].
    pub async fn run_cancellable(
        &self,
        request: &RunRequest,
        cancel: &CancellationToken,
    ) -> RunOutcome {
        self.run_inner(request, Some(cancel), Entry::Source).await
    }

    async fn run_inner(
        &self,
        request: &RunRequest,
        cancel: Option<&CancellationToken>,
        entry: Entry<'_>,
    ) -> RunOutcome {
        let started = Instant::now();
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let limits = request.limits;
        let output = OutputCapture::new(limits.max_output);
        let deadline = Arc::new(Deadline::after(limits.timeout));
        let wasi = WasiCtxBuilder::new()
            .stdout(output.stream(Stream::Stdout))
            .stderr(output.stream(Stream::Stderr))
            .build();
        let state = RunState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits.memory),
            gate: RunGate::new(
                request.gate.clone(),
                Arc::clone(&self.implementations),
                output.clone(),
                uuid::Uuid::now_v7().to_string(),
                crate::sha256_hex(request.source.as_bytes()),
                Arc::clone(&deadline),
            ),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limiter);
        store.set_hostcall_fuel(limits::HOSTCALL_FUEL);
        match cancel {
            None => {
                store.set_epoch_deadline(deadline_ticks(limits.timeout));
                store.epoch_deadline_trap();
            }
            Some(cancel) => {
                // Checked at every tick: cancelled, or past the (movable) deadline.
                let (cancel, deadline) = (cancel.clone(), Arc::clone(&deadline));
                store.set_epoch_deadline(1);
                store.epoch_deadline_callback(move |_| {
                    if cancel.is_cancelled() || deadline.at() <= Instant::now() {
                        Err(wasmtime::Error::from(Trap::Interrupt))
                    } else {
                        Ok(UpdateDeadline::Continue(1))
                    }
                });
            }
        }

        let call = self.call_entry(&mut store, request, entry);
        let never = CancellationToken::new();
        let raw = match until_deadline(&deadline, cancel.unwrap_or(&never), call).await {
            Some(raw) => raw,
            None => Err(wasmtime::Error::from(Trap::Interrupt)),
        };
        // Concurrent calls still under way when the run ended (its deadline,
        // cancellation, a trap) end with it, each with its record.
        store.data_mut().gate.end_calls_under_way().await;
        let result = if cancel.is_some_and(CancellationToken::is_cancelled) {
            Err(RunError::Cancelled)
        } else {
            self.classify(raw, &store, &output, &limits, &request.source)
        };
        if let Some(audit) = &request.gate.audit
            && let Err(e) = audit.flush_index()
        {
            // The JSONL log has every record; only the queryable index lags.
            let _ = output.note(&format!(
                "[gate] the audit index could not be updated: {e:#}"
            ));
        }
        RunOutcome {
            result,
            console: output.console(),
            calls: store.into_data().gate.into_calls(),
            elapsed: started.elapsed(),
        }
    }

    async fn call_entry(
        &self,
        store: &mut Store<RunState>,
        request: &RunRequest,
        entry: Entry<'_>,
    ) -> wasmtime::Result<Result<String, GuestFailure>> {
        let instance = self.pre.instantiate_async(&mut *store).await?;
        let args = request.args_json.as_str();
        match entry {
            Entry::Source => {
                let run = instance
                    .get_typed_func::<(&str, &str), (Result<String, GuestFailure>,)>(
                        &mut *store,
                        &self.run_export,
                    )?;
                let (result,) = run
                    .call_async(&mut *store, (request.source.as_str(), args))
                    .await?;
                Ok(result)
            }
            Entry::Bytecode(bytecode) => {
                let run = instance
                    .get_typed_func::<(&[u8], &str), (Result<String, GuestFailure>,)>(
                        &mut *store,
                        &self.run_compiled_export,
                    )?;
                let (result,) = run.call_async(&mut *store, (bytecode, args)).await?;
                Ok(result)
            }
            // The bytes travel back hex-encoded in the run's result slot.
            Entry::Compile => {
                let compile = instance
                    .get_typed_func::<(&str,), (Result<Vec<u8>, GuestFailure>,)>(
                        &mut *store,
                        &self.compile_export,
                    )?;
                let (result,) = compile
                    .call_async(&mut *store, (request.source.as_str(),))
                    .await?;
                Ok(result.map(hex::encode))
            }
            Entry::CheckSyntax { module } => {
                let check = instance.get_typed_func::<(&str, bool), (Result<(), GuestFailure>,)>(
                    &mut *store,
                    &self.check_syntax_export,
                )?;
                let (result,) = check
                    .call_async(&mut *store, (request.source.as_str(), module))
                    .await?;
                Ok(result.map(|()| String::new()))
            }
        }
    }

    fn classify(
        &self,
        raw: wasmtime::Result<Result<String, GuestFailure>>,
        store: &Store<RunState>,
        output: &OutputCapture,
        limits: &RunLimits,
        source: &str,
    ) -> Result<String, RunError> {
        let memory_hit = store.data().limiter.was_hit();
        match raw {
            Ok(Ok(json)) if json.len() > limits.max_result => Err(RunError::ResultTooLarge {
                size: json.len(),
                limit: limits.max_result,
            }),
            Ok(Ok(json)) => Ok(json),
            Ok(Err(failure)) if memory_hit && is_out_of_memory(&failure) => {
                Err(RunError::OutOfMemory(limits.memory))
            }
            // QuickJS's own stack limit, in its own words (a script's `new
            // Error('stack overflow')` is an ordinary script error).
            Ok(Err(failure))
                if failure.kind == "exception"
                    && failure.message == "InternalError: stack overflow" =>
            {
                Err(RunError::StackOverflow)
            }
            Ok(Err(failure)) => Err(RunError::Script(Box::new(script_failure(
                failure,
                store.data().gate.calls(),
                limits.max_output,
                source,
            )))),
            Err(error) => Err(match error.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => RunError::Timeout(limits.timeout),
                Some(Trap::StackOverflow) => RunError::StackOverflow,
                _ if output.is_truncated()
                    || error.downcast_ref::<OutputLimitReached>().is_some() =>
                {
                    RunError::OutputLimit(limits.max_output)
                }
                _ if memory_hit => RunError::OutOfMemory(limits.memory),
                Some(trap) => RunError::Trap(trap.to_string()),
                None => {
                    // A host error can quote what the script sent; bounded like its output.
                    let mut text = format!("{error:#}");
                    output::bound_text(&mut text, limits.max_output);
                    RunError::Trap(text)
                }
            }),
        }
    }
}

/// The guest's report of an uncaught error, made fit to show: every text in it is
/// cut to the run's `max-output` (message first, the stack gets what is left),
/// and a claim to be a denial stands only if the gate really refused a call
/// under that rule in this run. A script can throw `new ToolError('denied', …)`
/// or any object with `code: 'denied'` and a `rule`; the host's own record of
/// its decisions, not the script's word, says whether a call was denied. The
/// position becomes a character column in `source` (none if it is not in the
/// script's text), with the script's own frames and the source excerpt.
fn script_failure(
    mut failure: GuestFailure,
    calls: &[CallRecord],
    max_output: usize,
    source: &str,
) -> ScriptFailure {
    if failure.tool_code.as_deref() == Some("denied") {
        let refused = |call: &CallRecord| {
            matches!(
                call.verdict,
                gate::audit::Verdict::Deny | gate::audit::Verdict::Rejected
            ) && Some(&call.rule) == failure.rule.as_ref()
        };
        if !calls.iter().any(refused) {
            failure.tool_code = None;
        }
    }
    if failure.tool_code.as_deref() != Some("denied") {
        // Only the gate names rules; anything else calling itself one is the script's.
        failure.rule = None;
    }
    output::bound_text(&mut failure.message, max_output);
    let left = max_output.saturating_sub(failure.message.len());
    if let Some(stack) = &mut failure.stack {
        output::bound_text(stack, left);
    }
    for text in [&mut failure.tool_code, &mut failure.rule]
        .into_iter()
        .flatten()
    {
        output::bound_text(text, max_output);
    }
    let mut position = match (failure.line, failure.column) {
        (Some(line), Some(column)) => report::script_position(source, line, column),
        _ => None,
    };
    if position.is_none() && failure.kind == "syntax" && failure.line.is_some() {
        // The parser met the error in the sandbox's wrapper, after the script.
        position = Some(report::end_of_script(source));
        failure.message.push_str(
            " (after the end of the script: is a brace, bracket or parenthesis left open?)",
        );
    }
    let frames = match (&failure.stack, failure.kind.as_str()) {
        // A syntax error's "stack" is the parser's position, already reported.
        (_, "syntax") | (None, _) => Vec::new(),
        (Some(stack), _) => report::short_stack(stack, source),
    };
    ScriptFailure {
        kind: failure.kind,
        message: failure.message,
        line: position.map(|(line, _)| line),
        column: position.map(|(_, column)| column),
        stack: failure.stack,
        tool_code: failure.tool_code,
        rule: failure.rule,
        frames,
        excerpt: position.and_then(|(line, column)| report::excerpt(source, line, column)),
    }
}

fn is_out_of_memory(failure: &GuestFailure) -> bool {
    // QuickJS that cannot allocate even the exception object throws `null`; a
    // promise job that runs out of memory dies silently, and its promise then
    // never settles (the caller checks that the limit was hit).
    failure.message.contains("out of memory")
        || failure.message == "uncaught null"
        || failure
            .message
            .starts_with("the script's promise never settled")
}

/// Drives `future` until it finishes or the (movable) deadline passes. The epoch
/// deadline stops wasm code; this stops a run stuck inside a host call.
pub(crate) async fn until_deadline<F: Future>(
    deadline: &Deadline,
    cancel: &CancellationToken,
    future: F,
) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    loop {
        let at = deadline.at() + WALL_CLOCK_GRACE;
        tokio::select! {
            output = &mut future => return Some(output),
            () = cancel.cancelled() => return None,
            () = tokio::time::sleep_until(at.into()) => {
                if deadline.at() + WALL_CLOCK_GRACE <= Instant::now() {
                    return None;
                }
            }
        }
    }
}

/// Epoch ticks for `timeout`, rounded up (at least one).
pub(crate) fn deadline_ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}
