//! Links `clambot:host/calls` (`wit/calls.wit`): `start` takes any gated host
//! function by its WIT name with its arguments in the gate's JSON view, checks
//! them against the function's WIT types exactly as lifting a blocking call's
//! arguments would, and hands the call to the run's gate; `next` gives the guest
//! the first call to finish, its value in JavaScript's spelling.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use serde_json::{Map, Value as Json};
use wasmtime::Engine;
use wasmtime::StoreContextMut;
use wasmtime::component::types::{ComponentInstance, ComponentItem};
use wasmtime::component::{Linker, Type, Val};

use super::value::{js_spelling, json_to_named_val, json_to_val, val_to_json};
use super::{GateView, GatedFunction, ToolError, error_val};

/// The gated functions `start` may start, by `interface.function`.
type Functions = HashMap<String, Arc<GatedFunction>>;

pub(super) fn link<T: GateView + 'static>(
    linker: &mut Linker<T>,
    name: &str,
    instance: &ComponentInstance,
    engine: &Engine,
    functions: Functions,
) -> Result<()> {
    let mut err = None;
    let mut exported = Vec::new();
    for (function, item) in instance.exports(engine) {
        let ComponentItem::ComponentFunc(func) = item.ty else {
            continue;
        };
        exported.push(function.to_owned());
        if let [Type::Result(result)] = func.results().collect::<Vec<_>>().as_slice() {
            err = result.err();
        }
    }
    exported.sort();
    if exported != ["next", "start"] {
        bail!("`{name}` must export exactly `start` and `next`, not {exported:?}");
    }
    let err = err.with_context(|| format!("`{name}` functions must return `result<_, error>`"))?;
    let functions = Arc::new(functions);
    let mut linker_instance = linker
        .instance(name)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("linking `{name}`"))?;
    let start_err = err.clone();
    linker_instance
        .func_new_async("start", move |mut store, _ty, params, results| {
            let (functions, err) = (Arc::clone(&functions), start_err.clone());
            Box::new(async move {
                let outcome = checked_args(&functions, params)
                    .and_then(|(function, args)| store.data_mut().gate().start(function, args));
                rearm_after_wait(&mut store);
                results[0] = Val::Result(match outcome {
                    Ok(handle) => Ok(Some(Box::new(Val::U64(handle)))),
                    Err(error) => Err(Some(Box::new(error_val(&err, &error)?))),
                });
                Ok(())
            })
        })
        .map_err(anyhow::Error::from)?;
    linker_instance
        .func_new_async("next", move |mut store, _ty, _params, results| {
            let err = err.clone();
            Box::new(async move {
                let next = store.data_mut().gate().next().await;
                rearm_after_wait(&mut store);
                results[0] = Val::Result(match next {
                    Ok((handle, function, outcome)) => {
                        let outcome = match outcome.and_then(|value| js_text(&function, &value)) {
                            Ok(text) => Ok(Some(Box::new(Val::String(text)))),
                            Err(error) => Err(Some(Box::new(error_val(&err, &error)?))),
                        };
                        Ok(Some(Box::new(Val::Record(vec![
                            ("call".into(), Val::U64(handle)),
                            ("outcome".into(), Val::Result(outcome)),
                        ]))))
                    }
                    Err(error) => Err(Some(Box::new(error_val(&err, &error)?))),
                });
                Ok(())
            })
        })
        .map_err(anyhow::Error::from)?;
    Ok(())
}

/// The function `start` names and its arguments, each checked against its WIT
/// type and given in the form a blocking call's arguments take in the gate.
fn checked_args(
    functions: &Functions,
    params: &[Val],
) -> Result<(Arc<GatedFunction>, Json), ToolError> {
    let (Some(Val::String(function)), Some(Val::String(args_json))) =
        (params.first(), params.get(1))
    else {
        return Err(ToolError::Invalid(
            "calls.start takes a function and its arguments".into(),
        ));
    };
    let gated = functions.get(function.as_str()).ok_or_else(|| {
        ToolError::Invalid(format!(
            "`{function}` is not a host function this sandbox links"
        ))
    })?;
    let given: Json = serde_json::from_str(args_json)
        .map_err(|e| ToolError::Invalid(format!("{function}: the arguments are not JSON: {e}")))?;
    let Json::Object(mut given) = given else {
        return Err(ToolError::Invalid(format!(
            "{function}: the arguments must be a JSON object"
        )));
    };
    let mut checked = Map::new();
    for (param, ty) in &gated.params {
        let value = given.remove(param).unwrap_or(Json::Null);
        let val = json_to_named_val(ty, &value, param)
            .map_err(|e| ToolError::Invalid(format!("{function}: {e}")))?;
        checked.insert(param.clone(), val_to_json(&val));
    }
    if let Some(unknown) = given.keys().next() {
        return Err(ToolError::Invalid(format!(
            "{function} has no parameter `{unknown}`"
        )));
    }
    Ok((Arc::clone(gated), Json::Object(checked)))
}

/// A finished call's value as the JSON text the guest reads.
fn js_text(function: &GatedFunction, value: &Json) -> Result<String, ToolError> {
    let Some(ty) = &function.ok else {
        return Ok("null".into());
    };
    // A host implementation returned the wrong shape: a host bug, told to the
    // script as a failure, as for a blocking call.
    json_to_val(ty, value).map_err(|e| {
        ToolError::Failed(format!(
            "{}.{} returned a value that does not fit its WIT type ({e})",
            function.interface, function.function
        ))
    })?;
    Ok(js_spelling(ty, value).to_string())
}

/// A call may have waited for a person, which moved the run's deadline.
fn rearm_after_wait<T: GateView>(store: &mut StoreContextMut<'_, T>) {
    if store.data_mut().gate().take_waited() {
        let remaining = store.data_mut().gate().deadline().remaining();
        store.set_epoch_deadline(crate::sandbox::deadline_ticks(remaining));
    }
}
