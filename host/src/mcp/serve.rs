//! `clambot mcp serve`: clambot's sandbox as an MCP server (stdio), so other AI
//! tools (desktop assistants, IDE agents) can run code somewhere safe.
//!
//! Threat model: the MCP client is as untrusted as a model — it can send any
//! script. Each script runs exactly as `clambot run` would run it: a fresh
//! sandbox, the owner's policy (the agent's, or `--policy`), its `[run]`
//! limits, every host call through the same gate and audit log. The server
//! adds no right of its own. An `[[ask]]` is put to the person through MCP
//! elicitation when the client says it can ask (form mode); otherwise it is
//! refused with the rule named. Saved clams are offered read-only (listed and
//! run; never written).
//!
//! Protocol: approvals are server-to-client elicitation requests, which the
//! 2026-07-28 revision replaced with input-required results; so the server
//! offers revisions up to 2025-11-25, which every current client speaks.

use std::borrow::Cow;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ElicitRequestParams,
    ElicitationAction, ElicitationSchema, Implementation, ListToolsResult, PaginatedRequestParams,
    ProtocolVersion, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{ElicitationMode, Peer, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value as Json, json};

use crate::agent::clams::ClamStore;
use crate::gate::approver::{Approval, ApprovalRequest, Approver};
use crate::gate::{BoxFuture, GateSetup};
use crate::sandbox::{RunLimits, RunOutcome, RunRequest, Sandbox};

/// The tools the server offers.
const RUN_SCRIPT: &str = "run_script";
const LIST_CLAMS: &str = "list_clams";
const RUN_CLAM: &str = "run_clam";

/// How long an elicitation waits for the person before the call is refused.
const APPROVAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// What one `clambot mcp serve` process shares between its calls.
#[derive(Debug, Clone)]
pub struct ClamServer {
    sandbox: Arc<Sandbox>,
    /// The owner's gate; each call gets it with an approver that asks this client.
    gate: GateSetup,
    limits: RunLimits,
    clams: Arc<ClamStore>,
}

impl ClamServer {
    pub fn new(
        sandbox: Arc<Sandbox>,
        gate: GateSetup,
        limits: RunLimits,
        clams: ClamStore,
    ) -> Self {
        Self {
            sandbox,
            gate,
            limits,
            clams: Arc::new(clams),
        }
    }

    /// Serves MCP on stdin and stdout until the client closes them.
    pub async fn serve_stdio(self) -> anyhow::Result<()> {
        let service = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| anyhow::anyhow!("the MCP handshake failed: {e}"))?;
        service
            .waiting()
            .await
            .map_err(|e| anyhow::anyhow!("the MCP service stopped: {e}"))?;
        Ok(())
    }

    fn tools() -> Vec<Tool> {
        let object = |value: Json| match value {
            Json::Object(map) => Arc::new(map),
            _ => Arc::new(serde_json::Map::new()),
        };
        vec![
            Tool::new(
                RUN_SCRIPT,
                "Runs JavaScript in clambot's sandbox (QuickJS in WebAssembly; no Node, no browser APIs). \
                 The script is the body of an async function with `args` in scope, or defines \
                 `async function run(args)`. Its only effects are host calls (http, fs, memory, cron, \
                 log, tools, mcp), each judged by the owner's policy. Returns the script's value, its \
                 console output and every host call with the gate's decision.",
                object(json!({
                    "type": "object",
                    "properties": {
                        "source": { "type": "string", "description": "The JavaScript to run." },
                        "args": { "type": "object", "description": "The script's `args` (default {})." }
                    },
                    "required": ["source"],
                    "additionalProperties": false
                })),
            ),
            Tool::new(
                LIST_CLAMS,
                "Lists the saved clams (scripts clambot keeps and reruns): name, version, description and their arguments.",
                object(
                    json!({ "type": "object", "properties": {}, "additionalProperties": false }),
                ),
            ),
            Tool::new(
                RUN_CLAM,
                "Runs a saved clam by name in the sandbox under the owner's policy, with `args` \
                 (default: the clam's saved inputs). Returns what run_script returns.",
                object(json!({
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "description": "The clam's name (see list_clams)." },
                        "args": { "type": "object", "description": "The clam's `args`." }
                    },
                    "required": ["name"],
                    "additionalProperties": false
                })),
            ),
        ]
    }

    async fn run(&self, source: String, args: Json, peer: Peer<RoleServer>) -> CallToolResult {
        let approver: Arc<dyn Approver> = Arc::new(ElicitingApprover { peer });
        let request = RunRequest {
            source,
            args_json: args.to_string(),
            limits: self.limits,
            gate: GateSetup {
                approver,
                ..self.gate.clone()
            },
        };
        let outcome = self.sandbox.run(&request).await;
        report(&outcome)
    }

    fn list_clams(&self) -> CallToolResult {
        let (clams, problems) = self.clams.list();
        let list: Vec<Json> = clams
            .iter()
            .map(|c| {
                json!({
                    "name": c.meta.name, "version": c.meta.version,
                    "description": c.meta.description, "args": c.meta.args,
                    "runs": c.meta.runs,
                })
            })
            .collect();
        CallToolResult::structured(json!({ "clams": list, "unreadable": problems }))
    }

    async fn run_clam(
        &self,
        name: &str,
        args: Option<Json>,
        peer: Peer<RoleServer>,
    ) -> CallToolResult {
        let clam = match self.clams.get(name) {
            Ok(clam) => clam,
            Err(e) => {
                return CallToolResult::structured_error(json!({
                    "ok": false,
                    "error": { "kind": "not-found", "message": format!("{e:#}") },
                }));
            }
        };
        let args = args.unwrap_or_else(|| clam.meta.inputs());
        let result = self.run(clam.script.clone(), args, peer).await;
        let ok = result.is_error != Some(true);
        if let Err(e) = self.clams.record_run(&clam, ok) {
            tracing_note(&format!("the run of {name} could not be recorded: {e:#}"));
        }
        result
    }
}

/// A note on stderr: stdout is the MCP channel.
fn tracing_note(text: &str) {
    eprintln!("clambot mcp serve: {}", crate::terminal::inline(text));
}

/// The run as the client sees it: value or error, console, and the calls.
fn report(outcome: &RunOutcome) -> CallToolResult {
    let calls: Vec<Json> = outcome
        .calls
        .iter()
        .map(|call| {
            json!({
                "function": call.function,
                "verdict": call.verdict.as_str(),
                "rule": call.rule,
                "error": call.error,
                "caller": call.caller.to_string(),
                "reason": call.denial.as_ref().map(|d| d.reason.clone()),
            })
        })
        .collect();
    let console = outcome.console.text();
    match &outcome.result {
        Ok(text) => {
            let value: Json = serde_json::from_str(text).unwrap_or(Json::String(text.clone()));
            CallToolResult::structured(json!({
                "ok": true, "result": value, "console": console, "calls": calls,
            }))
        }
        Err(error) => CallToolResult::structured_error(json!({
            "ok": false,
            "error": {
                "kind": if error.is_denial() { "denied" } else { "failed" },
                "message": error.to_string(),
                "context": error.context(),
            },
            "console": console,
            "calls": calls,
        })),
    }
}

impl ServerHandler for ClamServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("clambot", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "clambot runs JavaScript in a WebAssembly sandbox; every effect a script has is a \
                 host call judged by its owner's policy.toml. Use run_script to run code, \
                 list_clams and run_clam for saved scripts.",
            )
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&ProtocolVersion::V_2025_11_25))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult {
            tools: Self::tools(),
            ..Default::default()
        })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let text = |key: &str| args.get(key).and_then(Json::as_str).map(str::to_owned);
        let object = |key: &str| -> Result<Option<Json>, ErrorData> {
            match args.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(value @ Json::Object(_)) => Ok(Some(value.clone())),
                Some(other) => Err(ErrorData::invalid_params(
                    format!("`{key}` must be an object, not {other}"),
                    None,
                )),
            }
        };
        let result = match request.name.as_ref() {
            RUN_SCRIPT => {
                let source = text("source").ok_or_else(|| {
                    ErrorData::invalid_params("`source` (the script) is required", None)
                })?;
                let script_args = object("args")?.unwrap_or_else(|| json!({}));
                self.run(source, script_args, context.peer.clone()).await
            }
            LIST_CLAMS => self.list_clams(),
            RUN_CLAM => {
                let name = text("name").ok_or_else(|| {
                    ErrorData::invalid_params("`name` (the clam) is required", None)
                })?;
                self.run_clam(&name, object("args")?, context.peer.clone())
                    .await
            }
            other => {
                return Err(ErrorData::invalid_params(
                    format!(
                        "no tool `{other}`; the tools are {RUN_SCRIPT}, {LIST_CLAMS} and {RUN_CLAM}"
                    ),
                    None,
                ));
            }
        };
        Ok(CallToolResponse::Complete(result))
    }
}

/// Answers an `[[ask]]` by asking the person through the MCP client (form
/// elicitation): allow this call once, or refuse. Fails closed: a client
/// that cannot ask, a decline, a cancel, a timeout or a broken answer is a
/// refusal naming the rule.
#[derive(Debug)]
struct ElicitingApprover {
    peer: Peer<RoleServer>,
}

impl Approver for ElicitingApprover {
    fn approve<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Approval> {
        Box::pin(async move {
            if !self
                .peer
                .supported_elicitation_modes()
                .contains(&ElicitationMode::Form)
            {
                return Approval::Reject(format!(
                    "{} needs a person's approval, and this MCP client cannot ask one (it does not \
                     support elicitation); to allow it unattended, turn that rule into an [[allow]] rule",
                    request.rule
                ));
            }
            let schema = ElicitationSchema::from_json_schema(
                json!({
                    "type": "object",
                    "properties": {
                        "decision": {
                            "type": "string",
                            "title": "Decision",
                            "enum": ["allow once", "deny"],
                        }
                    },
                    "required": ["decision"],
                })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            );
            let Ok(schema) = schema else {
                return Approval::Reject(format!(
                    "{}: the approval form could not be built",
                    request.rule
                ));
            };
            let message = format!(
                "clambot: a script wants to call {} ({}), which {} asks a person about. Allow it once?",
                request.function,
                crate::agent::prompt::clip(&request.args.to_string(), 1_500),
                request.rule
            );
            let answer = self
                .peer
                .create_elicitation_with_timeout(
                    ElicitRequestParams::FormElicitationParams {
                        meta: None,
                        message,
                        requested_schema: schema,
                    },
                    Some(APPROVAL_TIMEOUT),
                )
                .await;
            match answer {
                Ok(result)
                    if result.action == ElicitationAction::Accept
                        && result
                            .content
                            .as_ref()
                            .and_then(|c| c.get("decision"))
                            .and_then(Json::as_str)
                            == Some("allow once") =>
                {
                    Approval::Once
                }
                Ok(_) => Approval::Reject(format!(
                    "{} asked the person through the MCP client, who did not allow it",
                    request.rule
                )),
                Err(e) => Approval::Reject(format!(
                    "{} asked the person through the MCP client, and no answer came ({e})",
                    request.rule
                )),
            }
        })
    }
}
