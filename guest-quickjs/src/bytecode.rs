//! Bytecode for saved clams: a script is compiled once (the wrapped function,
//! exactly as `run` would compile it, debug positions included) and later runs
//! start from the bytecode, skipping QuickJS's parser and compiler.
//!
//! rquickjs only offers bytecode for modules, whose strict-mode semantics would
//! make a saved clam behave differently from its first run, so this uses
//! QuickJS's C API for global code directly. Reading bytecode is not hardened
//! against malicious input in QuickJS; the host only loads bytecode this guest
//! wrote, from its own cache, keyed by the guest's and the script's hashes.
//! Even so, whatever a bytecode file could do stays inside this instance, and
//! every effect still passes the gate.

use javy::quickjs::{Ctx, Function, Value, qjs};

use crate::ScriptError;
use crate::script::{Layout, SCRIPT_NAME, pending_exception, plain_error, wrap};
use crate::syntax::compile_only;

/// Compiles `source` (wrapped like `run` wraps it) to bytecode.
pub fn compile(ctx: &Ctx<'_>, source: &str) -> Result<Vec<u8>, ScriptError> {
    let flags = qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY;
    let compiled = compile_only(ctx, &wrap(source), SCRIPT_NAME, flags, Layout::Wrapped)?;
    let raw_ctx = ctx.as_raw().as_ptr();
    let mut size: qjs::size_t = 0;
    // SAFETY: `compiled` is a live function-bytecode value of this context; the
    // buffer QuickJS returns is copied, then freed with the context's allocator.
    unsafe {
        let buffer = qjs::JS_WriteObject(
            raw_ctx,
            &mut size,
            compiled.as_raw(),
            qjs::JS_WRITE_OBJ_BYTECODE as i32,
        );
        if buffer.is_null() {
            return Err(pending_exception(ctx, "syntax", Layout::Wrapped));
        }
        let bytes = std::slice::from_raw_parts(buffer, size as usize).to_vec();
        qjs::js_free(raw_ctx, buffer.cast());
        Ok(bytes)
    }
}

/// Loads bytecode written by [`compile`] and evaluates it to the script's
/// wrapper function.
pub fn load<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> Result<Function<'js>, ScriptError> {
    // SAFETY: QuickJS reads `bytes` within its length; the object it returns is
    // owned by `object`.
    let object = unsafe {
        let raw = qjs::JS_ReadObject(
            ctx.as_raw().as_ptr(),
            bytes.as_ptr(),
            bytes.len() as _,
            qjs::JS_READ_OBJ_BYTECODE as i32,
        );
        Value::from_raw(ctx.clone(), raw)
    };
    if object.is_exception() {
        return Err(pending_exception(ctx, "syntax", Layout::Wrapped));
    }
    evaluate(ctx, object)
        .and_then(|value| {
            value
                .into_function()
                .ok_or_else(|| plain_error("syntax", "the bytecode is not a compiled clam".into()))
        })
}

/// Evaluates compiled global code (from `compile_only` or read bytecode) to
/// its value: for a wrapped script, the wrapper function.
pub(crate) fn evaluate<'js>(ctx: &Ctx<'js>, compiled: Value<'js>) -> Result<Value<'js>, ScriptError> {
    // SAFETY: JS_EvalFunction takes ownership of the value it is given, so it
    // gets its own reference; its result is owned by `value`.
    let value = unsafe {
        let raw_ctx = ctx.as_raw().as_ptr();
        let owned = qjs::JS_DupValue(raw_ctx, compiled.as_raw());
        Value::from_raw(ctx.clone(), qjs::JS_EvalFunction(raw_ctx, owned))
    };
    if value.is_exception() {
        return Err(pending_exception(ctx, "exception", Layout::Wrapped));
    }
    Ok(value)
}
