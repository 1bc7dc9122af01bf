//! The serde shape of `policy.toml`. Unknown keys are errors (`deny_unknown_fields`);
//! positions are kept (`Spanned`) so every later check can say file:line:col.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub version: Option<Spanned<i64>>,
    pub run: Option<Spanned<RawRun>>,
    pub net: Option<Spanned<RawNet>>,
    #[serde(default)]
    pub allow: Vec<RawRule>,
    #[serde(default)]
    pub ask: Vec<RawRule>,
    #[serde(default)]
    pub deny: Vec<RawRule>,
    /// `[tools.NAME]`: the tool components that may be loaded, by name.
    #[serde(default)]
    pub tools: BTreeMap<String, Spanned<RawTool>>,
    /// `[mcp.NAME]`: the MCP servers whose tools may be called, by name.
    #[serde(default)]
    pub mcp: BTreeMap<String, Spanned<RawMcpServer>>,
}

/// `[mcp.NAME]`: one MCP server, run (`command`) or reached (`url`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawMcpServer {
    pub command: Option<Spanned<String>>,
    pub args: Option<Vec<Spanned<String>>>,
    /// Variable → `{ secret = "NAME" }`; checked by hand for a clear message.
    pub env: Option<BTreeMap<String, Spanned<toml::Value>>>,
    pub url: Option<Spanned<String>>,
    pub bearer_secret: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub max_result: Option<Spanned<String>>,
    pub note: Option<String>,
}

/// `[tools.NAME]`: one tool component, pinned by hash.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawTool {
    pub component: Option<Spanned<String>>,
    pub sha256: Option<Spanned<String>>,
    pub imports: Option<Spanned<Vec<Spanned<String>>>>,
    pub timeout: Option<Spanned<String>>,
    pub memory: Option<Spanned<String>>,
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRun {
    pub timeout: Option<Spanned<String>>,
    pub memory: Option<Spanned<String>>,
    pub max_output: Option<Spanned<String>>,
    pub max_calls: Option<Spanned<i64>>,
    pub max_egress: Option<Spanned<String>>,
    pub max_concurrent: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawNet {
    #[serde(default)]
    pub allow_private: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawRule {
    pub call: Spanned<String>,
    pub url: Option<Spanned<Vec<Spanned<String>>>>,
    pub method: Option<Spanned<Vec<Spanned<String>>>>,
    pub path: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(rename = "where")]
    pub conditions: Option<Spanned<BTreeMap<String, Spanned<RawCondition>>>>,
    pub max_calls: Option<Spanned<i64>>,
    pub secrets: Option<Spanned<Vec<Spanned<String>>>>,
    /// Whose calls the rule judges: `"script"` (the default) or `"tools.NAME"`.
    pub caller: Option<Spanned<String>>,
    /// Why the rule exists, for reviewers; shown by `policy explain`.
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    pub eq: Option<toml::Value>,
    #[serde(rename = "in")]
    pub one_of: Option<Vec<toml::Value>>,
    pub prefix: Option<String>,
    pub lt: Option<f64>,
    pub le: Option<f64>,
    pub gt: Option<f64>,
    pub ge: Option<f64>,
}
