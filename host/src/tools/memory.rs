//! `clambot:host/memory`: durable facts and the searchable history.

use serde_json::{Value as Json, json};

use crate::gate::{BoxFuture, HostInterface, RunContext, ToolError};
use crate::store::memory::Memory as MemoryStore;

#[derive(Debug, Clone)]
pub struct Memory {
    store: MemoryStore,
}

impl Memory {
    pub fn new(store: MemoryStore) -> Self {
        Self { store }
    }
}

impl HostInterface for Memory {
    fn call<'a>(
        &'a self,
        function: &'a str,
        args: Json,
        _run: &'a RunContext,
    ) -> BoxFuture<'a, Result<Json, ToolError>> {
        Box::pin(async move {
            let failed = |e: anyhow::Error| ToolError::Failed(format!("memory: {e:#}"));
            let limit = || args["limit"].as_u64().unwrap_or(0).min(u64::from(u32::MAX)) as u32;
            match function {
                "remember" => {
                    let text = super::string_arg(&args, "text")?;
                    // Empty and over-long facts are the caller's mistake, not a failure.
                    if text.trim().is_empty() {
                        return Err(ToolError::Invalid("a fact cannot be empty".into()));
                    }
                    let fact = self.store.remember(text).map_err(|e| {
                        if text.chars().count() > crate::store::memory::MAX_FACT_CHARS {
                            ToolError::Invalid(e.to_string())
                        } else {
                            failed(e)
                        }
                    })?;
                    Ok(json!(fact.id))
                }
                "recall" => {
                    let query = super::string_arg(&args, "query")?;
                    let facts = self.store.recall(query, limit()).map_err(failed)?;
                    Ok(Json::Array(
                        facts
                            .into_iter()
                            .map(|f| json!({ "id": f.id, "text": f.text, "created-ms": f.created_ms }))
                            .collect(),
                    ))
                }
                "forget" => {
                    let id = super::string_arg(&args, "id")?;
                    if self.store.forget(id).map_err(failed)? {
                        Ok(Json::Null)
                    } else {
                        Err(ToolError::NotFound(format!("no fact has the id `{id}`")))
                    }
                }
                "search-history" => {
                    let query = super::string_arg(&args, "query")?;
                    let entries = self.store.search_history(query, limit()).map_err(failed)?;
                    Ok(Json::Array(
                        entries
                            .into_iter()
                            .map(|e| json!({ "role": e.role, "text": e.text, "created-ms": e.created_ms }))
                            .collect(),
                    ))
                }
                other => Err(super::unknown_function("memory", other)),
            }
        })
    }
}
