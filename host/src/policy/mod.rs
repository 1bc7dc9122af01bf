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
//!
//! A policy narrowed by bounds (what a scheduled job runs under: the policies it
//! was made under, see [`bounds`]) decides each call this way in itself and in
//! every bound, and allows only what all of them allow.

pub mod bounds;
pub(crate) mod catalog;
pub mod check;
mod condition;
pub mod cover;
pub mod diagnostic;
pub mod diff;
mod explain;
pub mod fs;
pub mod http;
pub mod limits;
pub mod mcp;
mod schema;
pub mod suggest;
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
pub use mcp::{McpServerSettings, McpTransport};
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

/// `interface.function` split back into its parts, as [`Call::name`] joined
/// them: the function is after the last dot, except for an MCP tool
/// (`mcp.SERVER.TOOL`), whose name may contain dots.
pub fn split_call_name(name: &str) -> (&str, &str) {
    if let Some(rest) = name.strip_prefix("mcp.")
        && let Some((server, _)) = rest.split_once('.')
    {
        let cut = "mcp.".len() + server.len();
        return (&name[..cut], &name[cut + 1..]);
    }
    name.rsplit_once('.').unwrap_or((name, ""))
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
    /// SHA-256 of the rule's meaning (everything but its note and position):
    /// with [`Rule::index`] it is the rule's identity, which grants are bound to.
    pub content_sha256: String,
}

impl Rule {
    /// `INDEX:SHA256`: which rule this is and what it says. Editing, moving or
    /// removing the rule changes it, so grants given for it stop answering.
    pub fn identity(&self) -> String {
        format!("{}:{}", self.index, self.content_sha256)
    }
}

/// `[run]`: limits for one script run. Absent values leave the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSettings {
    pub timeout: Option<Duration>,
    pub memory: Option<u64>,
    pub max_output: Option<u64>,
    pub max_calls: Option<u64>,
    pub max_egress: Option<u64>,
    /// Host calls under way at once (`Promise.all`); more wait their turn.
    pub max_concurrent: Option<u64>,
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
    /// `[mcp.NAME]`: the MCP servers whose tools may be called.
    mcp: BTreeMap<String, McpServerSettings>,
    /// Whether this is the implicit empty policy (no file at all).
    implicit: bool,
    /// The text the policy was parsed from (empty for the implicit policy), and
    /// its SHA-256: what a job made by a run under this policy records.
    source: std::sync::Arc<str>,
    sha256: String,
    /// Policies this one is narrowed by (see [`bounds`]): a call is allowed only
    /// if this policy and every bound allow it.
    bounds: Vec<bounds::Bound>,
    /// Lines of the `[run]` and `[net]` tables, when present.
    run_line: Option<usize>,
    net_line: Option<usize>,
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
    /// The identity ([`Rule::identity`]) of the `ask` rule(s) that asked, when
    /// the scope is for a grant: a grant answers only the rule it was given for.
    pub rule: Option<String>,
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
                rule: self.rule,
            },
        }
    }

    /// The same scope, bound to the rule that asked.
    fn for_rule(mut self, rule: &Rule) -> Self {
        self.rule = Some(rule.identity());
        self
    }

    /// SHA-256 of the canonical encoding of (function, scope, asking rule).
    /// Stable across key order, because `serde_json`'s maps are sorted.
    pub fn fingerprint(&self) -> String {
        let canonical = match &self.rule {
            None => json!({ "function": self.function, "scope": self.value }),
            Some(rule) => json!({ "function": self.function, "scope": self.value, "rule": rule }),
        }
        .to_string();
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// Calls and bytes a run has used, against its budgets.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    total_calls: u64,
    egress: u64,
    per_rule: Vec<u64>,
    /// What the run has used of each bound's budgets, in [`Policy`] bound order.
    bounds: Vec<Usage>,
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
            mcp: BTreeMap::new(),
            implicit: true,
            source: "".into(),
            sha256: hex::encode(Sha256::digest(b"")),
            bounds: Vec::new(),
            run_line: None,
            net_line: None,
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
                width: 0,
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
            let message = e.message().trim_end().to_owned();
            let message = match unknown_field_hint(&message) {
                Some(hint) => format!("{message}; did you mean `{hint}`?"),
                None => message,
            };
            fail(match e.span() {
                Some(span) => locator.span(&span, message),
                None => locator.at(0, message),
            })
        })?;
        let mut policy = Compiler::new(&locator).compile(raw)?;
        policy.source = text.into();
        policy.sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(policy)
    }

    /// The text this policy was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// SHA-256 of [`Policy::source`], lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Whether this is the implicit policy of no file (everything denied).
    pub fn is_implicit(&self) -> bool {
        self.implicit
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// How many host calls a run may have under way at once.
    pub fn max_concurrent(&self) -> u32 {
        let n = self
            .run
            .max_concurrent
            .unwrap_or(limits::DEFAULT_MAX_CONCURRENT);
        u32::try_from(n.min(limits::MAX_CONCURRENT)).unwrap_or(1)
    }

    pub fn run(&self) -> &RunSettings {
        &self.run
    }

    pub fn net(&self) -> &NetSettings {
        &self.net
    }

    /// The line of the `[run]` table, if the file has one.
    pub fn run_line(&self) -> Option<usize> {
        self.run_line
    }

    /// The line of the `[net]` table, if the file has one.
    pub fn net_line(&self) -> Option<usize> {
        self.net_line
    }

    /// `[tools.NAME]` tables, by name.
    pub fn tools(&self) -> &BTreeMap<String, ToolSettings> {
        &self.tools
    }

    /// `[mcp.NAME]` tables, by name.
    pub fn mcp_servers(&self) -> &BTreeMap<String, McpServerSettings> {
        &self.mcp
    }

    /// The directory relative `[tools.NAME] component` paths start from.
    pub fn base_dir(&self) -> Option<&Path> {
        if self.implicit {
            return None;
        }
        Path::new(&self.name).parent()
    }

    /// Whether some `[[allow]]` or `[[ask]]` rule for the script names a
    /// function of `interface` (`mcp.NAME`): an MCP server no rule could let a
    /// call through to is never started, not even to look up a tool's name.
    pub fn may_let_through(&self, interface: &str) -> bool {
        self.rules.iter().any(|r| {
            r.kind != RuleKind::Deny
                && r.caller == Caller::Script
                && r.call.interface() == interface
        })
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
    /// for that caller are consulted. A policy with bounds allows only what it
    /// and every bound allow ([`bounds`]).
    pub fn decide_for(&self, caller: &Caller, call: &Call<'_>, usage: &mut Usage) -> Decision {
        let own = self.decide_unbounded(caller, call, usage);
        if self.bounds.is_empty() {
            return own;
        }
        bounds::combine(own, self, caller, call, usage)
    }

    fn decide_unbounded(&self, caller: &Caller, call: &Call<'_>, usage: &mut Usage) -> Decision {
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
        // `where` conditions see the arguments as the matchers do: normalised.
        let needs_view = candidates
            .iter()
            .any(|&i| !self.rules[i].conditions.is_empty());
        let view = if needs_view {
            subject.condition_view(call.args)
        } else {
            std::borrow::Cow::Borrowed(call.args)
        };
        for &index in candidates {
            let rule = &self.rules[index];
            if rule.caller != *caller || !subject.satisfies(rule, &view) {
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
                    scope: subject.scope(call).for_caller(caller).for_rule(rule),
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
        if let Some(server) = call.interface.strip_prefix("mcp.")
            && near.is_empty()
        {
            format!(
                "no rule in {} allows {name}; add an [[allow]] or [[ask]] rule for `mcp.{server}.TOOL`, naming the tool as the server spells it (`clambot mcp inspect {server}`)",
                self.name
            )
        } else if near.is_empty() {
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
    /// An MCP tool call: the bytes of its arguments, which leave the sandbox
    /// for another program (and perhaps another machine).
    Mcp {
        egress: u64,
    },
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
            i if i.starts_with("mcp.") => Self::Mcp {
                egress: call.args.to_string().len() as u64,
            },
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
                Self::Other | Self::Mcp { .. } => true,
                Self::Http(target) => {
                    // A deny catches any reading of the path; an allow or ask
                    // must cover every reading (see `http::PathReadings`).
                    rule.urls.as_ref().is_none_or(|urls| urls.iter().any(|u| if rule.kind == RuleKind::Deny {
                        u.matches_some_reading(target)
                    } else {
                        u.matches(target)
                    }))
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

    /// The arguments as `where` conditions see them: fs path arguments after
    /// normalisation (`./secrets/k` and `notes/../secrets/k` are `secrets/k`);
    /// for http, the method upper-cased (an absent or empty one is `GET`, as
    /// the gate judges it) and the URL as the WHATWG parser serialises it.
    fn condition_view<'a>(&self, args: &'a Json) -> std::borrow::Cow<'a, Json> {
        let mut view = args.clone();
        match self {
            Self::Fs(paths, _) => {
                let mut normalised = paths.iter();
                for name in fs::PATH_ARGUMENTS {
                    if args.get(*name).and_then(Json::as_str).is_some()
                        && let Some(path) = normalised.next()
                    {
                        view[*name] = Json::String(path.as_str().to_owned());
                    }
                }
            }
            Self::Http(target) => {
                if let Some(req) = view.get_mut("req").and_then(Json::as_object_mut) {
                    if let Some(method) = target.method {
                        req.insert("method".into(), Json::String(method.as_str().into()));
                    }
                    req.insert("url".into(), Json::String(target.url.as_str().into()));
                } else if let Some(obj) = view.as_object_mut()
                    && obj.contains_key("url")
                {
                    obj.insert("url".into(), Json::String(target.url.as_str().into()));
                }
            }
            Self::Invalid(_) | Self::Other | Self::Mcp { .. } => {
                return std::borrow::Cow::Borrowed(args);
            }
        }
        std::borrow::Cow::Owned(view)
    }

    /// Bytes an allowed call sends: URL, headers and body for http; the
    /// arguments for an MCP tool; nothing else leaves the sandbox's reach.
    fn egress_bytes(&self) -> u64 {
        match self {
            Self::Http(target) => target.egress,
            Self::Mcp { egress } => *egress,
            _ => 0,
        }
    }

    fn scope(&self, call: &Call<'_>) -> Scope {
        let function = call.name();
        let (value, summary) = match self {
            Self::Http(target) => {
                let origin = target.url.origin().ascii_serialization();
                let method = target.method.map_or("?", Method::as_str);
                // The secret a call injects is part of what a grant covers: a
                // grant for plain calls to an origin never lets a secret go there.
                match &target.secret {
                    None => (
                        json!({ "method": method, "origin": origin }),
                        format!("{method} {origin}"),
                    ),
                    Some(secret) => (
                        json!({ "method": method, "origin": origin, "secret": secret }),
                        format!("{method} {origin} with the secret `{secret}`"),
                    ),
                }
            }
            Self::Fs(paths, _) => {
                let shown: Vec<&str> = paths.iter().map(WorkspacePath::as_str).collect();
                (json!({ "paths": shown }), shown.join(", "))
            }
            Self::Invalid(_) | Self::Other | Self::Mcp { .. } => {
                (call.args.clone(), call.args.to_string())
            }
        };
        Scope {
            summary: format!("{function} {summary}"),
            function,
            value,
            rule: None,
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
        let run_line = raw.run.as_ref().map(|r| self.locator.line_of(&r.span()));
        let net_line = raw.net.as_ref().map(|n| self.locator.line_of(&n.span()));
        let run = raw
            .run
            .map(|r| self.run_settings(r.into_inner()))
            .unwrap_or_default();
        let net = raw
            .net
            .map(|n| self.net_settings(n.into_inner()))
            .unwrap_or_default();
        let mut tools = BTreeMap::new();
        for (name, raw_tool) in raw.tools {
            if let Some(tool) = self.tool(&name, raw_tool) {
                tools.insert(name, tool);
            }
        }
        // Rules are checked against every declared name, even one whose table has
        // errors of its own (reported there, not again at each rule).
        let mcp_names: Vec<String> = raw.mcp.keys().cloned().collect();
        let mut mcp = BTreeMap::new();
        for (name, raw_server) in raw.mcp {
            if let Some(server) = self.mcp_server(&name, raw_server) {
                mcp.insert(name, server);
            }
        }
        let mut rules = Vec::new();
        for (kind, raws) in [
            (RuleKind::Allow, raw.allow),
            (RuleKind::Ask, raw.ask),
            (RuleKind::Deny, raw.deny),
        ] {
            for raw_rule in raws {
                if let Some(rule) = self.rule(kind, rules.len(), raw_rule, &tools, &mcp_names) {
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
            mcp,
            implicit: false,
            source: self.locator.text().into(),
            sha256: String::new(),
            bounds: Vec::new(),
            run_line,
            net_line,
        })
    }

    fn size(&mut self, value: Option<Spanned<String>>) -> Option<u64> {
        let value = value?;
        match crate::size::parse_size(value.get_ref()) {
            Ok(n) => Some(n),
            Err(e) => self.error(&value.span(), e),
        }
    }

    /// A `timeout` of `[run]` or `[tools.NAME]`: a duration the sandbox can keep.
    fn timeout(&mut self, value: Option<Spanned<String>>) -> Option<Duration> {
        let value = value?;
        match crate::size::parse_duration(value.get_ref()).and_then(limits::check_timeout) {
            Ok(d) => Some(d),
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
        let timeout = self.timeout(raw.timeout);
        let memory = raw.memory.and_then(|m| {
            let span = m.span();
            let size = self.size(Some(m))?;
            match limits::check_run_memory(size) {
                Ok(n) => Some(n),
                Err(e) => self.error(&span, e),
            }
        });
        RunSettings {
            timeout,
            memory,
            max_output: self.size(raw.max_output),
            max_calls: self.count(raw.max_calls, "max-calls"),
            max_egress: self.size(raw.max_egress),
            max_concurrent: raw.max_concurrent.and_then(|value| {
                let span = value.span();
                match self.count(Some(value), "max-concurrent")? {
                    n if n > limits::MAX_CONCURRENT => self.error(
                        &span,
                        format!(
                            "max-concurrent {n} is more than a run may have under way at once (at most {})",
                            limits::MAX_CONCURRENT
                        ),
                    ),
                    n => Some(n),
                }
            }),
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
        if let Some(rest) = text.strip_prefix("mcp.") {
            return self.mcp_call_pattern(text, rest, &span);
        }
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
            let hint = diagnostic::did_you_mean(interface, interfaces.iter().copied())
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return self.error(
                &span,
                format!(
                    "unknown interface `{interface}`; expected one of: {}{hint}",
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
            let functions = self.catalog.functions(interface);
            let hint = diagnostic::did_you_mean(function, functions.iter().map(String::as_str))
                .map(|s| format!("; did you mean `{interface}.{s}`?"))
                .unwrap_or_default();
            return self.error(
                &span,
                format!(
                    "`{interface}` has no function `{function}`; expected one of: {}, or `*`{hint}",
                    functions.join(", ")
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

    /// `mcp.SERVER.TOOL` or `mcp.SERVER.*`: the server name has no dots, the
    /// tool name may (MCP tool names can contain `.`).
    fn mcp_call_pattern(
        &mut self,
        text: &str,
        rest: &str,
        span: &std::ops::Range<usize>,
    ) -> Option<CallPattern> {
        let Some((server, tool)) = rest.split_once('.') else {
            return self.error(
                span,
                format!("`{text}` is not an MCP call; write `mcp.SERVER.TOOL` or `mcp.SERVER.*`"),
            );
        };
        if !is_tool_name(server) {
            return self.error(
                span,
                format!("`{text}`: `{server}` is not an MCP server name; write `mcp.SERVER.TOOL` with the name of an [mcp.SERVER] table"),
            );
        }
        let interface = format!("mcp.{server}");
        if tool == "*" {
            return Some(CallPattern::Interface(interface));
        }
        if !mcp::is_mcp_tool_name(tool) {
            return self.error(
                span,
                format!("`{}` is not an MCP tool name (letters, digits, `_`, `-` and `.`, at most 128), or `*` for every tool", escape(tool)),
            );
        }
        Some(CallPattern::Function {
            interface,
            function: tool.to_owned(),
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
        mcp_names: &[String],
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
                caller_span.clone(),
                tools,
            );
            self.rule_names_mcp_server(
                pattern,
                &raw.call.span(),
                caller.as_ref(),
                caller_span,
                mcp_names,
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
        let urls = self.list("url", raw.url, |u| {
            visible("URL pattern", u).and_then(UrlPattern::parse)
        });
        let methods = self.list("method", raw.method, |m| {
            Method::parse(m).filter(|_| !m.is_empty()).ok_or_else(|| {
                format!(
                    "`{m}` is not an HTTP method; expected one of {}",
                    http::METHODS
                )
            })
        });
        let paths = self.list("path", raw.path, |p| {
            visible("path glob", p).and_then(PathGlob::parse)
        });

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
        let content = json!({
            "kind": kind.table(),
            "call": call.to_string(),
            "url": urls.as_ref().map(|us| us.iter().map(|u| u.source.clone()).collect::<Vec<_>>()),
            "method": methods.as_ref().map(|ms| ms.iter().map(|m| m.as_str()).collect::<Vec<_>>()),
            "path": paths.as_ref().map(|ps| ps.iter().map(|p| p.source.clone()).collect::<Vec<_>>()),
            "where": conditions.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "max-calls": max_calls,
            "secrets": secrets,
            "caller": caller.to_string(),
        });
        let content_sha256 = hex::encode(Sha256::digest(content.to_string().as_bytes()));
        Some(Rule {
            content_sha256,
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
        if interface.starts_with("mcp.") {
            // Reported by `rule_names_mcp_server`.
        } else if interface.starts_with("tools.") {
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

    /// An `mcp.NAME.…` rule must name a declared server, and judges only the
    /// script's calls (tool components do not call MCP servers).
    fn rule_names_mcp_server(
        &mut self,
        pattern: &CallPattern,
        span: &std::ops::Range<usize>,
        caller: Option<&Caller>,
        caller_span: Option<std::ops::Range<usize>>,
        mcp_names: &[String],
    ) {
        let Some(server) = pattern.interface().strip_prefix("mcp.") else {
            return;
        };
        if !mcp_names.iter().any(|n| n == server) {
            self.error::<()>(
                span,
                format!(
                    "`{pattern}` names the MCP server `{server}`, but there is no [mcp.{server}] table declaring it (declared: {})",
                    if mcp_names.is_empty() { "none".to_owned() } else { mcp_names.join(", ") }
                ),
            );
        }
        if let (Some(Caller::Tool(_)), Some(caller_span)) = (caller, caller_span) {
            self.error::<()>(
                &caller_span,
                format!("only scripts call MCP servers: `{pattern}` judges the script's calls; remove `caller`"),
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

/// For serde's "unknown field `methd`, expected one of `call`, `url`, …", the
/// expected name nearest to the unknown one.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    diagnostic::did_you_mean(field, expected).map(str::to_owned)
}

/// Refuses a pattern with invisible or control characters: it would read as
/// another pattern in review (`secrets\u{200B}/**` looks like `secrets/**`) and
/// match what no reviewer expects.
fn visible<'t>(what: &str, text: &'t str) -> Result<&'t str, String> {
    match text.chars().find(|c| crate::unicode::is_hidden(*c)) {
        Some(c) => Err(format!(
            "the {what} `{}` contains the invisible character U+{:04X}; it would not match what it appears to — remove it",
            escape(text),
            u32::from(c)
        )),
        None => Ok(text),
    }
}

/// `text` with every invisible or control character shown as `\u{…}`, so that
/// a note or glob cannot repaint a terminal line or hide what it says.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if crate::unicode::is_hidden(c) {
            out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
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
