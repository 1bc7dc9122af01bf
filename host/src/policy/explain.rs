//! `policy explain`: what a policy allows, asks and denies, one line per rule,
//! in words a reviewer can check against intent.

use std::fmt::Write;

use super::{Policy, Rule, RuleKind};
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
        let run = self.run();
        let mut limits = Vec::new();
        if let Some(t) = run.timeout {
            limits.push(format!("time {}", humantime::format_duration(t)));
        }
        if let Some(m) = run.memory {
            limits.push(format!("memory {}", show_size(m)));
        }
        if let Some(o) = run.max_output {
            limits.push(format!("output {}", show_size(o)));
        }
        if let Some(c) = run.max_calls {
            limits.push(format!("{c} host calls"));
        }
        if let Some(e) = run.max_egress {
            limits.push(format!("{} sent", show_size(e)));
        }
        if !limits.is_empty() {
            let _ = writeln!(out, "Each run is limited to: {}.", limits.join(", "));
        }
        for addr in &self.net().allow_private {
            let _ = writeln!(
                out,
                "PRIVATE  the http tool may reach the private address {addr}"
            );
        }
        for rule in self.rules() {
            let _ = writeln!(out, "{}", explain_rule(rule));
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
        let shown: Vec<String> = urls.iter().map(|u| u.describe()).collect();
        parts.push(shown.join("; or "));
    } else if rule.call.interface() == "http" {
        parts.push("any URL".into());
    }
    if let Some(paths) = &rule.paths {
        let shown: Vec<&str> = paths.iter().map(|p| p.source.as_str()).collect();
        parts.push(format!("paths {}", shown.join(", ")));
    } else if rule.call.interface() == "fs" {
        parts.push("any path in the workspace".into());
    }
    for condition in &rule.conditions {
        parts.push(format!("where {condition}"));
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
        .map(|n| format!(" [{n}]"))
        .unwrap_or_default();
    format!(
        "{verb}  {}: {scope}{tail}{note}  ({}:{})",
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
