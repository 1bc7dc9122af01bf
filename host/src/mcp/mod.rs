//! MCP both ways. As a client ([`McpHub`], [`McpServer`]): the tools of the MCP
//! servers a policy declares (`[mcp.NAME]`), callable by scripts as
//! `mcp.NAME.tool(args)` and judged by the gate as `mcp.NAME.TOOL`. As a
//! server ([`serve`]): clambot's sandbox offered to other AI tools.
//!
//! Threat model (client): a server is outside the sandbox, so the gate judges
//! every call before the server sees it, and nothing the server says is
//! trusted. A server is started only for a call some rule may allow (a policy
//! that only declares it never starts it); its arguments are checked against
//! the tool's JSON Schema first (a schema's `$ref` is never fetched); its
//! answer is size-capped ([`crate::policy::limits::DEFAULT_MCP_MAX_RESULT`])
//! and time-capped (the server's `timeout`, never past the run's deadline); a
//! server that crashes, hangs or answers garbage is a `failed` ToolError, and
//! the next call starts it afresh. A stdio server gets the declared command,
//! arguments and environment only (secrets by name, read host-side, never
//! shown to the script); it runs in its own process group, which is killed when
//! the hub is dropped (the run's or the gateway's end). Its stderr is kept, a
//! bounded tail, for error messages, which pass the redactor like every error.
//! What it does not do: contain a stdio server's own effects — declaring it in
//! the policy is where that trust is given.

pub mod client;
pub mod schema;
pub mod serve;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use client::McpServer;

use crate::policy::Policy;
use crate::secrets::SecretStore;

/// The MCP servers of one policy, started when first needed and stopped when
/// the hub is dropped.
#[derive(Debug, Default)]
pub struct McpHub {
    servers: BTreeMap<String, Arc<McpServer>>,
}

impl McpHub {
    /// The servers `policy` declares; none is started yet.
    pub fn new(policy: &Policy, secrets: Arc<SecretStore>) -> Self {
        let base_dir: Option<PathBuf> = policy.base_dir().map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d.to_path_buf()
            }
        });
        let servers = policy
            .mcp_servers()
            .iter()
            .map(|(name, settings)| {
                (
                    name.clone(),
                    Arc::new(McpServer::new(
                        settings.clone(),
                        Arc::clone(&secrets),
                        base_dir.clone(),
                        policy.net().clone(),
                    )),
                )
            })
            .collect();
        Self { servers }
    }

    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The server named `name`, as declared or in its camelCase JavaScript
    /// spelling (`mcp.webSearch` for `[mcp.web-search]`).
    pub fn server(&self, name: &str) -> Option<&Arc<McpServer>> {
        self.servers.get(name).or_else(|| {
            self.servers
                .iter()
                .find(|(declared, _)| crate::components::camel_case(declared) == name)
                .map(|(_, server)| server)
        })
    }

    /// The declared servers' names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.servers.keys().cloned().collect()
    }

    pub fn servers(&self) -> impl Iterator<Item = &Arc<McpServer>> {
        self.servers.values()
    }

    /// Stops every running server (closing its stdin, then killing its
    /// process group). Dropping the hub does the same without waiting.
    pub async fn shutdown(&self) {
        for server in self.servers.values() {
            server.stop().await;
        }
    }
}

/// The tools of every server some rule lets calls through to, as signatures,
/// for the agent's prompt (the same text `clambot mcp inspect` prints). Each
/// such server is started, asked and stopped; one that fails is named with
/// why, so the model does not guess its tools.
pub async fn api_text(hub: &McpHub, policy: &Policy) -> String {
    let mut body = String::new();
    for server in hub.servers() {
        if !policy.may_let_through(&format!("mcp.{}", server.name())) {
            continue;
        }
        match server.tools(server.timeout()).await {
            Ok(tools) => body.push_str(&schema::signatures(server.name(), &tools)),
            Err(e) => body.push_str(&format!("// mcp.{}: unavailable ({e})\n", server.name())),
        }
    }
    hub.shutdown().await;
    if body.is_empty() {
        return String::new();
    }
    format!(
        "\n### mcp\nTools of the MCP servers the policy declares. Call them with one object of \
         named arguments (`await mcp.NAME.tool({{...}})`, or `mcp.NAME.toolSync({{...}})`); each \
         call is gated as `mcp.NAME.TOOL` (the tool as the server spells it). The result is the \
         tool's structured content, else its text, else `{{ content: [...] }}`.\n```ts\n{body}```\n"
    )
}
