//! `clambot:host/log`: a script's structured messages, kept with the run's
//! captured output (and so bounded by the same limit).

use serde_json::{Value as Json, json};

use crate::gate::{BoxFuture, HostInterface, RunContext, ToolError};
use crate::sandbox::output::Stream;

#[derive(Debug, Clone, Copy, Default)]
pub struct Log;

impl HostInterface for Log {
    fn call<'a>(
        &'a self,
        function: &'a str,
        args: Json,
        run: &'a RunContext,
    ) -> BoxFuture<'a, Result<Json, ToolError>> {
        Box::pin(async move {
            match function {
                "write" => {
                    let level = args["level"].as_str().unwrap_or("info");
                    let message = args["message"].as_str().unwrap_or_default();
                    let line = format!("[log:{level}] {message}\n");
                    run.output
                        .append(Stream::Log, line.as_bytes())
                        .map_err(|e| ToolError::Limit(e.to_string()))?;
                    Ok(json!(null))
                }
                other => Err(ToolError::Invalid(format!("log has no function `{other}`"))),
            }
        })
    }
}
