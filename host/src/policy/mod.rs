//! `policy.toml`: the one place permissions live.
//!
//! Threat model: a script (written by a model, so possibly hostile or confused)
//! asks for effects by calling host functions. This module decides each call from
//! the reviewed policy alone — no wasmtime here, so it can be read, tested and
//! fuzzed in isolation. It blocks every call no rule allows (an empty policy
//! denies everything), matches typed, parsed values (URLs, hosts, ports, paths,
//! methods, JSON values), never raw strings, and enforces call and egress budgets.
//! It does not resolve names, open files or judge addresses: the tools do that
//! after the gate, as a second line.
//!
//! Precedence, highest first:
//! 1. run budgets (`[run] max-calls`, `max-egress`): over budget is a `limit` error;
//! 2. `[[deny]]`: any matching deny rule refuses the call, whatever else matches;
//! 3. `[[ask]]`: a person decides (a grant from earlier may stand in);
//! 4. `[[allow]]`: the first matching allow rule with calls left allows it; if
//!    all matching allow rules are out of calls, it is a `limit` error;
//! 5. nothing matched: denied by default.

pub(crate) mod catalog;
mod condition;
pub mod diagnostic;
pub mod diff;
mod explain;
pub mod fs;
pub mod http;
mod schema;
mod tools;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};
use toml::Spanned;

pub use catalog::Catalog;
pub use condition::{Comparison, Condition, JsonPath};
use diagnostic::Locator;
pub use diagnostic::{Diagnostic, PolicyError};
use fs::{Coverage, PathGlob, PathIndex, WorkspacePath};
use http::{HttpTarget, Method, UrlPattern};
use schema::{RawCondition, RawPolicy, RawRule};
pub use tools::{Caller, ToolSettings, is_tool_name};

/// The only policy language version so far.
pub const VERSION: i64 = 1;

/// The rule name reported when nothing allows a call.
pub const DEFAULT_DENY_RULE: &str = "default-deny";

/// One call a script made, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The interface's short name: `http`, `fs`, … (`tools.NAME` for a tool).
    pub interface: &'a str,
    /// The function's WIT name: `fetch`, `read-text`, …
    pub function: &'a str,
    /// The arguments as a JSON object keyed by WIT parameter name.
    pub args: &'a Json,
}

impl Call<'_> {
    /// `interface.function`, the name rules use.
    pub fn name(&self) -> String {
        format!("{}.{}", self.interface, self.function)
    }
}

/// allow, ask or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleKind {
    Allow,
    Ask,
    Deny,
}

impl RuleKind {
    pub fn table(self) -> &'static str {
        match self {
            Self::Allow => "[[allow]]",
            Self::Ask => "[[ask]]",
            Self::Deny => "[[deny]]",
        }
    }
}

/// Which functions a rule names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CallPattern {
    /// `http.fetch`.
    Function { interface: String, function: String },
    /// `fs.*`.
    Interface(String),
}

impl CallPattern {
    pub fn interface(&self) -> &str {
        match self {
            Self::Function { interface, .. } | Self::Interface(interface) => interface,
        }
    }
}

impl fmt::Display for CallPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Function {
                interface,
                function,
            } => write!(f, "{interface}.{function}"),
            Self::Interface(interface) => write!(f, "{interface}.*"),
        }
    }
}

/// One rule, compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    pub kind: RuleKind,
    /// Position among all rules; budgets are kept by it.
    pub index: usize,
    pub line: usize,
    /// `policy.toml:12 [[allow]] http.fetch`: how errors and audit name the rule.
    pub label: String,
    pub call: CallPattern,
    pub urls: Option<Vec<UrlPattern>>,
    pub methods: Option<Vec<Method>>,
    pub paths: Option<Vec<PathGlob>>,
    pub conditions: Vec<Condition>,
    pub max_calls: Option<u64>,
    pub secrets: Vec<String>,
    /// Whose calls the rule judges (`caller = …`; the script by default).
    pub caller: Caller,
    pub note: Option<String>,
}

/// `[run]`: limits for one script run. Absent values leave the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSettings {
    pub timeout: Option<Duration>,
    pub memory: Option<u64>,
    pub max_output: Option<u64>,
    pub max_calls: Option<u64>,
    pub max_egress: Option<u64>,
}

/// `[net]`: private addresses the http tool may reach (tests use loopback).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetSettings {
    pub allow_private: Vec<SocketAddr>,
}

/// A loaded policy.
#[derive(Debug, Clone)]
pub struct Policy {
    name: String,
    rules: Vec<Rule>,
    run: RunSettings,
    net: NetSettings,
    /// Every rule's path globs, matched in one pass per path.
    paths: PathIndex,
    /// The rules that name each function, so a decision looks at those only.
    index: RuleIndex,
    /// `[tools.NAME]`: the tool components that may be loaded.
    tools: BTreeMap<String, ToolSettings>,
    /// Whether this is the implicit empty policy (no file at all).
    implicit: bool,
}

/// What the policy says about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow {
        rule: String,
    },
    /// A person must decide; `scope` is what an "always" grant would cover.
    Ask {
        rule: String,
        scope: Scope,
    },
    Deny {
        rule: String,
        reason: String,
    },
    /// A budget ran out.
    Limit {
        rule: String,
        reason: String,
    },
    /// The arguments cannot be judged (a malformed URL, a path that leaves the
    /// workspace): refused before any rule is consulted.
    Invalid {
        reason: String,
    },
}

/// What a grant covers: the part of a call a rule's matchers look at. Two calls
/// with the same scope get the same fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `interface.function`.
    pub function: String,
    /// The scope-relevant arguments (canonical JSON: keys sorted).
    pub value: Json,
    /// The same in words, for approval prompts and `grants list`.
    pub summary: String,
}

impl Scope {
    /// The same scope, marked with its caller when that is a tool.
    fn for_caller(self, caller: &Caller) -> Self {
        match caller {
            Caller::Script => self,
            Caller::Tool(_) => Self {
                summary: format!("{} (by {caller})", self.summary),
                value: json!({ "caller": caller.to_string(), "scope": self.value }),
                function: self.function,
            },
        }
    }

    /// SHA-256 of the canonical encoding of (function, scope). Stable across key
    /// order, because `serde_json`'s maps are sorted.
    pub fn fingerprint(&self) -> String {
        let canonical = json!({ "function": self.function, "scope": self.value }).to_string();
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// Calls and bytes a run has used, against its budgets.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    total_calls: u64,
    egress: u64,
    per_rule: Vec<u64>,
}

impl Usage {
    pub fn total_calls(&self) -> u64 {
        self.total_calls
    }

    pub fn egress(&self) -> u64 {
        self.egress
    }

    fn rule_calls(&mut self, index: usize) -> &mut u64 {
        if self.per_rule.len() <= index {
            self.per_rule.resize(index + 1, 0);
        }
        &mut self.per_rule[index]
    }
}

impl Policy {
    /// The policy in force when no file is given: every call is denied.
    pub fn deny_all() -> Self {
        Self {
            name: "(no policy)".into(),
            rules: Vec::new(),
            run: RunSettings::default(),
            net: NetSettings::default(),
            paths: PathIndex::new([], 0).expect("an empty index builds"),
            index: RuleIndex::default(),
            tools: BTreeMap::new(),
            implicit: true,
        }
    }

    /// Reads and parses a policy file.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| PolicyError {
            diagnostics: vec![Diagnostic {
                file: name.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read the policy: {e}"),
            }],
        })?;
        let text = String::from_utf8(bytes).map_err(|e| PolicyError {
            diagnostics: vec![Locator::new(&name, "").at(
                0,
                format!(
                    "the policy is not UTF-8 (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            )],
        })?;
        Self::parse(&name, &text)
    }

    /// Parses policy text; `name` is used in diagnostics.
    pub fn parse(name: &str, text: &str) -> Result<Self, PolicyError> {
        let locator = Locator::new(name, text);
        let fail = |d: Diagnostic| PolicyError {
            diagnostics: vec![d],
        };
        if text.starts_with('\u{feff}') {
            return Err(fail(locator.at(
                0,
                "the file starts with a byte-order mark; save it as UTF-8 without BOM",
            )));
        }
        if let Some(offset) = text.find('\0') {
            return Err(fail(locator.at(offset, "the file contains a NUL byte")));
        }
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            fail(locator.at(offset, e.message().trim_end().to_owned()))
        })?;
        Compiler::new(&locator).compile(raw)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn run(&self) -> &RunSettings {
        &self.run
    }

    pub fn net(&self) -> &NetSettings {
        &self.net
    }

    /// `[tools.NAME]` tables, by name.
    pub fn tools(&self) -> &BTreeMap<String, ToolSettings> {
        &self.tools
    }

    /// The directory relative `[tools.NAME] component` paths start from.
    pub fn base_dir(&self) -> Option<&Path> {
        if self.implicit {
            return None;
        }
        Path::new(&self.name).parent()
    }

    /// What an "always" grant for this call would cover.
    pub fn scope(&self, call: &Call<'_>) -> Scope {
        Subject::of(call, None).scope(call)
    }

    /// What an "always" grant for this call by `caller` would cover: a tool's
    /// grant never covers the script's call, nor another tool's.
    pub fn scope_for(&self, caller: &Caller, call: &Call<'_>) -> Scope {
        self.scope(call).for_caller(caller)
    }

    /// Decides one call the script made, counting it against `usage`.
    pub fn decide(&self, call: &Call<'_>, usage: &mut Usage) -> Decision {
        self.decide_for(&Caller::Script, call, usage)
    }

    /// Decides one call made by `caller`, counting it against `usage`. Only rules
    /// for that caller are consulted.
    pub fn decide_for(&self, caller: &Caller, call: &Call<'_>, usage: &mut Usage) -> Decision {
        usage.total_calls += 1;
        if let Some(max) = self.run.max_calls
            && usage.total_calls > max
        {
            return Decision::Limit {
                rule: format!("{} [run] max-calls", self.name),
                reason: format!("this run may make at most {max} host calls"),
            };
        }
        let candidates = self.index.candidates(call);
        if candidates.is_empty() {
            return Decision::Deny {
                rule: DEFAULT_DENY_RULE.into(),
                reason: self.default_deny_reason(call, candidates),
            };
        }
        let subject = Subject::of(call, Some(&self.paths));
        if let Subject::Invalid(why) = &subject {
            return Decision::Invalid {
                reason: format!("{}: {why}", call.name()),
            };
        }
        // One pass over the rules naming this function, in file order. The first
        // matching deny rule decides at once; asks and allows are kept in order.
        let (mut asks, mut allows) = (Vec::new(), Vec::new());
        for &index in candidates {
            let rule = &self.rules[index];
            if rule.caller != *caller || !subject.satisfies(rule, call.args) {
                continue;
            }
            match rule.kind {
                RuleKind::Deny => {
                    let note = rule
                        .note
                        .as_ref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default();
                    return Decision::Deny {
                        rule: rule.label.clone(),
                        reason: format!("{} is denied by {}{note}", call.name(), rule.label),
                    };
                }
                RuleKind::Ask => asks.push(rule),
                RuleKind::Allow => allows.push(rule),
            }
        }
        for (kind, matching) in [(RuleKind::Ask, asks), (RuleKind::Allow, allows)] {
            let Some(&first) = matching.first() else {
                continue;
            };
            let Some(rule) = matching.into_iter().find(|r| {
                r.max_calls
                    .is_none_or(|max| *usage.rule_calls(r.index) < max)
            }) else {
                return Decision::Limit {
                    rule: first.label.clone(),
                    reason: format!(
                        "{} allows at most {} call(s) per run, and they are used up",
                        first.label,
                        first.max_calls.unwrap_or_default()
                    ),
                };
            };
            if let Some(limit) = self.charge_egress(&subject, usage) {
                return limit;
            }
            *usage.rule_calls(rule.index) += 1;
            return match kind {
                RuleKind::Ask => Decision::Ask {
                    rule: rule.label.clone(),
                    scope: subject.scope(call).for_caller(caller),
                },
                _ => Decision::Allow {
                    rule: rule.label.clone(),
                },
            };
        }
        Decision::Deny {
            rule: DEFAULT_DENY_RULE.into(),
            reason: self.default_deny_reason_for(caller, call, candidates),
        }
    }

    fn default_deny_reason_for(
        &self,
        caller: &Caller,
        call: &Call<'_>,
        candidates: &[usize],
    ) -> String {
        match caller {
            Caller::Script => self.default_deny_reason(call, candidates),
            Caller::Tool(_) => format!(
                "no rule in {} allows {} for {caller}; add a rule with `caller = \"{caller}\"`",
                self.name,
                call.name()
            ),
        }
    }

    fn charge_egress(&self, subject: &Subject, usage: &mut Usage) -> Option<Decision> {
        let bytes = subject.egress_bytes();
        if let Some(max) = self.run.max_egress
            && usage.egress + bytes > max
        {
            return Some(Decision::Limit {
                rule: format!("{} [run] max-egress", self.name),
                reason: format!(
                    "this run may send at most {}; this call would bring it to {}",
                    crate::size::show_size(max),
                    crate::size::show_size(usage.egress + bytes)
                ),
            });
        }
        usage.egress += bytes;
        None
    }

    fn default_deny_reason(&self, call: &Call<'_>, candidates: &[usize]) -> String {
        let name = call.name();
        if self.implicit {
            return format!(
                "no policy is in force, so every call is denied; allow `{name}` in a policy file (clambot run --policy FILE)"
            );
        }
        let near: Vec<&str> = candidates
            .iter()
            .map(|&i| &self.rules[i])
            .filter(|r| r.kind != RuleKind::Deny)
            .map(|r| r.label.as_str())
            .collect();
        if near.is_empty() {
            format!(
                "no rule in {} allows {name}; add an [[allow]] or [[ask]] rule for it",
                self.name
            )
        } else {
            format!(
                "{name} with these arguments is outside every rule for it ({})",
                near.join("; ")
            )
        }
    }
}

/// The rules naming each function, in file order: a decision looks only at the
/// rules for the call's function (interface wildcards included), never scanning
/// or string-comparing the whole policy. This is on the gate's hot path.
#[derive(Debug, Clone, Default)]
struct RuleIndex {
    interfaces: HashMap<String, InterfaceRules>,
}

#[derive(Debug, Clone, Default)]
struct InterfaceRules {
    /// Rules naming `interface.*`.
    wildcard: Vec<usize>,
    /// Per function named by some rule: its rules and the wildcard ones.
    functions: HashMap<String, Vec<usize>>,
}

impl RuleIndex {
    /// `rules` must be in file order with `index` set.
    fn new(rules: &[Rule]) -> Self {
        let mut index = Self::default();
        for rule in rules {
            let entry = index
                .interfaces
                .entry(rule.call.interface().to_owned())
                .or_default();
            match &rule.call {
                CallPattern::Interface(_) => {
                    entry.wildcard.push(rule.index);
                    for list in entry.functions.values_mut() {
                        list.push(rule.index);
                    }
                }
                CallPattern::Function { function, .. } => {
                    let wildcard = entry.wildcard.clone();
                    entry
                        .functions
                        .entry(function.clone())
                        .or_insert(wildcard)
                        .push(rule.index);
                }
            }
        }
        index
    }

    /// The rules that name `call`'s function, in file order.
    fn candidates(&self, call: &Call<'_>) -> &[usize] {
        self.interfaces.get(call.interface).map_or(&[], |i| {
            i.functions.get(call.function).unwrap_or(&i.wildcard)
        })
    }
}

/// The parsed, typed view of a call's arguments that matchers compare against.
#[derive(Debug)]
enum Subject {
    Http(HttpTarget),
    /// The normalised paths, and the rules whose globs cover them.
    Fs(Vec<WorkspacePath>, Option<Coverage>),
    /// Arguments that cannot be judged (bad URL, escaping path): nothing matches.
    Invalid(String),
    Other,
}

impl Subject {
    fn of(call: &Call<'_>, index: Option<&PathIndex>) -> Self {
        match call.interface {
            "http" => Self::http(call.args).unwrap_or_else(Self::Invalid),
            "fs" => {
                let mut paths = Vec::new();
                for name in fs::PATH_ARGUMENTS {
                    if let Some(raw) = call.args.get(*name).and_then(Json::as_str) {
                        match WorkspacePath::normalise(raw) {
                            Ok(path) => paths.push(path),
                            Err(why) => return Self::Invalid(why),
                        }
                    }
                }
                if paths.is_empty() {
                    return Self::Invalid("the call names no path".into());
                }
                let coverage = index.map(|i| i.coverage(&paths));
                Self::Fs(paths, coverage)
            }
            _ => Self::Other,
        }
    }

    fn http(args: &Json) -> Result<Self, String> {
        let request = args.get("req");
        let raw_url = request
            .and_then(|r| r.get("url"))
            .or_else(|| args.get("url"))
            .and_then(Json::as_str)
            .ok_or("the call has no URL")?;
        let (url, scheme, host, port, path) = HttpTarget::parse(raw_url)?;
        let method = match request.and_then(|r| r.get("method")).and_then(Json::as_str) {
            Some(text) => Some(
                Method::parse(text)
                    .ok_or_else(|| format!("`{text}` is not an HTTP method ({})", http::METHODS))?,
            ),
            None => Some(Method::Get),
        };
        let secret = request
            .and_then(|r| r.get("bearer-secret"))
            .and_then(Json::as_str)
            .map(str::to_owned);
        let text_len = |v: Option<&Json>| v.and_then(Json::as_str).map_or(0, str::len) as u64;
        let headers: u64 = request
            .and_then(|r| r.get("headers"))
            .and_then(Json::as_array)
            .map_or(0, |hs| {
                hs.iter()
                    .map(|h| text_len(h.get("name")) + text_len(h.get("value")))
                    .sum()
            });
        let egress = raw_url.len() as u64 + headers + text_len(request.and_then(|r| r.get("body")));
        Ok(Self::Http(HttpTarget {
            url,
            scheme,
            host,
            port,
            path,
            method,
            secret,
            egress,
        }))
    }

    fn satisfies(&self, rule: &Rule, args: &Json) -> bool {
        let conditions = rule.conditions.iter().all(|c| c.holds(args));
        conditions
            && match self {
                Self::Invalid(_) => false,
                Self::Other => true,
                Self::Http(target) => {
                    rule.urls.as_ref().is_none_or(|urls| urls.iter().any(|u| u.matches(target)))
                        && rule.methods.as_ref().is_none_or(|ms| target.method.is_some_and(|m| ms.contains(&m)))
                        // A deny rule covers a call whatever secret it names; an allow
                        // or ask rule lets only its listed secrets be injected.
                        && (rule.kind == RuleKind::Deny
                            || target.secret.as_ref().is_none_or(|s| rule.secrets.contains(s)))
                }
                Self::Fs(_, coverage) => {
                    rule.paths.is_none()
                        || coverage.as_ref().is_some_and(|c| {
                            if rule.kind == RuleKind::Deny {
                                c.any.contains(rule.index)
                            } else {
                                c.all.contains(rule.index)
                            }
                        })
                }
            }
    }

    /// Bytes an allowed call sends: URL, headers and body for http; nothing else
    /// leaves the machine.
    fn egress_bytes(&self) -> u64 {
        match self {
            Self::Http(target) => target.egress,
            _ => 0,
        }
    }

    fn scope(&self, call: &Call<'_>) -> Scope {
        let function = call.name();
        let (value, summary) = match self {
            Self::Http(target) => {
                let origin = target.url.origin().ascii_serialization();
                let method = target.method.map_or("?", Method::as_str);
                (
                    json!({ "method": method, "origin": origin }),
                    format!("{method} {origin}"),
                )
            }
            Self::Fs(paths, _) => {
                let shown: Vec<&str> = paths.iter().map(WorkspacePath::as_str).collect();
                (json!({ "paths": shown }), shown.join(", "))
            }
            Self::Invalid(_) | Self::Other => (call.args.clone(), call.args.to_string()),
        };
        Scope {
            summary: format!("{function} {summary}"),
            function,
            value,
        }
    }
}

/// Turns the serde shape into typed rules, collecting every problem.
struct Compiler<'a> {
    locator: &'a Locator<'a>,
    catalog: Catalog,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Compiler<'a> {
    fn new(locator: &'a Locator<'a>) -> Self {
        Self {
            locator,
            catalog: Catalog::host(),
            diagnostics: Vec::new(),
        }
    }

    fn error<T>(&mut self, span: &std::ops::Range<usize>, message: impl Into<String>) -> Option<T> {
        self.diagnostics.push(self.locator.span(span, message));
        None
    }

    fn compile(mut self, raw: RawPolicy) -> Result<Policy, PolicyError> {
        match &raw.version {
            None => {
                self.diagnostics.push(self.locator.at(
                    0,
                    format!("missing `version = {VERSION}` (the policy language version)"),
                ));
            }
            Some(v) if *v.get_ref() != VERSION => {
                self.error::<()>(
                    &v.span(),
                    format!(
                        "unsupported version {}; this clambot understands `version = {VERSION}`",
                        v.get_ref()
                    ),
                );
            }
            Some(_) => {}
        }
        let run = raw.run.map(|r| self.run_settings(r)).unwrap_or_default();
        let net = raw.net.map(|n| self.net_settings(n)).unwrap_or_default();
        let mut tools = BTreeMap::new();
        for (name, raw_tool) in raw.tools {
            if let Some(tool) = self.tool(&name, raw_tool) {
                tools.insert(name, tool);
            }
        }
        let mut rules = Vec::new();
        for (kind, raws) in [
            (RuleKind::Allow, raw.allow),
            (RuleKind::Ask, raw.ask),
            (RuleKind::Deny, raw.deny),
        ] {
            for raw_rule in raws {
                if let Some(rule) = self.rule(kind, rules.len(), raw_rule, &tools) {
                    rules.push(rule);
                }
            }
        }
        rules.sort_by_key(|r| r.line);
        for (index, rule) in rules.iter_mut().enumerate() {
            rule.index = index;
        }
        if !self.diagnostics.is_empty() {
            self.diagnostics.sort_by_key(|d| (d.line, d.column));
            return Err(PolicyError {
                diagnostics: self.diagnostics,
            });
        }
        let paths = PathIndex::new(
            rules
                .iter()
                .filter_map(|r| Some((r.index, r.paths.as_deref()?))),
            rules.len(),
        )
        .map_err(|e| PolicyError {
            diagnostics: vec![self.locator.at(0, e)],
        })?;
        let index = RuleIndex::new(&rules);
        Ok(Policy {
            name: self.locator.file().to_owned(),
            index,
            rules,
            run,
            net,
            paths,
            tools,
            implicit: false,
        })
    }

    fn size(&mut self, value: Option<Spanned<String>>) -> Option<u64> {
        let value = value?;
        match crate::size::parse_size(value.get_ref()) {
            Ok(n) => Some(n),
            Err(e) => self.error(&value.span(), e),
        }
    }

    fn count(&mut self, value: Option<Spanned<i64>>, what: &str) -> Option<u64> {
        let value = value?;
        match u64::try_from(*value.get_ref()) {
            Ok(n) if n > 0 => Some(n),
            _ => self.error(&value.span(), format!("{what} must be a positive integer")),
        }
    }

    fn run_settings(&mut self, raw: schema::RawRun) -> RunSettings {
        let timeout = raw
            .timeout
            .and_then(|t| match crate::size::parse_duration(t.get_ref()) {
                Ok(d) if !d.is_zero() => Some(d),
                Ok(_) => self.error(&t.span(), "timeout must be longer than zero"),
                Err(e) => self.error(&t.span(), e),
            });
        RunSettings {
            timeout,
            memory: self.size(raw.memory),
            max_output: self.size(raw.max_output),
            max_calls: self.count(raw.max_calls, "max-calls"),
            max_egress: self.size(raw.max_egress),
        }
    }

    fn net_settings(&mut self, raw: schema::RawNet) -> NetSettings {
        let mut allow_private = Vec::new();
        for entry in raw.allow_private {
            match entry.get_ref().parse::<SocketAddr>() {
                Ok(addr) => allow_private.push(addr),
                Err(_) => {
                    self.error::<()>(&entry.span(), format!(
                        "`{}` is not an address with a port, such as `127.0.0.1:8080` or `[::1]:8080`",
                        entry.get_ref()
                    ));
                }
            }
        }
        NetSettings { allow_private }
    }

    fn call_pattern(&mut self, call: &Spanned<String>) -> Option<CallPattern> {
        let text = call.get_ref();
        let span = call.span();
        let interfaces: Vec<&str> = self.catalog.interfaces().collect();
        let Some((interface, function)) = text.rsplit_once('.') else {
            return self.error(&span, format!(
                "`{text}` is not a call; write `interface.function` (e.g. `http.fetch`) or `interface.*`; interfaces: {}",
                interfaces.join(", ")
            ));
        };
        if let Some(tool) = interface.strip_prefix("tools.") {
            if tool.is_empty()
                || function.is_empty()
                || !tool.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            {
                return self.error(
                    &span,
                    format!(
                        "`{text}` is not a tool call; write `tools.NAME.function` or `tools.NAME.*`"
                    ),
                );
            }
        } else if !self.catalog.has_interface(interface) {
            return self.error(
                &span,
                format!(
                    "unknown interface `{interface}`; expected one of: {}",
                    interfaces.join(", ")
                ),
            );
        } else if function != "*"
            && !self
                .catalog
                .functions(interface)
                .iter()
                .any(|f| f == function)
        {
            return self.error(
                &span,
                format!(
                    "`{interface}` has no function `{function}`; expected one of: {}, or `*`",
                    self.catalog.functions(interface).join(", ")
                ),
            );
        }
        Some(if function == "*" {
            CallPattern::Interface(interface.to_owned())
        } else {
            CallPattern::Function {
                interface: interface.to_owned(),
                function: function.to_owned(),
            }
        })
    }

    /// Parses each item of a non-empty list.
    fn list<T>(
        &mut self,
        key: &str,
        raw: Option<Spanned<Vec<Spanned<String>>>>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<Vec<T>> {
        let raw = raw?;
        if raw.get_ref().is_empty() {
            return self.error(&raw.span(), format!(
                "`{key}` is an empty list; remove the key to match everything, or list at least one entry"
            ));
        }
        let mut out = Vec::new();
        for item in raw.into_inner() {
            match parse(item.get_ref()) {
                Ok(v) => out.push(v),
                Err(e) => {
                    self.error::<()>(&item.span(), e);
                }
            }
        }
        Some(out)
    }

    fn only_for(
        &mut self,
        key: &str,
        interface: &str,
        pattern: &CallPattern,
        span: Option<std::ops::Range<usize>>,
    ) {
        if let Some(span) = span
            && pattern.interface() != interface
        {
            self.error::<()>(
                &span,
                format!("`{key}` applies to `{interface}` rules only, not to `{pattern}`"),
            );
        }
    }

    fn rule(
        &mut self,
        kind: RuleKind,
        index: usize,
        raw: RawRule,
        tools: &BTreeMap<String, ToolSettings>,
    ) -> Option<Rule> {
        let line = self.locator.line_of(&raw.call.span());
        let call = self.call_pattern(&raw.call);
        let tool_names: Vec<String> = tools.keys().cloned().collect();
        let caller_span = raw.caller.as_ref().map(Spanned::span);
        let caller = self.caller(raw.caller, &tool_names);
        if let Some(pattern) = &call {
            self.rule_names_tools(
                pattern,
                &raw.call.span(),
                caller.as_ref(),
                caller_span,
                tools,
            );
        }
        if let Some(pattern) = &call {
            self.only_for("url", "http", pattern, raw.url.as_ref().map(Spanned::span));
            self.only_for(
                "method",
                "http",
                pattern,
                raw.method.as_ref().map(Spanned::span),
            );
            self.only_for(
                "secrets",
                "http",
                pattern,
                raw.secrets.as_ref().map(Spanned::span),
            );
            self.only_for("path", "fs", pattern, raw.path.as_ref().map(Spanned::span));
            if kind == RuleKind::Deny
                && let Some(s) = &raw.secrets
            {
                self.error::<()>(
                    &s.span(),
                    "`secrets` grants injection, so it belongs on [[allow]] or [[ask]] rules",
                );
            }
        }
        let urls = self.list("url", raw.url, UrlPattern::parse);
        let methods = self.list("method", raw.method, |m| {
            Method::parse(m).filter(|_| !m.is_empty()).ok_or_else(|| {
                format!(
                    "`{m}` is not an HTTP method; expected one of {}",
                    http::METHODS
                )
            })
        });
        let paths = self.list("path", raw.path, PathGlob::parse);

        let secrets = self
            .list("secrets", raw.secrets, |s| {
                if !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    Ok(s.to_owned())
                } else {
                    Err(format!(
                        "`{s}` is not a secret name (letters, digits, `_` and `-`)"
                    ))
                }
            })
            .unwrap_or_default();
        let conditions = raw
            .conditions
            .map(|c| self.conditions(c))
            .unwrap_or_default();
        let max_calls = self.count(raw.max_calls, "max-calls");
        let call = call?;
        let caller = caller?;
        let by = match &caller {
            Caller::Script => String::new(),
            Caller::Tool(_) => format!(" (caller {caller})"),
        };
        Some(Rule {
            kind,
            index,
            line,
            label: format!("{}:{line} {} {call}{by}", self.locator.file(), kind.table()),
            caller,
            call,
            urls,
            methods,
            paths,
            conditions,
            max_calls,
            secrets,
            note: raw.note,
        })
    }

    /// A `tools.NAME.…` rule must name a declared tool, and a rule for a tool's
    /// calls must name an interface the tool imports.
    fn rule_names_tools(
        &mut self,
        pattern: &CallPattern,
        span: &std::ops::Range<usize>,
        caller: Option<&Caller>,
        caller_span: Option<std::ops::Range<usize>>,
        tools: &BTreeMap<String, ToolSettings>,
    ) {
        let interface = pattern.interface();
        if let Some(tool) = interface.strip_prefix("tools.")
            && !tools.contains_key(tool)
        {
            self.error::<()>(
                span,
                format!(
                    "`{pattern}` names the tool `{tool}`, but there is no [tools.{tool}] table to load it from (declared: {})",
                    if tools.is_empty() { "none".to_owned() } else { tools.keys().cloned().collect::<Vec<_>>().join(", ") }
                ),
            );
        }
        let (Some(Caller::Tool(name)), Some(caller_span)) = (caller, caller_span) else {
            return;
        };
        if interface.starts_with("tools.") {
            self.error::<()>(
                &caller_span,
                format!("a tool cannot call tools: `{pattern}` is only for the script's calls; remove `caller`"),
            );
        } else if let Some(tool) = tools.get(name)
            && !tool.imports.iter().any(|i| i == interface)
        {
            self.error::<()>(
                &caller_span,
                format!(
                    "tools.{name} does not import `{interface}`; add it to `imports` in [tools.{name}] (policy.toml:{}) or remove this rule",
                    tool.line
                ),
            );
        }
    }

    fn conditions(
        &mut self,
        raw: Spanned<BTreeMap<String, Spanned<RawCondition>>>,
    ) -> Vec<Condition> {
        let span = raw.span();
        let raw = raw.into_inner();
        if raw.is_empty() {
            return self
                .error(
                    &span,
                    "`where` is empty; remove it, or give at least one condition",
                )
                .unwrap_or_default();
        }
        let mut out = Vec::new();
        for (path, condition) in raw {
            let span = condition.span();
            let path = match JsonPath::parse(&path) {
                Ok(p) => p,
                Err(e) => {
                    self.error::<()>(&span, e);
                    continue;
                }
            };
            let c = condition.into_inner();
            let mut comparisons = Vec::new();
            if let Some(v) = c.eq {
                comparisons.push(Comparison::Eq(toml_to_json(v)));
            }
            if let Some(vs) = c.one_of {
                if vs.is_empty() {
                    self.error::<()>(&span, "`in` needs at least one value");
                }
                comparisons.push(Comparison::In(vs.into_iter().map(toml_to_json).collect()));
            }
            if let Some(p) = c.prefix {
                comparisons.push(Comparison::Prefix(p));
            }
            for (n, make) in [
                (c.lt, Comparison::Lt as fn(f64) -> Comparison),
                (c.le, Comparison::Le),
                (c.gt, Comparison::Gt),
                (c.ge, Comparison::Ge),
            ] {
                if let Some(n) = n {
                    comparisons.push(make(n));
                }
            }
            if comparisons.is_empty() {
                self.error::<()>(
                    &span,
                    "a condition needs at least one of: eq, in, prefix, lt, le, gt, ge",
                );
                continue;
            }
            out.push(Condition { path, comparisons });
        }
        out
    }
}

fn toml_to_json(value: toml::Value) -> Json {
    match value {
        toml::Value::String(s) => Json::String(s),
        toml::Value::Integer(i) => Json::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number),
        toml::Value::Boolean(b) => Json::Bool(b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(a) => Json::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => {
            Json::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}
