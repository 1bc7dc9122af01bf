//! Syntax checks: text parsed and compiled by QuickJS but never run, as a whole
//! ECMAScript Script or Module (not wrapped the way `script::run` wraps a
//! script). QuickJS's own parser decides, so the answer is the one a run would
//! get; the host never parses JavaScript itself.

use std::ffi::CString;

use javy::quickjs::{Ctx, Value, qjs};

use crate::ScriptError;
use crate::script::{Layout, pending_exception};

/// The file name a checked text has in error positions.
pub(crate) const CHECKED_NAME: &str = "input.js";

/// Compiles `text` with QuickJS's `JS_Eval` flags `flags` (which must include
/// `JS_EVAL_FLAG_COMPILE_ONLY`): the compiled value, or the syntax error with
/// its line and column.
pub(crate) fn compile_only<'js>(
    ctx: &Ctx<'js>,
    text: &str,
    filename: &str,
    flags: u32,
    layout: Layout,
) -> Result<Value<'js>, ScriptError> {
    compile_raw(ctx, text, filename, flags, layout).map_err(|mut error| {
        locate(ctx, text, filename, flags, layout, &mut error);
        error
    })
}

/// Recovers a syntax error's column. QuickJS-ng 0.15.1 puts most syntax errors
/// on the right line but at column 1 (its parser reports a stale column; 0.16
/// fixes it), so the parser itself is asked: the shortest prefix of the error's
/// line that fails with the same message on the same line ends on the
/// offending token (its last character when the message quotes the token, its
/// first otherwise). Found by bisection and checked; only a failed parse pays,
/// one parse per halving.
fn locate(ctx: &Ctx<'_>, text: &str, filename: &str, flags: u32, layout: Layout, error: &mut ScriptError) {
    let Some(line) = error.line else { return };
    let Some(start) = line_start(text, line) else { return };
    let length = text[start..].find('\n').unwrap_or(text.len() - start);
    let fails_alike = |bytes: usize| {
        let mut end = start + bytes;
        while !text.is_char_boundary(end) {
            end += 1;
        }
        match compile_raw(ctx, &text[..end], filename, flags, layout) {
            Err(prefix) => prefix.message == error.message && prefix.line == error.line,
            Ok(_) => false,
        }
    };
    if length == 0 || !fails_alike(length) {
        return;
    }
    let (mut low, mut high) = (1, length);
    while low < high {
        let middle = low + (high - low) / 2;
        if fails_alike(middle) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    if !fails_alike(low) {
        return;
    }
    // `low` bytes of the line: the offending character is the last of them.
    // When the message quotes the token (`Unexpected token 'return'`) and the
    // line has it there, the column moves back to the token's start.
    let mut end = start + low;
    while !text.is_char_boundary(end) {
        end += 1;
    }
    let token_start = quoted_token(&error.message)
        .filter(|token| text[start..end].ends_with(token))
        .map_or(low, |token| end - start + 1 - token.len());
    let column = u32::try_from(token_start).unwrap_or(u32::MAX);
    error.column = Some(match (layout, line) {
        (Layout::Wrapped, 1) => crate::script::script_column(1, column - 1),
        _ => column,
    });
}

/// The token a QuickJS message quotes at its end: `… token 'return'` → `return`.
fn quoted_token(message: &str) -> Option<&str> {
    let inner = message.strip_suffix('\'')?;
    let open = inner.rfind('\'')?;
    Some(&inner[open + 1..]).filter(|token| !token.is_empty())
}

/// The byte offset where 1-based line `line` of `text` starts.
fn line_start(text: &str, line: u32) -> Option<usize> {
    if line == 1 {
        return Some(0);
    }
    let mut seen = 1;
    for (at, byte) in text.bytes().enumerate() {
        if byte == b'\n' {
            seen += 1;
            if seen == line {
                return Some(at + 1);
            }
        }
    }
    None
}

fn compile_raw<'js>(
    ctx: &Ctx<'js>,
    text: &str,
    filename: &str,
    flags: u32,
    layout: Layout,
) -> Result<Value<'js>, ScriptError> {
    debug_assert!(flags & qjs::JS_EVAL_FLAG_COMPILE_ONLY != 0);
    // NUL-terminated, as JS_Eval requires; a NUL inside (in a string or a
    // comment) is the source's own, since QuickJS reads up to the length.
    let mut input = Vec::with_capacity(text.len() + 1);
    input.extend_from_slice(text.as_bytes());
    input.push(0);
    let filename = CString::new(filename).expect("file names have no NUL");
    // SAFETY: `input` is NUL-terminated and `len` excludes the NUL; the returned
    // value is owned by `compiled` and freed on drop (a module's definition stays
    // listed in the context until the instance ends).
    let compiled = unsafe {
        let raw = qjs::JS_Eval(
            ctx.as_raw().as_ptr(),
            input.as_ptr().cast(),
            text.len() as _,
            filename.as_ptr(),
            flags as i32,
        );
        Value::from_raw(ctx.clone(), raw)
    };
    if compiled.is_exception() {
        return Err(pending_exception(ctx, "syntax", layout));
    }
    Ok(compiled)
}

/// Checks `source` as a Script, or with `module` as a Module.
pub fn check(ctx: &Ctx<'_>, source: &str, module: bool) -> Result<(), ScriptError> {
    let goal = if module { qjs::JS_EVAL_TYPE_MODULE } else { qjs::JS_EVAL_TYPE_GLOBAL };
    match compile_only(ctx, source, CHECKED_NAME, goal | qjs::JS_EVAL_FLAG_COMPILE_ONLY, Layout::Plain) {
        Ok(_) => Ok(()),
        // A module is parsed in full before its imports are resolved, and there
        // is no module loader inside the sandbox: failing to load one means the
        // text parsed.
        Err(error) if module && is_unloadable_import(&error) => Ok(()),
        Err(error) => Err(error),
    }
}

fn is_unloadable_import(error: &ScriptError) -> bool {
    error.message.starts_with("ReferenceError: could not load module")
}
