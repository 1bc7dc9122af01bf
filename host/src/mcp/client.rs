//! One declared MCP server, as clambot's client sees it: started on first need,
//! its tools listed once, each call validated, timed and size-capped.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
};
use rmcp::service::{Peer, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value as Json, json};
use tokio::io::AsyncReadExt;

use super::schema::ToolSchema;
use crate::gate::{BoxFuture, HostInterface, RunContext, ToolError};
use crate::policy::limits::{DEFAULT_MCP_MAX_RESULT, DEFAULT_MCP_TIMEOUT};
use crate::policy::mcp::INHERITED_ENV;
use crate::policy::{McpServerSettings, McpTransport, NetSettings};
use crate::secrets::SecretStore;

/// How much of a server's stderr is kept for error messages: its last words
/// about why it failed, not a log.
const STDERR_TAIL: usize = 2048;

/// The last bytes a server wrote to stderr (see [`STDERR_TAIL`]).
type StderrTail = Arc<Mutex<Vec<u8>>>;

/// One tool a running server offers.
#[derive(Debug, Clone)]
pub struct ServerTool {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub schema: ToolSchema,
}

/// What calls share of a running server: the rmcp peer and what the server
/// said at the start.
struct Live {
    peer: Peer<RoleClient>,
    tools: Vec<ServerTool>,
    stderr: StderrTail,
}

/// A running server: its rmcp service (which owns the child process) and the
/// part calls share.
struct Running {
    service: RunningService<RoleClient, ClientConfig>,
    live: Arc<Live>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("tools", &self.live.tools.len())
            .finish_non_exhaustive()
    }
}

/// A declared server and, once started, its connection.
#[derive(Debug)]
pub struct McpServer {
    settings: McpServerSettings,
    secrets: Arc<SecretStore>,
    /// The directory a stdio server runs in: the policy file's.
    base_dir: Option<PathBuf>,
    /// `[net]`: which private addresses a `url` server may be at.
    net: NetSettings,
    /// Held only while starting or stopping, never during a call, so calls overlap.
    state: tokio::sync::Mutex<Option<Running>>,
}

impl McpServer {
    pub fn new(
        settings: McpServerSettings,
        secrets: Arc<SecretStore>,
        base_dir: Option<PathBuf>,
        net: NetSettings,
    ) -> Self {
        Self {
            settings,
            secrets,
            base_dir,
            net,
            state: tokio::sync::Mutex::new(None),
        }
    }

    pub fn settings(&self) -> &McpServerSettings {
        &self.settings
    }

    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// How long one call may take, the start included.
    pub fn timeout(&self) -> Duration {
        self.settings.timeout.unwrap_or(DEFAULT_MCP_TIMEOUT)
    }

    fn max_result(&self) -> u64 {
        self.settings.max_result.unwrap_or(DEFAULT_MCP_MAX_RESULT)
    }

    /// Whether the server is running now.
    pub async fn is_running(&self) -> bool {
        self.state
            .lock()
            .await
            .as_ref()
            .is_some_and(|r| !r.service.is_closed())
    }

    /// The server's tools, starting it if it is not running (within `budget`).
    pub async fn tools(&self, budget: Duration) -> Result<Vec<ServerTool>, ToolError> {
        Ok(self.connection(budget).await?.tools.clone())
    }

    /// The tool `wanted` names: as the server spells it, or in its camelCase
    /// JavaScript spelling (`getSum` for `get-sum` or `get_sum`) when exactly
    /// one tool has it. `None` when the server cannot start or has no such tool.
    pub async fn resolve(&self, wanted: &str, budget: Duration) -> Option<String> {
        let tools = self.tools(budget).await.ok()?;
        if tools.iter().any(|t| t.name == wanted) {
            return Some(wanted.to_owned());
        }
        let mut matches = tools.iter().filter(|t| js_name(&t.name) == wanted);
        match (matches.next(), matches.next()) {
            (Some(tool), None) => Some(tool.name.clone()),
            _ => None,
        }
    }

    /// Stops the server if it is running: closes its stdin, waits a moment,
    /// then kills its process group.
    pub async fn stop(&self) {
        let running = self.state.lock().await.take();
        if let Some(running) = running {
            let _ = running.service.cancel().await;
        }
    }

    async fn connection(&self, budget: Duration) -> Result<Arc<Live>, ToolError> {
        let mut state = self.state.lock().await;
        if let Some(running) = state.as_ref() {
            if !running.service.is_closed() {
                return Ok(Arc::clone(&running.live));
            }
            // It died since the last call: start it afresh.
            if let Some(dead) = state.take() {
                let _ = dead.service.cancel().await;
            }
        }
        let running = tokio::time::timeout(budget, self.start())
            .await
            .map_err(|_| {
                self.failed(format!(
                    "did not start within {}",
                    humantime::format_duration(budget)
                ))
            })??;
        let live = Arc::clone(&running.live);
        *state = Some(running);
        Ok(live)
    }

    /// Stops `live`'s server (it crashed, hung or broke the protocol), so the
    /// next call starts it afresh.
    async fn discard(&self, live: &Arc<Live>) {
        let mut state = self.state.lock().await;
        if state.as_ref().is_some_and(|r| Arc::ptr_eq(&r.live, live))
            && let Some(running) = state.take()
        {
            drop(state);
            let _ = running.service.cancel().await;
        }
    }

    async fn start(&self) -> Result<Running, ToolError> {
        let info = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("clambot", env!("CARGO_PKG_VERSION")),
        );
        let (served, stderr) = match &self.settings.transport {
            McpTransport::Stdio { command, args, env } => {
                let (transport, stderr) = self.spawn(command, args, env)?;
                (info.serve(transport).await, stderr)
            }
            McpTransport::Http { url, bearer_secret } => {
                let transport = self.http_transport(url, bearer_secret.as_deref()).await?;
                (info.serve(transport).await, StderrTail::default())
            }
        };
        let service = match served {
            Ok(service) => service,
            Err(e) => {
                // Give the process a moment to finish its last words.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Err(self.failed(format!(
                    "did not complete the MCP handshake ({e}){}",
                    tail_text(&stderr)
                )));
            }
        };
        let listed = service.list_all_tools().await.map_err(|e| {
            self.failed(format!(
                "did not list its tools ({e}){}",
                tail_text(&stderr)
            ))
        })?;
        let tools = listed
            .into_iter()
            .map(|tool| ServerTool {
                schema: ToolSchema::new(Json::Object((*tool.input_schema).clone())),
                name: tool.name.into_owned(),
                title: tool.title,
                description: tool.description.map(|d| d.into_owned()),
            })
            .collect();
        let live = Arc::new(Live {
            peer: service.peer().clone(),
            tools,
            stderr,
        });
        Ok(Running { service, live })
    }

    /// The Streamable HTTP transport to `url`: its host resolved once, every
    /// address judged by the http tool's rules (`[net] allow-private` lets a
    /// listed private address through), the client pinned to those addresses.
    async fn http_transport(
        &self,
        url: &url::Url,
        bearer_secret: Option<&str>,
    ) -> Result<rmcp::transport::StreamableHttpClientTransport<reqwest_mcp::Client>, ToolError>
    {
        use crate::net::Resolver as _;
        let host = url
            .host_str()
            .ok_or_else(|| self.failed(format!("has no host in its url {url}")))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<std::net::IpAddr> = match bare.parse() {
            Ok(ip) => vec![ip],
            Err(_) => crate::net::SystemResolver
                .resolve(host, port)
                .await
                .map_err(|e| self.failed(format!("cannot be reached: resolving `{host}`: {e}")))?,
        };
        if addresses.is_empty() {
            return Err(self.failed(format!("cannot be reached: `{host}` has no addresses")));
        }
        let mut sockets = Vec::new();
        for ip in addresses {
            let socket = std::net::SocketAddr::new(ip.to_canonical(), port);
            if let Some(verdict) = crate::net::address::classify(ip)
                && !self
                    .net
                    .allow_private
                    .iter()
                    .any(|a| a.ip().to_canonical() == socket.ip() && a.port() == port)
            {
                return Err(ToolError::Denied {
                    rule: "net-address".into(),
                    reason: format!(
                        "the MCP server `{}` at {url} resolves to {ip}, {} ({}); list `{socket}` in [net] allow-private to reach it",
                        self.settings.name,
                        verdict.class.describe(),
                        verdict.class.code()
                    ),
                });
            }
            sockets.push(socket);
        }
        let client = crate::net::client::build_for_mcp(bare, &sockets, self.timeout())
            .map_err(|e| self.failed(e))?;
        let mut config =
            rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                url.as_str(),
            );
        if let Some(secret) = bearer_secret {
            let value = self
                .secrets
                .get(secret)
                .map_err(|e| self.failed(format!("cannot read the secret `{secret}`: {e:#}")))?
                .ok_or_else(|| {
                    self.failed(format!(
                        "needs the secret `{secret}` (its bearer-secret), which is not set; `clambot secrets set {secret}`"
                    ))
                })?;
            config = config.auth_header(value.expose());
        }
        Ok(rmcp::transport::StreamableHttpClientTransport::with_client(
            client, config,
        ))
    }

    fn spawn(
        &self,
        command: &str,
        args: &[String],
        env: &std::collections::BTreeMap<String, String>,
    ) -> Result<(TokioChildProcess, StderrTail), ToolError> {
        let mut vars: Vec<(String, String)> = INHERITED_ENV
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), std::env::var(name).ok()?)))
            .collect();
        for (var, secret) in env {
            let value = self
                .secrets
                .get(secret)
                .map_err(|e| self.failed(format!("cannot read the secret `{secret}`: {e:#}")))?
                .ok_or_else(|| {
                    self.failed(format!(
                        "needs the secret `{secret}` (for `{var}`), which is not set; `clambot secrets set {secret}`"
                    ))
                })?;
            vars.push((var.clone(), value.expose().to_owned()));
        }
        let mut wrapped = process_wrap::tokio::CommandWrap::with_new(command, |c| {
            c.args(args).env_clear().envs(vars);
            if let Some(dir) = &self.base_dir {
                c.current_dir(dir);
            }
        });
        // Its own process group, so that killing it kills what it started too.
        wrapped.wrap(process_wrap::tokio::ProcessGroup::leader());
        let (transport, stderr) = TokioChildProcess::builder(wrapped)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| self.failed(format!("could not be started: `{command}`: {e}")))?;
        let tail = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut stderr) = stderr {
            let tail = Arc::clone(&tail);
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                while let Ok(n) = stderr.read(&mut buffer).await {
                    if n == 0 {
                        break;
                    }
                    let mut kept = tail
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    kept.extend_from_slice(&buffer[..n]);
                    if kept.len() > STDERR_TAIL {
                        let cut = kept.len() - STDERR_TAIL;
                        kept.drain(..cut);
                    }
                }
            });
        }
        Ok((transport, tail))
    }

    fn failed(&self, what: String) -> ToolError {
        ToolError::Failed(format!("the MCP server `{}` {what}", self.settings.name))
    }

    /// Validates, calls and converts one tool call (already allowed by the gate).
    async fn call_tool(&self, tool: &str, args: Json, budget: Duration) -> Result<Json, ToolError> {
        let started = tokio::time::Instant::now();
        let connection = self.connection(budget).await?;
        let Some(found) = connection.tools.iter().find(|t| t.name == tool) else {
            let names: Vec<&str> = connection.tools.iter().map(|t| t.name.as_str()).collect();
            return Err(ToolError::NotFound(format!(
                "the MCP server `{}` has no tool `{tool}` (it has: {})",
                self.settings.name,
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            )));
        };
        let Json::Object(arguments) = args else {
            return Err(ToolError::Invalid(format!(
                "mcp.{}.{tool} takes one object of named arguments",
                self.settings.name
            )));
        };
        let arguments_json = Json::Object(arguments);
        found.schema.check(&arguments_json).map_err(|why| {
            ToolError::Invalid(format!("mcp.{}.{tool}: {why}", self.settings.name))
        })?;
        let Json::Object(arguments) = arguments_json else {
            unreachable!("checked above")
        };
        let left = budget.saturating_sub(started.elapsed());
        let request = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        let answer = tokio::time::timeout(left, connection.peer.call_tool(request)).await;
        let result = match answer {
            Err(_) => {
                self.discard(&connection).await;
                return Err(self.failed(format!(
                    "did not answer `{tool}` within {}; it was stopped",
                    humantime::format_duration(budget)
                )));
            }
            Ok(Err(e)) => {
                let protocol = matches!(e, rmcp::ServiceError::McpError(_));
                if !protocol {
                    self.discard(&connection).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                return Err(self.failed(format!(
                    "failed on `{tool}`: {e}{}",
                    if protocol {
                        String::new()
                    } else {
                        tail_text(&connection.stderr)
                    }
                )));
            }
            Ok(Ok(result)) => result,
        };
        let value = result_value(&self.settings.name, tool, result)?;
        let size = value.to_string().len() as u64;
        if size > self.max_result() {
            return Err(ToolError::Limit(format!(
                "the result of mcp.{}.{tool} is {}, over its cap of {} (`max-result` in [mcp.{}])",
                self.settings.name,
                crate::size::show_size(size),
                crate::size::show_size(self.max_result()),
                self.settings.name
            )));
        }
        Ok(value)
    }
}

impl HostInterface for McpServer {
    fn call<'a>(
        &'a self,
        function: &'a str,
        args: Json,
        run: &'a RunContext,
    ) -> BoxFuture<'a, Result<Json, ToolError>> {
        Box::pin(async move {
            let budget = self.timeout().min(run.deadline.remaining());
            self.call_tool(function, args, budget).await
        })
    }
}

/// What a script gets back from a tool: its structured content when it gives
/// one; else the text of a text-only answer; else the content list as MCP
/// spells it. A result the server marks as an error is a `failed` ToolError.
fn result_value(server: &str, tool: &str, result: CallToolResult) -> Result<Json, ToolError> {
    let texts: Vec<&str> = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    if result.is_error == Some(true) {
        let said = if texts.is_empty() {
            "no message".to_owned()
        } else {
            texts.join("\n")
        };
        return Err(ToolError::Failed(format!(
            "mcp.{server}.{tool} reported an error: {}",
            crate::agent::prompt::clip(&said, 2_000)
        )));
    }
    if let Some(structured) = result.structured_content {
        return Ok(structured);
    }
    if !result.content.is_empty() && texts.len() == result.content.len() {
        return Ok(Json::String(texts.join("\n")));
    }
    serde_json::to_value(&result.content)
        .map_err(|e| ToolError::Failed(format!("mcp.{server}.{tool}: unreadable result: {e}")))
        .map(|content| json!({ "content": content }))
}

/// ` (stderr: …)`, or nothing when the server said nothing there.
fn tail_text(tail: &Mutex<Vec<u8>>) -> String {
    let kept = tail
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let text = String::from_utf8_lossy(&kept);
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!("; its stderr ends: {}", crate::policy::escape(text))
    }
}

/// A tool name in JavaScript spelling: `get-sum`, `get_sum` and `get.sum` are
/// all `getSum`.
pub fn js_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') && !out.is_empty() {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}
