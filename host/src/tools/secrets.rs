//! `clambot:host/secrets`: which secrets exist, by name. Values never cross.

use std::sync::Arc;

use serde_json::{Value as Json, json};

use crate::gate::{BoxFuture, HostInterface, RunContext, ToolError};
use crate::secrets::SecretStore;

#[derive(Debug, Clone)]
pub struct Secrets {
    store: Arc<SecretStore>,
}

impl Secrets {
    pub fn new(store: Arc<SecretStore>) -> Self {
        Self { store }
    }
}

impl HostInterface for Secrets {
    fn call<'a>(
        &'a self,
        function: &'a str,
        args: Json,
        _run: &'a RunContext,
    ) -> BoxFuture<'a, Result<Json, ToolError>> {
        Box::pin(async move {
            let failed = |e: anyhow::Error| ToolError::Failed(format!("the secrets store: {e:#}"));
            match function {
                "list" => Ok(json!(self.store.names().map_err(failed)?)),
                "has" => {
                    let name = super::string_arg(&args, "name")?;
                    Ok(json!(self.store.has(name).map_err(failed)?))
                }
                other => Err(super::unknown_function("secrets", other)),
            }
        })
    }
}
