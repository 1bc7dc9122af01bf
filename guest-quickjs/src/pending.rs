//! Concurrent host calls, guest side (the protocol is `wit/calls.wit`; why it is
//! this one, `docs/concurrency.md`).
//!
//! An async host function (`http.fetch`, `tools.x.y`, …) checks its arguments,
//! queues the call and returns a pending promise. The queue is flushed when the
//! script has no promise jobs left to run (it waits at an `await`) and before any
//! `…Sync` call, so calls start in the order the script made them:
//!
//! - one queued call and none under way (a plain `await http.fetch(…)`): made at
//!   once through its typed import, exactly as a `…Sync` call is;
//! - otherwise each is started with `calls.start` (the gate judges it then) and
//!   proceeds on the host, and the job loop waits with `calls.next` for whichever
//!   finishes first.

use std::cell::RefCell;
use std::collections::BTreeMap;

use javy::quickjs::{Ctx, Exception, Function, Object, Persistent, Promise, Value};

use crate::clambot::host::{calls, types};

/// One host call made through an async host function.
pub trait HostCall {
    /// `interface.function`, WIT spelling.
    fn function(&self) -> &'static str;
    /// The arguments as a JSON object in the gate's view, for `calls.start`.
    fn args_view(&self) -> String;
    /// Makes the call through its typed import; its value, or a thrown error.
    fn now<'js>(self: Box<Self>, ctx: &Ctx<'js>) -> javy::quickjs::Result<Value<'js>>;
    /// The value of a call made with `calls.start`, from its completion.
    fn finish<'js>(
        self: Box<Self>,
        ctx: &Ctx<'js>,
        result: Result<String, types::Error>,
    ) -> javy::quickjs::Result<Value<'js>>;
}

/// A host function's call: its typed arguments and the typed import to make it with.
pub struct Deferred<A, R> {
    pub function: &'static str,
    pub args: A,
    pub now: fn(A) -> Result<R, types::Error>,
    pub view: fn(&A, &mut String),
}

impl<A, R: crate::wire::Wire> HostCall for Deferred<A, R> {
    fn function(&self) -> &'static str {
        self.function
    }

    fn args_view(&self) -> String {
        let mut out = String::new();
        (self.view)(&self.args, &mut out);
        out
    }

    fn now<'js>(self: Box<Self>, ctx: &Ctx<'js>) -> javy::quickjs::Result<Value<'js>> {
        crate::api::finish(ctx, (self.now)(self.args))
    }

    fn finish<'js>(
        self: Box<Self>,
        ctx: &Ctx<'js>,
        result: Result<String, types::Error>,
    ) -> javy::quickjs::Result<Value<'js>> {
        let value = result.and_then(|json| {
            // The host sends JavaScript's spelling; the typed round trip gives the
            // very values the import would (a `Uint8Array` for `list<u8>`, …).
            let parsed = ctx
                .json_parse(json)
                .map_err(|e| types::Error::Failed(format!("the host's result is not JSON: {e}")))?;
            R::from_js(ctx, parsed).map_err(|e| {
                types::Error::Failed(format!(
                    "the host's result does not fit {}: {}",
                    self.function,
                    e.describe()
                ))
            })
        });
        crate::api::finish(ctx, value)
    }
}

/// A call and the promise it settles.
struct Waiting {
    call: Box<dyn HostCall>,
    resolve: Persistent<Function<'static>>,
    reject: Persistent<Function<'static>>,
    /// An error made where the script called: its stack becomes the stack of
    /// the call's error, which is thrown later from the job loop, so an
    /// uncaught failure still points at the script's line.
    site: Persistent<Object<'static>>,
}

#[derive(Default)]
struct Calls {
    /// Made by the script, not started yet, in the order it made them.
    queued: Vec<Waiting>,
    /// Started with `calls.start`, by handle.
    started: BTreeMap<u64, Waiting>,
}

thread_local! {
    static CALLS: RefCell<Calls> = RefCell::default();
}

/// Queues `call` and returns the promise its outcome settles.
pub fn queue<'js>(ctx: &Ctx<'js>, call: Box<dyn HostCall>) -> javy::quickjs::Result<Value<'js>> {
    let (promise, resolve, reject) = Promise::new(ctx)?;
    let site = Exception::from_message(ctx.clone(), "")?;
    let waiting = Waiting {
        call,
        resolve: Persistent::save(ctx, resolve),
        reject: Persistent::save(ctx, reject),
        site: Persistent::save(ctx, site.into_object()),
    };
    CALLS.with(|calls| calls.borrow_mut().queued.push(waiting));
    Ok(promise.into_value())
}

/// Whether calls are waiting to be started.
pub fn has_queued() -> bool {
    CALLS.with(|calls| !calls.borrow().queued.is_empty())
}

/// Starts the queued calls (see the module comment for how).
pub fn flush(ctx: &Ctx<'_>) -> javy::quickjs::Result<()> {
    let (queued, idle) = CALLS.with(|calls| {
        let mut calls = calls.borrow_mut();
        (std::mem::take(&mut calls.queued), calls.started.is_empty())
    });
    if idle && queued.len() == 1 {
        for waiting in queued {
            let outcome = waiting.call.now(ctx);
            settle(ctx, waiting.resolve, waiting.reject, &waiting.site, outcome)?;
        }
        return Ok(());
    }
    for waiting in queued {
        let args = waiting.call.args_view();
        match calls::start(waiting.call.function(), &args) {
            Ok(handle) => CALLS.with(|calls| {
                calls.borrow_mut().started.insert(handle, waiting);
            }),
            Err(error) => {
                let outcome = crate::api::finish::<()>(ctx, Err(error));
                settle(ctx, waiting.resolve, waiting.reject, &waiting.site, outcome)?;
            }
        }
    }
    Ok(())
}

/// Waits for the next started call to finish and settles its promise; `false`
/// when no call is under way.
pub fn wait_next(ctx: &Ctx<'_>) -> javy::quickjs::Result<bool> {
    if CALLS.with(|calls| calls.borrow().started.is_empty()) {
        return Ok(false);
    }
    let completion = calls::next().map_err(|error| {
        Exception::throw_internal(ctx, &format!("waiting for a host call failed: {error:?}"))
    })?;
    let Some(waiting) = CALLS.with(|calls| calls.borrow_mut().started.remove(&completion.call))
    else {
        return Err(Exception::throw_internal(
            ctx,
            &format!("the host completed call {}, which was not started", completion.call),
        ));
    };
    let outcome = waiting.call.finish(ctx, completion.outcome);
    settle(ctx, waiting.resolve, waiting.reject, &waiting.site, outcome)?;
    Ok(true)
}

/// Resolves or rejects a call's promise with its outcome.
fn settle<'js>(
    ctx: &Ctx<'js>,
    resolve: Persistent<Function<'static>>,
    reject: Persistent<Function<'static>>,
    site: &Persistent<Object<'static>>,
    outcome: javy::quickjs::Result<Value<'js>>,
) -> javy::quickjs::Result<()> {
    let thrown = match outcome {
        Ok(value) => return resolve.restore(ctx)?.call::<_, ()>((value,)),
        Err(javy::quickjs::Error::Exception) => ctx.catch(),
        Err(other) => {
            let _ = Exception::throw_internal(ctx, &other.to_string());
            ctx.catch()
        }
    };
    if let Some(error) = thrown.as_object() {
        place_at_call_site(ctx, error, site);
    }
    reject.restore(ctx)?.call::<_, ()>((thrown,))
}

/// Gives `error` the stack of the script's call: its own first frame (where
/// it was made, e.g. `at ToolError (prelude.js:…)`), then the call site's.
fn place_at_call_site<'js>(ctx: &Ctx<'js>, error: &Object<'js>, site: &Persistent<Object<'static>>) {
    let Ok(site) = site.clone().restore(ctx) else {
        return;
    };
    let Ok(Some(site_stack)) = site.get::<_, Option<String>>("stack") else {
        return;
    };
    let own: String = error
        .get::<_, Option<String>>("stack")
        .ok()
        .flatten()
        .unwrap_or_default();
    let first = own.lines().next().map(|l| format!("{l}\n")).unwrap_or_default();
    let _ = error.set("stack", format!("{first}{site_stack}"));
}
