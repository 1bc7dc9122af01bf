//! The host implementations of the `clambot:host/*` interfaces, one module per
//! interface. Each is reached only through the gate (see [`crate::gate`]): none
//! of them judges whether a call may happen, only how to do it safely.

pub mod cron;
pub mod fs;
pub mod http;
pub mod log;
pub mod memory;
pub mod secrets;

use serde_json::Value as Json;

use crate::gate::ToolError;

/// A string argument the WIT types guarantee; its absence is a host bug, told
/// to the script as `invalid` rather than a panic.
pub(crate) fn string_arg<'a>(args: &'a Json, name: &str) -> Result<&'a str, ToolError> {
    args.get(name)
        .and_then(Json::as_str)
        .ok_or_else(|| ToolError::Invalid(format!("the argument `{name}` is missing")))
}

pub(crate) fn unknown_function(interface: &str, function: &str) -> ToolError {
    ToolError::Invalid(format!("{interface} has no function `{function}`"))
}

use std::path::Path;
use std::sync::Arc;

use crate::gate::Implementations;
use crate::secrets::SecretStore;
use crate::store::Store;

/// Every host interface clambot implements, over one workspace, one state
/// database and one secrets store. `http` is passed in so tests can give it a
/// resolver of their own.
pub fn standard(
    workspace: &Path,
    store: &Arc<Store>,
    secrets: &Arc<SecretStore>,
    http: http::Http,
) -> anyhow::Result<Implementations> {
    let mut implementations = Implementations::standard();
    implementations.insert("http", Arc::new(http));
    implementations.insert("fs", Arc::new(fs::Fs::open(workspace)?));
    implementations.insert(
        "memory",
        Arc::new(memory::Memory::new(crate::store::memory::Memory::new(
            Arc::clone(store),
        ))),
    );
    implementations.insert(
        "secrets",
        Arc::new(secrets::Secrets::new(Arc::clone(secrets))),
    );
    implementations.insert("cron", Arc::new(cron::Cron::new(Arc::clone(store))));
    Ok(implementations)
}
