//! The standard globals Javy's runtime leaves out or changes, put back so a
//! script sees what a standard engine offers (docs/js-api.md lists what still
//! differs, and why):
//!
//! - `atob`, `btoa` and `DOMException` (WHATWG: a bad input throws a
//!   `DOMException` named `InvalidCharacterError`), from QuickJS-ng itself;
//! - `Math.random`'s `name` and `length`: Javy replaces QuickJS's function with
//!   its own (seeded at first use, so the build's snapshot does not fix the
//!   sequence), which has neither;
//! - `TextEncoder` and `TextDecoder` as non-enumerable globals, like every
//!   built-in (Javy assigns them).
//!
//! `WeakRef` and `FinalizationRegistry` are switched on in the runtime's
//! configuration (`script::initialize`).

use javy::quickjs::{Ctx, Function, Object, qjs};

pub fn install(ctx: &Ctx<'_>) -> javy::quickjs::Result<()> {
    // SAFETY: the context is live and locked (we are inside `Context::with`);
    // the call only defines properties on its global object.
    if unsafe { qjs::JS_AddIntrinsicAToB(ctx.as_raw().as_ptr()) } != 0 {
        return Err(javy::quickjs::Error::Exception);
    }
    let math: Object = ctx.globals().get("Math")?;
    let random: Function = math.get("random")?;
    random.set_name("random")?;
    random.set_length(0)?;
    ctx.eval::<(), _>(
        "for (const name of ['TextEncoder', 'TextDecoder'])
           Object.defineProperty(globalThis, name, { enumerable: false });",
    )
}
