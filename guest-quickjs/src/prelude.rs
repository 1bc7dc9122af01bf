//! Installs the JS prelude (`prelude.js`): the frozen host globals, `console`
//! and `ToolError`.

use std::io::Write;

use javy::quickjs::{Ctx, Function, context::EvalOptions};

const PRELUDE: &str = include_str!("prelude.js");

pub fn install(ctx: &Ctx<'_>) -> javy::quickjs::Result<()> {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = true;
    options.filename = Some("prelude.js".into());
    let setup: Function = ctx.eval_with_options(PRELUDE, options)?;
    let write = Function::new(ctx.clone(), write_stream)?;
    setup.call::<_, ()>((crate::api::native_table(ctx)?, write))
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
