//! The bridge between the component's typed exports and the tool's JavaScript.
//!
//! Javy compiles JavaScript into a module with no typed exports, so a JS tool is
//! this small Rust crate around Javy's QuickJS runtime: the build pre-initialises
//! it (`wizer-initialize` below evaluates the tool's source once, and that memory
//! becomes the component's starting state), and each WIT export in `lib.rs`
//! passes its arguments to the JS function of the same (camelCase) name as JSON
//! and reads the JSON it returns. The file is the same in every JS tool.

use std::cell::OnceCell;

use javy::quickjs::{CatchResultExt, CaughtError, Ctx, Function, context::EvalOptions};
use javy::{Config, Runtime};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The tool's JavaScript, compiled into the component.
const SOURCE: &str = include_str!("../tool.js");

/// Calls `globalThis[name](...args)` and returns the result as JSON text
/// (`undefined` becomes `null`).
const DISPATCH: &str = "(name, argsJson) => { \
    const f = globalThis[name]; \
    if (typeof f !== 'function') throw new Error(`the tool's JavaScript defines no function ${name}`); \
    const value = f(...JSON.parse(argsJson)); \
    return value === undefined ? 'null' : JSON.stringify(value); }";

thread_local! {
    static RUNTIME: OnceCell<Runtime> = const { OnceCell::new() };
}

fn runtime<T>(f: impl FnOnce(&Ctx<'_>) -> T) -> T {
    RUNTIME.with(|cell| {
        let runtime = cell.get_or_init(|| {
            let mut config = Config::default();
            config.text_encoding(true).javy_stream_io(false);
            let runtime = Runtime::new(config).expect("the QuickJS runtime starts");
            runtime.context().with(|ctx| {
                let mut options = EvalOptions::default();
                options.global = true;
                options.strict = true;
                options.filename = Some("tool.js".to_owned());
                let evaluated: Result<(), _> = ctx.eval_with_options(SOURCE, options).catch(&ctx);
                if let Err(e) = evaluated {
                    panic!("the tool's JavaScript does not load: {}", describe(e));
                }
                let dispatch: Function = ctx.eval(DISPATCH).expect("the dispatcher compiles");
                ctx.globals()
                    .set("__clambotDispatch", dispatch)
                    .expect("the dispatcher installs");
            });
            runtime
        });
        runtime.context().with(|ctx| f(&ctx))
    })
}

/// Calls the JS function `name` with `args` (a tuple, passed as the function's
/// arguments). A thrown error becomes `Err` with its message.
pub fn call<A: Serialize, R: DeserializeOwned>(name: &str, args: A) -> Result<R, String> {
    let args = serde_json::to_string(&args).map_err(|e| e.to_string())?;
    let json: String = runtime(|ctx| {
        let dispatch: Function = ctx
            .globals()
            .get("__clambotDispatch")
            .map_err(|e| e.to_string())?;
        dispatch
            .call::<_, String>((name, args))
            .catch(ctx)
            .map_err(describe)
    })?;
    serde_json::from_str(&json)
        .map_err(|e| format!("{name} returned a value that does not fit its WIT type: {e}"))
}

/// Calls a JS function whose WIT result has no error case: a thrown error or a
/// value of the wrong shape traps, and the host reports the trap.
pub fn call_infallible<A: Serialize, R: DeserializeOwned>(name: &str, args: A) -> R {
    call(name, args).unwrap_or_else(|message| panic!("{message}"))
}

fn describe(error: CaughtError<'_>) -> String {
    match error {
        CaughtError::Exception(e) => e.message().unwrap_or_else(|| "an exception".to_owned()),
        CaughtError::Value(v) => v
            .as_string()
            .and_then(|s| s.to_string().ok())
            .unwrap_or_else(|| "a thrown value".to_owned()),
        CaughtError::Error(e) => e.to_string(),
    }
}

/// Evaluates the tool's source once, at build time (the pre-initialisation step).
#[unsafe(export_name = "wizer-initialize")]
pub extern "C" fn initialize() {
    runtime(|_| ());
}
