//! `policy explain`: what a policy allows, asks and denies, one line per rule,
//! in words a reviewer can check against intent.

use std::fmt::Write;

use super::{Caller, Policy, Rule, RuleKind, escape, limits};
use crate::size::show_size;

impl Policy {
    /// The explanation, ready to print.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: everything not listed below is denied.",
            self.name()
        );
        let _ = writeln!(
            out,
            "A DENY refuses a call even when an ALLOW or ASK also matches it; an ASK is decided before any ALLOW; every matcher of a rule must fit."
        );
        let run = self.run();
        let given = |set: bool| if set { "" } else { " (default)" };
        let mut limits = vec![
            format!(
                "time {}{}",
                humantime::format_duration(run.timeout.unwrap_or(limits::DEFAULT_TIMEOUT)),
                given(run.timeout.is_some())
            ),
            format!(
                "memory {}{}",
                show_size(run.memory.unwrap_or(limits::DEFAULT_MEMORY)),
                given(run.memory.is_some())
            ),
            format!(
                "output {}{}",
                show_size(run.max_output.unwrap_or(limits::DEFAULT_MAX_OUTPUT)),
                given(run.max_output.is_some())
            ),
        ];
        limits.push(match run.max_calls {
            Some(c) => format!("{c} host calls"),
            None => "any number of host calls".into(),
        });
        limits.push(match run.max_egress {
            Some(e) => format!("{} sent", show_size(e)),
            None => "no cap on bytes sent".into(),
        });
        limits.push(format!(
            "{} host calls under way at once{}",
            run.max_concurrent.unwrap_or(limits::DEFAULT_MAX_CONCURRENT),
            given(run.max_concurrent.is_some())
        ));
        let _ = writeln!(out, "Each run is limited to: {}.", limits.join(", "));
        if self.net().allow_private.is_empty() {
            let _ = writeln!(
                out,
                "Network: the http tool reaches public addresses only ([net] allow-private is empty)."
            );
        }
        for addr in &self.net().allow_private {
            let _ = writeln!(
                out,
                "PRIVATE  the http tool may reach the private address {addr}"
            );
        }
        for tool in self.tools().values() {
            let component = tool.component.as_ref().map_or_else(
                || format!("found by name as {0}/{0}.wasm", tool.name),
                |p| escape(&p.display().to_string()),
            );
            let imports = if tool.imports.is_empty() {
                "imports no host interface".to_owned()
            } else {
                format!(
                    "may import {} (only where a rule with `caller = \"tools.{}\"` allows)",
                    tool.imports.join(", "),
                    tool.name
                )
            };
            let note = tool
                .note
                .as_ref()
                .map(|n| format!(" [{}]", escape(n)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "TOOL     tools.{}: component {component}, pinned sha256 {}; {imports}; each call at most {}{}, memory {}{}{note}  ({}:{})",
                tool.name,
                tool.sha256,
                humantime::format_duration(tool.timeout.unwrap_or(limits::DEFAULT_TOOL_TIMEOUT)),
                given(tool.timeout.is_some()),
                show_size(tool.memory.unwrap_or(limits::DEFAULT_TOOL_MEMORY)),
                given(tool.memory.is_some()),
                self.name(),
                tool.line
            );
        }
        for server in self.mcp_servers().values() {
            let note = server
                .note
                .as_ref()
                .map(|n| format!(" [{}]", escape(n)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "MCP      mcp.{}: {}; started only for a call a rule allows (`mcp.{}.TOOL`); each call at most {}{}, result at most {}{}{note}  ({}:{})",
                server.name,
                server.describe(),
                server.name,
                humantime::format_duration(server.timeout.unwrap_or(limits::DEFAULT_MCP_TIMEOUT)),
                given(server.timeout.is_some()),
                show_size(server.max_result.unwrap_or(limits::DEFAULT_MCP_MAX_RESULT)),
                given(server.max_result.is_some()),
                self.name(),
                server.line
            );
        }
        for rule in self.rules() {
            let _ = writeln!(out, "{}", explain_rule(rule));
        }
        for warning in super::check::warnings(self) {
            let _ = writeln!(
                out,
                "WARNING  line {}: {}",
                warning.0.line, warning.0.message
            );
        }
        out
    }
}

fn explain_rule(rule: &Rule) -> String {
    let (verb, tail) = match rule.kind {
        RuleKind::Allow => ("ALLOW", ""),
        RuleKind::Ask => ("ASK  ", " — a person approves each call (or grants it)"),
        RuleKind::Deny => ("DENY ", " — wins over any allow or ask"),
    };
    let mut parts = Vec::new();
    if let Some(methods) = &rule.methods {
        let names: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
        parts.push(format!("methods {}", names.join(", ")));
    }
    if let Some(urls) = &rule.urls {
        let shown: Vec<String> = urls.iter().map(|u| escape(&u.describe())).collect();
        parts.push(shown.join("; or "));
    } else if rule.call.interface() == "http" {
        parts.push("any URL".into());
    }
    if let Some(paths) = &rule.paths {
        let shown: Vec<String> = paths.iter().map(|p| escape(&p.source)).collect();
        parts.push(format!("paths {}", shown.join(", ")));
    } else if rule.call.interface() == "fs" {
        parts.push("any path in the workspace".into());
    }
    for condition in &rule.conditions {
        parts.push(format!("where {}", escape(&condition.to_string())));
    }
    if let Some(max) = rule.max_calls {
        parts.push(format!("at most {max} call(s) per run"));
    }
    if !rule.secrets.is_empty() {
        parts.push(format!("may inject secret(s) {}", rule.secrets.join(", ")));
    }
    let scope = if parts.is_empty() {
        "every call".to_owned()
    } else {
        parts.join("; ")
    };
    let note = rule
        .note
        .as_ref()
        .map(|n| format!(" [{}]", escape(n)))
        .unwrap_or_default();
    let by = match &rule.caller {
        Caller::Script => String::new(),
        caller => format!(" (calls made by {caller}, not by the script)"),
    };
    format!(
        "{verb}  {}{by}: {scope}{tail}{note}  ({}:{})",
        rule.call,
        rule_file(rule),
        rule.line
    )
}

fn rule_file(rule: &Rule) -> &str {
    rule.label
        .rsplit_once(':')
        .map_or(&rule.label, |(file, _)| file)
}
