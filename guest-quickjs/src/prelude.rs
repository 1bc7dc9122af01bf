//! Installs the JS prelude (`prelude.js`): the host globals, `console` and
//! `ToolError`, and keeps the prelude's own ToolError class, with which host
//! errors are thrown whatever a script does to the global of that name.

use std::cell::OnceCell;
use std::io::Write;

use javy::quickjs::{Constructor, Ctx, Function, Persistent, context::EvalOptions};

const PRELUDE: &str = include_str!("prelude.js");

thread_local! {
    static TOOL_ERROR: OnceCell<Persistent<Constructor<'static>>> = const { OnceCell::new() };
}

pub fn install(ctx: &Ctx<'_>) -> javy::quickjs::Result<()> {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = true;
    options.filename = Some(PRELUDE_NAME.into());
    let setup: Function = ctx.eval_with_options(PRELUDE, options)?;
    let write = Function::new(ctx.clone(), write_stream)?;
    let blocking = crate::api::native_table(ctx, true)?;
    let queued = crate::api::native_table(ctx, false)?;
    let tool_error: Constructor = setup.call((blocking, queued, write))?;
    TOOL_ERROR.with(|cell| {
        let _ = cell.set(Persistent::save(ctx, tool_error));
    });
    Ok(())
}

/// The prelude's file name in stack traces.
pub(crate) const PRELUDE_NAME: &str = "prelude.js";

/// The prelude's ToolError class (not the global, which a script may replace).
pub fn tool_error<'js>(ctx: &Ctx<'js>) -> javy::quickjs::Result<Constructor<'js>> {
    TOOL_ERROR.with(|cell| match cell.get() {
        Some(class) => class.clone().restore(ctx),
        None => Err(javy::quickjs::Error::Unknown),
    })
}

/// Writes console output to the WASI stream the host captures (1 = stdout,
/// 2 = stderr). A write the host refuses (its buffer is bounded) is dropped: the
/// host records the truncation, and the script carries on.
fn write_stream(stream: u32, text: String) {
    let _ = match stream {
        2 => std::io::stderr().write_all(text.as_bytes()),
        _ => std::io::stdout().write_all(text.as_bytes()),
    };
}
