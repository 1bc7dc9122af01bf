//! Runs one script: wraps it as the body of an async function, drives its promise
//! to completion and turns the value (or the error) into what the `run` export returns.

use std::cell::OnceCell;

use javy::quickjs::{CatchResultExt, CaughtError, Ctx, Function, Object, Promise, Value, qjs};
use javy::{Config, Runtime};

use crate::ScriptError;

/// The script's file name in stack traces and error positions.
pub(crate) const SCRIPT_NAME: &str = "script.js";

/// QuickJS's own stack limit. Deep recursion becomes a catchable `RangeError` well
/// before the wasm stack (1 MiB) runs out.
const MAX_STACK_SIZE: usize = 512 * 1024;

/// Opening of the wrapper. It stays on the script's first line so that line numbers
/// in errors are the script's own; only columns on line 1 need correcting.
const WRAPPER_HEAD: &str = "(async function (args) {";

/// Closing of the wrapper: a script that only defines `run(args)` (ClamBot's
/// convention) has it called; a script that returns a value never reaches this.
const WRAPPER_TAIL: &str =
    "\n;if (typeof run === \"function\") { return await run(args); }\n})";

thread_local! {
    static RUNTIME: OnceCell<Runtime> = const { OnceCell::new() };
}

/// Creates the runtime and the prelude. Idempotent.
pub fn initialize() {
    RUNTIME.with(|cell| {
        cell.get_or_init(|| {
            let mut config = Config::default();
            config
                .max_stack_size(MAX_STACK_SIZE)
                .text_encoding(true)
                .weak_ref(true)
                .javy_stream_io(false);
            let runtime = Runtime::new(config).expect("the QuickJS runtime starts");
            runtime.context().with(|ctx| {
                crate::environment::install(&ctx).expect("the standard globals install");
                crate::prelude::install(&ctx).expect("the prelude installs");
            });
            runtime
        });
    });
}

/// The script as the body of the async wrapper function.
pub(crate) fn wrap(source: &str) -> String {
    format!("{WRAPPER_HEAD}{source}{WRAPPER_TAIL}")
}

fn with_context<T>(f: impl FnOnce(&Ctx<'_>) -> T) -> T {
    initialize();
    RUNTIME.with(|cell| {
        let runtime = cell.get().expect("initialised above");
        runtime.context().with(|ctx| f(&ctx))
    })
}

/// Runs `source` with `args_json` as `args` and returns the value as JSON text.
pub fn run(source: &str, args_json: &str) -> Result<String, ScriptError> {
    with_context(|ctx| {
        // Compiled exactly as `compile` compiles it for a saved clam.
        let flags = qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY;
        let compiled =
            crate::syntax::compile_only(ctx, &wrap(source), SCRIPT_NAME, flags, Layout::Wrapped)?;
        let function = crate::bytecode::evaluate(ctx, compiled)?
            .into_function()
            .ok_or_else(|| plain_error("syntax", "the wrapped script is not a function".into()))?;
        call(ctx, function, args_json)
    })
}

/// Checks that `source` parses as a whole Script (or Module): see `syntax`.
pub fn check_syntax(source: &str, module: bool) -> Result<(), ScriptError> {
    with_context(|ctx| crate::syntax::check(ctx, source, module))
}

/// Compiles `source` to bytecode for [`run_compiled`].
pub fn compile(source: &str) -> Result<Vec<u8>, ScriptError> {
    with_context(|ctx| crate::bytecode::compile(ctx, source))
}

/// Runs bytecode from [`compile`] with `args_json` as `args`.
pub fn run_compiled(bytecode: &[u8], args_json: &str) -> Result<String, ScriptError> {
    with_context(|ctx| {
        let function = crate::bytecode::load(ctx, bytecode)?;
        call(ctx, function, args_json)
    })
}

/// Calls the wrapper with the parsed arguments and drives its promise.
fn call<'js>(ctx: &Ctx<'js>, function: Function<'js>, args_json: &str) -> Result<String, ScriptError> {
    let args = ctx
        .json_parse(args_json)
        .catch(ctx)
        .map_err(|e| script_error(ctx, "args", e, Layout::Wrapped))?;

    let promise: Promise = function
        .call((args,))
        .catch(ctx)
        .map_err(|e| script_error(ctx, "exception", e, Layout::Wrapped))?;
    let value: Value = match drive(ctx, &promise).catch(ctx) {
        Ok(value) => value,
        Err(CaughtError::Error(javy::quickjs::Error::WouldBlock)) => {
            return Err(ScriptError {
                kind: "exception".into(),
                message: "the script's promise never settled (it awaits something that \
                          cannot happen inside the sandbox)"
                    .into(),
                line: None,
                column: None,
                stack: None,
                tool_code: None,
                rule: None,
            });
        }
        Err(e) => return Err(script_error(ctx, "exception", e, Layout::Wrapped)),
    };

    let json = ctx
        .json_stringify(value)
        .catch(ctx)
        .map_err(|e| script_error(ctx, "result", e, Layout::Wrapped))?;
    Ok(match json {
        Some(text) => text
            .to_string()
            .map_err(|e| plain_error("result", e.to_string()))?,
        None => "null".to_owned(),
    })
}

/// Runs the script's promise jobs and its host calls until nothing is left to
/// do, and returns the promise's outcome. Calls the script started and did not
/// await are finished too (as Node waits for pending I/O): nothing it asked for
/// is silently dropped.
fn drive<'js>(ctx: &Ctx<'js>, promise: &Promise<'js>) -> javy::quickjs::Result<Value<'js>> {
    loop {
        if ctx.execute_pending_job() {
            continue;
        }
        if crate::pending::has_queued() {
            crate::pending::flush(ctx)?;
            continue;
        }
        if crate::pending::wait_next(ctx)? {
            continue;
        }
        return match promise.result::<Value>() {
            Some(outcome) => outcome,
            None => Err(javy::quickjs::Error::WouldBlock),
        };
    }
}

pub(crate) fn plain_error(kind: &str, message: String) -> ScriptError {
    ScriptError {
        kind: kind.into(),
        message,
        line: None,
        column: None,
        stack: None,
        tool_code: None,
        rule: None,
    }
}

/// How the text QuickJS parsed relates to the script: wrapped as `run` wraps
/// it (positions on line 1 include the wrapper's head), or as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Wrapped,
    Plain,
}

/// The pending exception as a [`ScriptError`] of `kind`.
pub(crate) fn pending_exception(ctx: &Ctx<'_>, kind: &str, layout: Layout) -> ScriptError {
    let failed: javy::quickjs::Result<()> = Err(javy::quickjs::Error::Exception);
    match failed.catch(ctx) {
        Err(caught) => script_error(ctx, kind, caught, layout),
        Ok(()) => plain_error(kind, "QuickJS reported an error without an exception".into()),
    }
}

/// Describes a caught JS error: `Name: message`, position and stack.
pub(crate) fn script_error<'js>(
    ctx: &Ctx<'js>,
    kind: &str,
    caught: CaughtError<'js>,
    layout: Layout,
) -> ScriptError {
    match caught {
        CaughtError::Exception(exception) => {
            let object = exception.as_object();
            let name: Option<String> = object.get("name").ok();
            let message = exception.message().unwrap_or_default();
            let stack = exception.stack().filter(|s| !s.is_empty());
            let (line, column) = error_position(stack.as_deref(), layout);
            let mut text = match name {
                Some(name) if !name.is_empty() => format!("{name}: {message}"),
                _ => message,
            };
            let (tool_code, rule) = if is_tool_error(object) {
                (
                    object.get::<_, Option<String>>("code").ok().flatten(),
                    object.get::<_, Option<String>>("rule").ok().flatten(),
                )
            } else {
                (None, None)
            };
            if let Some(code) = &tool_code {
                text = format!("{text} [{code}]");
            }
            ScriptError {
                kind: kind.into(),
                message: text,
                line,
                column,
                stack: stack.map(|s| match layout {
                    Layout::Wrapped => fix_stack_columns(&s),
                    Layout::Plain => s,
                }),
                tool_code,
                rule,
            }
        }
        CaughtError::Value(value) => {
            let shown = ctx
                .json_stringify(value)
                .ok()
                .flatten()
                .and_then(|s| s.to_string().ok())
                .unwrap_or_else(|| "a value that is not an Error".into());
            plain_error(kind, format!("uncaught {shown}"))
        }
        CaughtError::Error(error) => plain_error(kind, error.to_string()),
    }
}

fn is_tool_error(object: &Object<'_>) -> bool {
    object
        .get::<_, Option<String>>("name")
        .ok()
        .flatten()
        .is_some_and(|n| n == "ToolError")
}

/// The position of an error in the script: the first frame of its stack in the
/// script's file. A syntax error's stack starts with the parser's position
/// (`at script.js:4:1`); any other's with the innermost call (`at f
/// (script.js:3:17)`), whose column is the failing expression's.
fn error_position(stack: Option<&str>, layout: Layout) -> (Option<u32>, Option<u32>) {
    let Some(stack) = stack else {
        return (None, None);
    };
    let name = match layout {
        Layout::Wrapped => SCRIPT_NAME,
        Layout::Plain => crate::syntax::CHECKED_NAME,
    };
    let marker = format!("{name}:");
    for frame in stack.lines() {
        if let Some(at) = frame.find(&marker) {
            let rest = &frame[at + marker.len()..];
            let mut parts = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|p| !p.is_empty());
            let line = parts.next().and_then(|p| p.parse().ok());
            let column = parts.next().and_then(|p| p.parse().ok());
            if let (Some(line), Some(column)) = (line, column) {
                let column = match layout {
                    Layout::Wrapped => script_column(line, column),
                    Layout::Plain => column,
                };
                return (Some(line), Some(column));
            }
        }
    }
    (None, None)
}

/// Columns on the first line include the wrapper's opening, and QuickJS counts
/// them from 0 there (from 1 on later lines).
pub(crate) fn script_column(line: u32, column: u32) -> u32 {
    let head = WRAPPER_HEAD.len() as u32;
    if line == 1 {
        (column + 1).saturating_sub(head).max(1)
    } else {
        column
    }
}

/// Rewrites `script.js:1:N` frames so their columns are the script's own.
fn fix_stack_columns(stack: &str) -> String {
    let marker = format!("{SCRIPT_NAME}:1:");
    let mut out = String::with_capacity(stack.len());
    let mut rest = stack;
    while let Some(at) = rest.find(&marker) {
        let after = at + marker.len();
        out.push_str(&rest[..after]);
        let digits = rest[after..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len() - after);
        match rest[after..after + digits].parse::<u32>() {
            Ok(column) => out.push_str(&script_column(1, column).to_string()),
            Err(_) => out.push_str(&rest[after..after + digits]),
        }
        rest = &rest[after + digits..];
    }
    out.push_str(rest);
    out
}
