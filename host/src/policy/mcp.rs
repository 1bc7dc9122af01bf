//! `[mcp.NAME]` tables: the MCP servers whose tools scripts may call, each as
//! `mcp.NAME.TOOL`.
//!
//! Threat model: an MCP server is a program (stdio) or a service (Streamable
//! HTTP) outside the sandbox, so starting or reaching one is a capability a
//! reviewer must see. A server is started or contacted only when a `[mcp.NAME]`
//! table declares it *and* a rule lets one of its tools be called; no table, or
//! no rule, means no server (deny by default). A stdio server gets exactly the
//! declared `command` and `args` and, as environment, a few named ordinary
//! variables ([`INHERITED_ENV`]) plus the variables declared here, whose values
//! are always named secrets (never literal values, which would put a credential
//! in a reviewed file). A Streamable HTTP `url` is judged at connect time by the
//! same address rules as `http.fetch` (no private addresses unless `[net]
//! allow-private` lists them). What a stdio server does once running is not
//! contained by clambot: the table is where that trust is given.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;
use url::Url;

use super::Compiler;
use super::schema::RawMcpServer;
use super::tools::is_tool_name;

/// The variables of clambot's own environment a stdio server also gets: what a
/// program needs to find itself and its files (`npx` needs `PATH` and `HOME`),
/// nothing that usually holds a credential.
pub const INHERITED_ENV: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"];

/// How clambot reaches a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpTransport {
    /// A child process speaking MCP on its stdin and stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        /// Environment variable → the name of the secret that is its value.
        env: BTreeMap<String, String>,
    },
    /// A Streamable HTTP endpoint.
    Http {
        url: Url,
        /// The secret sent as `Authorization: Bearer …`, by name.
        bearer_secret: Option<String>,
    },
}

/// `[mcp.NAME]`, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpServerSettings {
    pub name: String,
    pub transport: McpTransport,
    /// How long one tool call (and the server's start) may take.
    pub timeout: Option<Duration>,
    /// The largest result a tool call may return.
    pub max_result: Option<u64>,
    pub line: usize,
    pub note: Option<String>,
}

impl McpServerSettings {
    /// The secrets the server is given (environment or bearer token), by name.
    pub fn secrets(&self) -> Vec<&str> {
        match &self.transport {
            McpTransport::Stdio { env, .. } => env.values().map(String::as_str).collect(),
            McpTransport::Http { bearer_secret, .. } => {
                bearer_secret.iter().map(String::as_str).collect()
            }
        }
    }

    /// The transport in words, for `explain` and `mcp list`.
    pub fn describe(&self) -> String {
        match &self.transport {
            McpTransport::Stdio { command, args, env } => {
                let mut out = format!("runs `{}`", super::escape(command));
                for arg in args {
                    out.push(' ');
                    out.push_str(&super::escape(arg));
                }
                if !env.is_empty() {
                    let vars: Vec<String> = env
                        .iter()
                        .map(|(var, secret)| format!("{var} from the secret `{secret}`"))
                        .collect();
                    out.push_str(&format!(" with {}", vars.join(", ")));
                }
                out
            }
            McpTransport::Http { url, bearer_secret } => {
                let mut out = format!("Streamable HTTP at {url}");
                if let Some(secret) = bearer_secret {
                    out.push_str(&format!(" with the bearer secret `{secret}`"));
                }
                out
            }
        }
    }
}

/// Whether `name` is an environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
fn is_env_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` is a secret name (as `secrets` on rules spells them).
pub(super) fn is_secret_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether `name` is an MCP tool name a rule may name: the spec's characters
/// (letters, digits, `_`, `-`, `.`), 1 to 128 of them.
pub fn is_mcp_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl Compiler<'_> {
    pub(super) fn mcp_server(
        &mut self,
        name: &str,
        raw: Spanned<RawMcpServer>,
    ) -> Option<McpServerSettings> {
        let span = raw.span();
        let line = self.locator.line_of(&span);
        let raw = raw.into_inner();
        let mut ok = true;
        if !is_tool_name(name) {
            ok = false;
            self.error::<()>(
                &span,
                format!(
                    "`{name}` is not an MCP server name; use lowercase letters, digits and `-` (e.g. `github` or `web-search`)"
                ),
            );
        }
        let transport = match (raw.command, raw.url) {
            (Some(command), None) => {
                if let Some(secret) = &raw.bearer_secret {
                    ok = false;
                    self.error::<()>(
                        &secret.span(),
                        "`bearer-secret` is for a `url` server; a stdio server takes secrets through `env`",
                    );
                }
                let text = command.get_ref();
                if text.trim().is_empty() {
                    ok = false;
                    self.error::<()>(
                        &command.span(),
                        "`command` is empty; name the program to run (e.g. `npx` or a path)",
                    );
                } else if text.chars().any(crate::unicode::is_hidden) {
                    ok = false;
                    self.error::<()>(
                        &command.span(),
                        format!("the command `{}` contains an invisible character; it would not run what it appears to", super::escape(text)),
                    );
                }
                let mut args = Vec::new();
                for arg in raw.args.unwrap_or_default() {
                    if arg
                        .get_ref()
                        .chars()
                        .any(|c| crate::unicode::is_hidden(c) && c != '\t')
                    {
                        ok = false;
                        self.error::<()>(
                            &arg.span(),
                            format!("the argument `{}` contains an invisible character; it would not say what it appears to", super::escape(arg.get_ref())),
                        );
                    }
                    args.push(arg.into_inner());
                }
                let mut env = BTreeMap::new();
                for (var, value) in raw.env.unwrap_or_default() {
                    let value_span = value.span();
                    if !is_env_name(&var) {
                        ok = false;
                        self.error::<()>(
                            &value_span,
                            format!("`{}` is not an environment variable name (letters, digits and `_`, not starting with a digit)", super::escape(&var)),
                        );
                        continue;
                    }
                    match secret_reference(value.get_ref()) {
                        Ok(secret) => {
                            env.insert(var, secret);
                        }
                        Err(why) => {
                            ok = false;
                            self.error::<()>(&value_span, format!("env `{var}`: {why}"));
                        }
                    }
                }
                McpTransport::Stdio {
                    command: command.into_inner(),
                    args,
                    env,
                }
            }
            (None, Some(url)) => {
                for (key, present) in [("args", raw.args.is_some()), ("env", raw.env.is_some())] {
                    if present {
                        ok = false;
                        self.error::<()>(
                            &span,
                            format!("[mcp.{name}] has a `url`, so `{key}` means nothing; `{key}` is for a stdio server (`command`)"),
                        );
                    }
                }
                let parsed = match parse_server_url(url.get_ref()) {
                    Ok(u) => Some(u),
                    Err(why) => {
                        ok = false;
                        self.error::<()>(&url.span(), why);
                        None
                    }
                };
                let bearer_secret = match raw.bearer_secret {
                    None => None,
                    Some(secret) if is_secret_name(secret.get_ref()) => Some(secret.into_inner()),
                    Some(secret) => {
                        ok = false;
                        self.error::<()>(
                            &secret.span(),
                            format!(
                                "`{}` is not a secret name (letters, digits, `_` and `-`)",
                                super::escape(secret.get_ref())
                            ),
                        );
                        None
                    }
                };
                match parsed {
                    Some(url) => McpTransport::Http { url, bearer_secret },
                    None => return None,
                }
            }
            (Some(_), Some(url)) => {
                return self.error(
                    &url.span(),
                    format!("[mcp.{name}] has both `command` and `url`; a server is either a program to run (`command`) or an endpoint (`url`), not both"),
                );
            }
            (None, None) => {
                return self.error(
                    &span,
                    format!("[mcp.{name}] needs `command = \"…\"` (a stdio server to run) or `url = \"https://…\"` (a Streamable HTTP endpoint)"),
                );
            }
        };
        let timeout = self.timeout(raw.timeout);
        let max_result = self.size(raw.max_result);
        if !ok {
            return None;
        }
        Some(McpServerSettings {
            name: name.to_owned(),
            transport,
            timeout,
            max_result,
            line,
            note: raw.note,
        })
    }
}

/// `{ secret = "NAME" }`, the only value an `env` entry may have.
fn secret_reference(value: &toml::Value) -> Result<String, String> {
    const HOW: &str = "write `{ secret = \"NAME\" }`: a server's environment comes from named secrets only (`clambot secrets set NAME`), never from values written in the policy";
    let table = match value {
        toml::Value::Table(t) => t,
        toml::Value::String(_) => return Err(format!("a literal value is not allowed; {HOW}")),
        _ => return Err(HOW.to_owned()),
    };
    if let Some(key) = table.keys().find(|k| *k != "secret") {
        return Err(format!("unknown key `{key}`; {HOW}"));
    }
    match table.get("secret") {
        Some(toml::Value::String(name)) if is_secret_name(name) => Ok(name.clone()),
        Some(toml::Value::String(name)) => Err(format!(
            "`{}` is not a secret name (letters, digits, `_` and `-`)",
            super::escape(name)
        )),
        _ => Err(HOW.to_owned()),
    }
}

/// A server URL: `http` or `https`, with a host, without credentials or a
/// fragment (a credential belongs in a secret, not in the reviewed file).
fn parse_server_url(text: &str) -> Result<Url, String> {
    if text.chars().any(crate::unicode::is_hidden) {
        return Err(format!(
            "the URL `{}` contains an invisible character",
            super::escape(text)
        ));
    }
    let url = Url::parse(text).map_err(|e| {
        format!("`{text}` is not a URL ({e}); expected e.g. `https://mcp.example.com/mcp`")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "`{text}` is not an http(s) URL; Streamable HTTP servers are reached over `https://` (or `http://`)"
        ));
    }
    if url.host().is_none() {
        return Err(format!("`{text}` has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "`{}` carries credentials; put the token in a secret and name it with `bearer-secret`",
            super::escape(&url.origin().ascii_serialization())
        ));
    }
    if url.fragment().is_some() {
        return Err(format!("`{text}` has a fragment (`#…`); remove it"));
    }
    Ok(url)
}
