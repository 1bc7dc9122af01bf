//! `policy check`: beyond the load errors every run applies (the same
//! [`Policy::parse`], so check refuses exactly what a run refuses), warnings
//! about rules that load but can never take effect.
//!
//! Threat model: a rule that silently does nothing is most dangerous on a
//! `[[deny]]`: the reviewer believes something is protected that is not. Each
//! warning names a way a rule can be inert — shadowed by a deny or an ask, a
//! `where` path that names no argument of the function (so the condition is
//! never true), a tool function in JavaScript spelling, two patterns merged into
//! one with a comma, a URL pattern that no normalised request can match, and
//! invisible characters in a note. What this does not do: prove a rule useful;
//! a warning-free policy can still allow too much (`policy explain` shows what).

use std::fmt;

use super::catalog::Signatures;
use super::condition::Step;
use super::cover::{contains, pieces};
use super::diagnostic::{Diagnostic, did_you_mean};
use super::http::HostPattern;
use super::{CallPattern, Policy, Rule, RuleKind, escape};

/// One warning, located like a load error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub Diagnostic);

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        write!(
            f,
            "{}:{}:{}: warning: {}",
            escape(&d.file),
            d.line,
            d.column,
            escape(&d.message)
        )
    }
}

impl Warning {
    /// The warning with its line and the offending text underlined.
    pub fn render(&self, source: &str) -> String {
        let plain = super::diagnostic::render(&self.0, Some(source));
        // `render` starts with the error form; put `warning:` in.
        let head = self.0.to_string();
        plain.replacen(&head, &self.to_string(), 1)
    }
}

/// Every warning for a loaded policy, in file order.
pub fn warnings(policy: &Policy) -> Vec<Warning> {
    let mut out = Checker {
        policy,
        signatures: Signatures::host(),
        warnings: Vec::new(),
    };
    for rule in policy.rules() {
        out.shadowing(rule);
        out.conditions(rule);
        out.tool_function(rule);
        out.patterns(rule);
        out.note(rule);
    }
    out.warnings
        .sort_by_key(|w| (w.0.line, w.0.column, w.0.message.clone()));
    out.warnings.dedup();
    out.warnings
}

/// Every load error of `error`, each with its line and the offending text
/// underlined; `file` is read again for the context.
pub fn render(error: &super::PolicyError, file: &std::path::Path) -> String {
    let text = std::fs::read_to_string(file).ok();
    error
        .diagnostics
        .iter()
        .map(|d| super::diagnostic::render(d, text.as_deref()))
        .collect::<Vec<_>>()
        .join("\n")
}

struct Checker<'a> {
    policy: &'a Policy,
    signatures: Signatures,
    warnings: Vec<Warning>,
}

impl Checker<'_> {
    /// A warning at the first occurrence of `needle` at or after the rule's line
    /// (the rule's `call` when there is none).
    fn warn(&mut self, rule: &Rule, needle: Option<&str>, message: String) {
        let source = self.policy.source();
        let line_start: usize = source
            .split_inclusive('\n')
            .take(rule.line.saturating_sub(1))
            .map(str::len)
            .sum();
        let found = needle.and_then(|n| {
            source
                .get(line_start..)
                .and_then(|rest| rest.find(n))
                .map(|i| (line_start + i, n.chars().count()))
        });
        let (offset, width) = found.unwrap_or_else(|| {
            let call = format!("\"{}\"", rule.call);
            source
                .get(line_start..)
                .and_then(|rest| rest.find(&call))
                .map_or((line_start, 0), |i| (line_start + i, call.chars().count()))
        });
        let locator = super::diagnostic::Locator::new(self.policy.name(), source);
        let mut d = locator.at(offset, message);
        d.width = width;
        self.warnings.push(Warning(d));
    }

    fn shadowing(&mut self, rule: &Rule) {
        if rule.kind == RuleKind::Deny {
            return;
        }
        let rules = self.policy.rules();
        let all = pieces(rule);
        let by = |kind: RuleKind| {
            rules
                .iter()
                .filter(|o| o.kind == kind && o.index != rule.index)
                .find(|o| all.iter().all(|p| contains(o, p)))
        };
        let all_denied = all.iter().all(|p| {
            rules
                .iter()
                .any(|d| d.kind == RuleKind::Deny && contains(d, p))
        });
        if all_denied {
            let which = by(RuleKind::Deny).map_or("[[deny]] rules".to_owned(), |d| d.label.clone());
            self.warn(
                rule,
                None,
                format!(
                    "this {} can never take effect: every call it matches is refused by {which} (deny wins)",
                    rule.kind.table()
                ),
            );
            return;
        }
        if rule.kind == RuleKind::Allow
            && let Some(ask) = by(RuleKind::Ask)
        {
            self.warn(
                rule,
                None,
                format!(
                    "this [[allow]] never allows anything: {} matches every call it does, and asks are decided before allows",
                    ask.label
                ),
            );
        }
    }

    fn conditions(&mut self, rule: &Rule) {
        let interface = rule.call.interface();
        // A tool's or MCP server's parameters are not in the host's WIT.
        if interface.starts_with("tools.") || interface.starts_with("mcp.") {
            return;
        }
        let functions: Vec<(String, Vec<(String, String)>)> = match &rule.call {
            CallPattern::Function { function, .. } => self
                .signatures
                .params(interface, function)
                .map(|p| vec![(function.clone(), p.to_vec())])
                .unwrap_or_default(),
            CallPattern::Interface(_) => self
                .signatures
                .functions(interface)
                .map(|(f, p)| (f.to_owned(), p.to_vec()))
                .collect(),
        };
        if functions.is_empty() {
            return;
        }
        for condition in &rule.conditions {
            let steps = condition.path.steps();
            let Some(Step::Key(first)) = steps.first() else {
                continue;
            };
            // The paths this argument list offers, one or two steps deep,
            // and the WIT type the condition's path lands on, when known.
            let mut known: Vec<String> = Vec::new();
            let mut ok = false;
            let mut landed: Option<String> = None;
            for (_, params) in &functions {
                for (name, ty) in params {
                    match self.signatures.fields(interface, ty) {
                        Some(fields) => {
                            known.extend(fields.iter().map(|(f, _)| format!("{name}.{f}")));
                            if name == first {
                                match steps.get(1) {
                                    Some(Step::Key(k)) => {
                                        if let Some((_, t)) = fields.iter().find(|(f, _)| f == k) {
                                            ok = true;
                                            if steps.len() == 2 {
                                                landed = Some(t.clone());
                                            }
                                        }
                                    }
                                    Some(Step::Index(_)) => {}
                                    None => ok = true,
                                }
                            }
                        }
                        None => {
                            known.push(name.clone());
                            if name == first {
                                ok = true;
                                if steps.len() == 1 {
                                    landed = Some(ty.clone());
                                }
                            }
                        }
                    }
                }
            }
            if ok {
                if let Some(ty) = landed
                    && let Some(why) = type_mismatch(&ty, &condition.comparisons)
                {
                    let effect = inert_effect(rule);
                    self.warn(
                        rule,
                        Some(&condition.path.source),
                        format!(
                            "`where` compares `{}` (a WIT `{ty}`) {why}, which is never true, so {effect}",
                            escape(&condition.path.source)
                        ),
                    );
                }
                continue;
            }
            known.sort();
            known.dedup();
            let source = &condition.path.source;
            let hint = did_you_mean(source, known.iter().map(String::as_str))
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            let effect = inert_effect(rule);
            self.warn(
                rule,
                Some(source),
                format!(
                    "`where` path `{}` names no argument of {} (it takes {}), so the condition is never true and {effect}{hint}",
                    escape(source),
                    rule.call,
                    known.join(", ")
                ),
            );
        }
    }

    fn tool_function(&mut self, rule: &Rule) {
        let CallPattern::Function {
            interface,
            function,
        } = &rule.call
        else {
            return;
        };
        if !interface.starts_with("tools.")
            || function
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return;
        }
        let kebab = kebab_case(function);
        self.warn(
            rule,
            Some(function),
            format!(
                "`{}` is not a WIT function name (WIT names are kebab-case; the JavaScript `{}` is `{kebab}` here), so this rule never matches; did you mean `{interface}.{kebab}`?",
                escape(function),
                escape(function)
            ),
        );
    }

    fn patterns(&mut self, rule: &Rule) {
        for url in rule.urls.iter().flatten() {
            let source = url.source.as_str();
            let lower = source.to_ascii_lowercase();
            if lower.contains(",http://") || lower.contains(",https://") {
                self.warn(
                    rule,
                    Some(source),
                    format!(
                        "`{}` looks like two URL patterns joined by a comma; it is one pattern that matches neither — write each as its own list item",
                        escape(source)
                    ),
                );
            }
            if matches!(&url.host, HostPattern::Exact(h) | HostPattern::Subdomains(h) if h.is_empty())
            {
                self.warn(
                    rule,
                    Some(source),
                    format!(
                        "`{}` has an empty host after normalisation, so it matches no request",
                        escape(source)
                    ),
                );
            }
            let path = url.path.as_str();
            let dot_segment = path.split('/').any(|s| s == "." || s == "..");
            let empty_segment = path
                .strip_prefix('/')
                .is_some_and(|p| p.split('/').rev().skip(1).any(str::is_empty));
            let escaped = has_unreserved_escape(path);
            if dot_segment || empty_segment || escaped {
                let why = if dot_segment {
                    "request paths never contain `.` or `..` segments (they are resolved before matching)"
                } else if empty_segment {
                    "request paths have runs of `/` collapsed before matching"
                } else {
                    "request paths have escaped letters, digits and `-._~` decoded before matching"
                };
                self.warn(
                    rule,
                    Some(source),
                    format!("`{}` can never match: {why}", escape(source)),
                );
            }
        }
        for glob in rule.paths.iter().flatten() {
            let source = glob.source.as_str();
            if comma_outside_braces(source) {
                self.warn(
                    rule,
                    Some(source),
                    format!(
                        "`{}` looks like two globs joined by a comma; it is one glob for a name with a comma in it — write each as its own list item",
                        escape(source)
                    ),
                );
            }
        }
    }

    fn note(&mut self, rule: &Rule) {
        let Some(note) = &rule.note else { return };
        if note
            .chars()
            .any(|c| c != '\n' && c != '\t' && crate::unicode::is_hidden(c))
        {
            self.warn(
                rule,
                None,
                format!(
                    "the note has invisible or control characters (shown escaped: \"{}\"); they can hide or repaint text on a terminal",
                    escape(note)
                ),
            );
        }
    }
}

/// How a comparison cannot hold for a value of WIT type `ty`, if it cannot.
fn type_mismatch(ty: &str, comparisons: &[super::Comparison]) -> Option<&'static str> {
    use super::Comparison::{Eq, Ge, Gt, In, Le, Lt, Prefix};
    let ty = ty
        .strip_prefix("option<")
        .and_then(|t| t.strip_suffix('>'))
        .unwrap_or(ty);
    let number = matches!(
        ty,
        "u8" | "u16" | "u32" | "u64" | "s8" | "s16" | "s32" | "s64" | "f32" | "f64"
    );
    let string = ty == "string";
    if !number && !string {
        return None;
    }
    let fits = |v: &serde_json::Value| if number { v.is_number() } else { v.is_string() };
    comparisons.iter().find_map(|c| match c {
        Prefix(_) if number => Some("with a string prefix"),
        Lt(_) | Le(_) | Gt(_) | Ge(_) if string => Some("as a number"),
        Eq(v) if !fits(v) => Some(if number {
            "with a non-number"
        } else {
            "with a non-string"
        }),
        In(vs) if !vs.iter().any(fits) => Some(if number {
            "with non-numbers only"
        } else {
            "with non-strings only"
        }),
        _ => None,
    })
}

/// `countWords` → `count-words`.
fn kebab_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 && !out.ends_with('-') {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else if c == '_' {
            out.push('-');
        } else {
            out.push(c);
        }
    }
    out
}

fn comma_outside_braces(glob: &str) -> bool {
    let mut depth = 0usize;
    for c in glob.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// `%61`: an escape the request side decodes, so a pattern spelling it never matches.
fn has_unreserved_escape(path: &str) -> bool {
    path.match_indices('%').any(|(i, _)| {
        path.get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    })
}

/// What a rule whose condition is never true does: nothing.
fn inert_effect(rule: &Rule) -> &'static str {
    if rule.kind == RuleKind::Deny {
        "this deny refuses nothing"
    } else {
        "this rule matches nothing"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javascript_names_become_kebab_case() {
        assert_eq!(kebab_case("countWords"), "count-words");
        assert_eq!(kebab_case("to_upper"), "to-upper");
    }
}
