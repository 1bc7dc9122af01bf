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

use std::ffi::CString;

use javy::quickjs::{CatchResultExt, Ctx, Function, Value, qjs};

use crate::ScriptError;
use crate::script::{SCRIPT_NAME, plain_error, script_error, wrap};

/// The pending exception as a [`ScriptError`] of `kind`.
fn pending_exception(ctx: &Ctx<'_>, kind: &str) -> ScriptError {
    let failed: javy::quickjs::Result<()> = Err(javy::quickjs::Error::Exception);
    match failed.catch(ctx) {
        Err(caught) => script_error(ctx, kind, caught),
        Ok(()) => plain_error(kind, "QuickJS reported an error without an exception".into()),
    }
}

/// Compiles `source` (wrapped like `run` wraps it) to bytecode.
pub fn compile(ctx: &Ctx<'_>, source: &str) -> Result<Vec<u8>, ScriptError> {
    let wrapped = wrap(source);
    let input = CString::new(wrapped.as_str())
        .map_err(|_| plain_error("syntax", "the script contains a NUL character".into()))?;
    let filename = CString::new(SCRIPT_NAME).expect("the script name has no NUL");
    let raw_ctx = ctx.as_raw().as_ptr();
    let flags = (qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY) as i32;
    // SAFETY: `input` is NUL-terminated and `len` excludes the NUL, as JS_Eval
    // requires; the returned value is owned by `compiled` and freed on drop.
    let compiled = unsafe {
        let raw = qjs::JS_Eval(raw_ctx, input.as_ptr(), wrapped.len() as _, filename.as_ptr(), flags);
        Value::from_raw(ctx.clone(), raw)
    };
    if compiled.is_exception() {
        return Err(pending_exception(ctx, "syntax"));
    }
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
            return Err(pending_exception(ctx, "syntax"));
        }
        let bytes = std::slice::from_raw_parts(buffer, size as usize).to_vec();
        qjs::js_free(raw_ctx, buffer.cast());
        Ok(bytes)
    }
}

/// Loads bytecode written by [`compile`] and evaluates it to the script's
/// wrapper function.
pub fn load<'js>(ctx: &Ctx<'js>, bytes: &[u8]) -> Result<Function<'js>, ScriptError> {
    let raw_ctx = ctx.as_raw().as_ptr();
    // SAFETY: QuickJS reads `bytes` within its length. JS_EvalFunction takes
    // ownership of the object it is given; its result is owned by `value`.
    let value = unsafe {
        let object = qjs::JS_ReadObject(
            raw_ctx,
            bytes.as_ptr(),
            bytes.len() as _,
            qjs::JS_READ_OBJ_BYTECODE as i32,
        );
        if qjs::JS_IsException(object) {
            return Err(pending_exception(ctx, "syntax"));
        }
        Value::from_raw(ctx.clone(), qjs::JS_EvalFunction(raw_ctx, object))
    };
    if value.is_exception() {
        return Err(pending_exception(ctx, "syntax"));
    }
    value
        .into_function()
        .ok_or_else(|| plain_error("syntax", "the bytecode is not a compiled clam".into()))
}
