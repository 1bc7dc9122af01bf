//! `policy diff OLD NEW`: whether a change lets a script do anything it could
//! not do before, proved against the gate's own semantics rather than the text.
//!
//! Threat model: CI and reviewers trust "nothing widened" to wave a change
//! through, so that answer must never be wrong. A call is judged by the gate in
//! this order: a matching `[[deny]]` refuses; else a matching `[[ask]]` asks;
//! else a matching `[[allow]]` allows; else it is denied — and every matching
//! rule of the deciding kind shares its `max-calls` budget. The new policy is
//! *not wider* when, for every call, its verdict is no more permissive
//! (deny < ask < allow) and the number of times it can be made per run is no
//! larger; and when every effective limit (`[run]`, defaults filled in; tool
//! limits) is no larger, no private address is added, and no tool component is
//! added, re-pinned, moved or given more imports. The proof is by containment
//! (see [`super::cover`]), which is sound and incomplete: when it cannot show a
//! piece is covered, the piece is reported as widened. Narrowings are the same
//! proof run the other way. A change in notes, comments or rule order is no
//! change at all. A changed component (`sha256` or `component`) is reported on
//! its own: it is a different program, whatever the rules say.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use serde_json::{Value as Json, json};

use super::cover::{Piece, contains, describe, disjoint, pieces};
use super::limits;
use super::{Policy, Rule, RuleKind, escape};

/// Which way a change moves what is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// More calls can get through (or a different program can be loaded).
    Widened,
    /// Fewer calls can get through.
    Narrowed,
}

/// What a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    /// An effective `[run]` limit.
    Run,
    /// `[net] allow-private`.
    Net,
    /// A `[tools.NAME]` table's imports or limits.
    Tool,
    /// A tool component's bytes or location: a different program.
    Component,
    /// An `[mcp.NAME]` server: what runs or is reached, with which secrets.
    Mcp,
    /// What calls rules let through.
    Rules,
    /// How many times calls may be made per run.
    Budget,
}

/// One capability change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub direction: Direction,
    pub area: Area,
    pub what: String,
    /// The file and line the change is at: in the new policy for a widening, in
    /// whichever file holds the rule or table for a narrowing.
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.direction {
            Direction::Widened => "WIDENED ",
            Direction::Narrowed => "narrowed",
        };
        write!(f, "{tag}  {}", self.what)
    }
}

/// The summary of a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Both policies let exactly the same through (as far as review cares).
    Unchanged,
    /// The new policy lets through less, and nothing more.
    OnlyNarrowed,
    /// The new policy lets something more through, or loads a different program.
    Widened,
}

impl Verdict {
    pub fn of(changes: &[Change]) -> Self {
        if widens(changes) {
            Self::Widened
        } else if changes.is_empty() {
            Self::Unchanged
        } else {
            Self::OnlyNarrowed
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unchanged => "unchanged",
            Self::OnlyNarrowed => "narrowed",
            Self::Widened => "widened",
        }
    }
}

/// Compares two policies.
pub fn diff(old: &Policy, new: &Policy) -> Vec<Change> {
    let mut changes = Vec::new();
    run_changes(old, new, &mut changes);
    net_changes(old, new, &mut changes);
    tool_changes(old, new, &mut changes);
    mcp_changes(old, new, &mut changes);
    rule_findings(old, new, Direction::Widened, &mut changes);
    rule_findings(new, old, Direction::Narrowed, &mut changes);
    changes
}

/// Whether any change widens what is allowed.
pub fn widens(changes: &[Change]) -> bool {
    changes.iter().any(|c| c.direction == Direction::Widened)
}

/// The changes as JSON, for `--format json`.
pub fn to_json(old: &Policy, new: &Policy, changes: &[Change]) -> Json {
    json!({
        "old": old.name(),
        "new": new.name(),
        "verdict": Verdict::of(changes).as_str(),
        "changes": changes.iter().map(|c| json!({
            "direction": match c.direction { Direction::Widened => "widened", Direction::Narrowed => "narrowed" },
            "area": format!("{:?}", c.area).to_lowercase(),
            "what": c.what,
            "file": c.file,
            "line": c.line,
        })).collect::<Vec<_>>(),
    })
}

/// The changes as GitHub Actions workflow commands: an annotation on the line
/// of each change (`::error` for a widening, `::notice` for a narrowing).
pub fn to_github(changes: &[Change]) -> String {
    let mut out = String::new();
    for c in changes {
        let level = match c.direction {
            Direction::Widened => "error",
            Direction::Narrowed => "notice",
        };
        let title = match c.direction {
            Direction::Widened => "policy widened",
            Direction::Narrowed => "policy narrowed",
        };
        out.push_str(&format!(
            "::{level} file={},line={},title={title}::{}\n",
            github_property(&c.file),
            c.line.max(1),
            github_data(&c.what)
        ));
    }
    out
}

fn github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}

fn change(direction: Direction, area: Area, what: String, policy: &Policy, line: usize) -> Change {
    Change {
        direction,
        area,
        what,
        file: policy.name().to_owned(),
        line,
    }
}

/// How a limit moved, old to new; `None` is "no limit". Larger is wider.
fn compare_limit(
    key: &str,
    old: Option<u128>,
    new: Option<u128>,
    show: impl Fn(u128) -> String,
) -> Option<(Direction, String)> {
    let shown = |v: Option<u128>| v.map_or_else(|| "unlimited".to_owned(), &show);
    let wider = match (old, new) {
        (Some(a), Some(b)) if a == b => return None,
        (None, None) => return None,
        (Some(a), Some(b)) => b > a,
        (Some(_), None) => true,
        (None, Some(_)) => false,
    };
    let verb = if wider { "raised" } else { "lowered" };
    Some((
        if wider {
            Direction::Widened
        } else {
            Direction::Narrowed
        },
        format!("{key} {verb} from {} to {}", shown(old), shown(new)),
    ))
}

fn show_duration(nanos: u128) -> String {
    let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
    humantime::format_duration(Duration::from_nanos(nanos)).to_string()
}

fn show_bytes(bytes: u128) -> String {
    crate::size::show_size(u64::try_from(bytes).unwrap_or(u64::MAX))
}

/// A limit's name, old and new values (`None`: unlimited) and how to show one.
type LimitRow<'a> = (&'a str, Option<u128>, Option<u128>, fn(u128) -> String);

/// The `[run]` limits a run gets: the policy's, or the defaults.
fn run_changes(old: &Policy, new: &Policy, changes: &mut Vec<Change>) {
    let (a, b) = (old.run(), new.run());
    let timeout =
        |p: &super::RunSettings| Some(p.timeout.unwrap_or(limits::DEFAULT_TIMEOUT).as_nanos());
    let memory =
        |p: &super::RunSettings| Some(u128::from(p.memory.unwrap_or(limits::DEFAULT_MEMORY)));
    let output = |p: &super::RunSettings| {
        Some(u128::from(
            p.max_output.unwrap_or(limits::DEFAULT_MAX_OUTPUT),
        ))
    };
    let concurrent = |p: &super::RunSettings| {
        Some(u128::from(
            p.max_concurrent.unwrap_or(limits::DEFAULT_MAX_CONCURRENT),
        ))
    };
    let rows: [LimitRow<'_>; 6] = [
        ("[run] timeout", timeout(a), timeout(b), show_duration),
        ("[run] memory", memory(a), memory(b), show_bytes),
        ("[run] max-output", output(a), output(b), show_bytes),
        (
            "[run] max-calls",
            a.max_calls.map(u128::from),
            b.max_calls.map(u128::from),
            |n| n.to_string(),
        ),
        (
            "[run] max-egress",
            a.max_egress.map(u128::from),
            b.max_egress.map(u128::from),
            show_bytes,
        ),
        ("[run] max-concurrent", concurrent(a), concurrent(b), |n| {
            n.to_string()
        }),
    ];
    for (key, x, y, show) in rows {
        if let Some((direction, what)) = compare_limit(key, x, y, show) {
            let line = new.run_line().unwrap_or(1);
            changes.push(change(direction, Area::Run, what, new, line));
        }
    }
}

fn net_changes(old: &Policy, new: &Policy, changes: &mut Vec<Change>) {
    let a: BTreeSet<_> = old.net().allow_private.iter().collect();
    let b: BTreeSet<_> = new.net().allow_private.iter().collect();
    for addr in b.difference(&a) {
        let line = new.net_line().unwrap_or(1);
        changes.push(change(
            Direction::Widened,
            Area::Net,
            format!("[net] allow-private adds {addr}"),
            new,
            line,
        ));
    }
    for addr in a.difference(&b) {
        changes.push(change(
            Direction::Narrowed,
            Area::Net,
            format!("[net] allow-private drops {addr}"),
            new,
            new.net_line().unwrap_or(1),
        ));
    }
}

fn tool_changes(old: &Policy, new: &Policy, changes: &mut Vec<Change>) {
    for (name, b) in new.tools() {
        let Some(a) = old.tools().get(name) else {
            changes.push(change(
                Direction::Widened,
                Area::Component,
                format!(
                    "[tools.{name}] added: a new component may be loaded (sha256 {})",
                    b.sha256
                ),
                new,
                b.line,
            ));
            continue;
        };
        if a.sha256 != b.sha256 {
            changes.push(change(
                Direction::Widened,
                Area::Component,
                format!(
                    "[tools.{name}] sha256 changed from {} to {}: a different program",
                    a.sha256, b.sha256
                ),
                new,
                b.line,
            ));
        }
        if a.component != b.component {
            let show = |c: &Option<std::path::PathBuf>| {
                c.as_ref().map_or_else(
                    || "(found by name)".to_owned(),
                    |p| escape(&p.display().to_string()),
                )
            };
            changes.push(change(
                Direction::Widened,
                Area::Component,
                format!(
                    "[tools.{name}] component moved from {} to {}: a different file is loaded",
                    show(&a.component),
                    show(&b.component)
                ),
                new,
                b.line,
            ));
        }
        for import in b.imports.iter().filter(|i| !a.imports.contains(i)) {
            changes.push(change(
                Direction::Widened,
                Area::Tool,
                format!("[tools.{name}] may now import `{import}`"),
                new,
                b.line,
            ));
        }
        for import in a.imports.iter().filter(|i| !b.imports.contains(i)) {
            changes.push(change(
                Direction::Narrowed,
                Area::Tool,
                format!("[tools.{name}] may no longer import `{import}`"),
                new,
                b.line,
            ));
        }
        let timeout = |t: &super::ToolSettings| {
            Some(t.timeout.unwrap_or(limits::DEFAULT_TOOL_TIMEOUT).as_nanos())
        };
        let memory = |t: &super::ToolSettings| {
            Some(u128::from(t.memory.unwrap_or(limits::DEFAULT_TOOL_MEMORY)))
        };
        for (key, x, y, show) in [
            (
                "timeout",
                timeout(a),
                timeout(b),
                show_duration as fn(u128) -> String,
            ),
            ("memory", memory(a), memory(b), show_bytes),
        ] {
            if let Some((direction, what)) =
                compare_limit(&format!("[tools.{name}] {key}"), x, y, show)
            {
                changes.push(change(direction, Area::Tool, what, new, b.line));
            }
        }
    }
    for (name, a) in old.tools() {
        if !new.tools().contains_key(name) {
            changes.push(change(
                Direction::Narrowed,
                Area::Component,
                format!("[tools.{name}] removed (was {}:{})", old.name(), a.line),
                new,
                1,
            ));
        }
    }
}

/// An added server, a different program, arguments, endpoint or secret is a
/// widening whatever the rules say: the same `mcp.NAME.TOOL` reaches other code.
fn mcp_changes(old: &Policy, new: &Policy, changes: &mut Vec<Change>) {
    use super::McpTransport::{Http, Stdio};
    for (name, b) in new.mcp_servers() {
        let mut widened = |what: String| {
            changes.push(change(Direction::Widened, Area::Mcp, what, new, b.line));
        };
        let Some(a) = old.mcp_servers().get(name) else {
            widened(format!(
                "[mcp.{name}] added: a new MCP server ({})",
                b.describe()
            ));
            continue;
        };
        let mut narrowed = Vec::new();
        match (&a.transport, &b.transport) {
            (
                Stdio {
                    command: ca,
                    args: aa,
                    env: ea,
                },
                Stdio {
                    command: cb,
                    args: ab,
                    env: eb,
                },
            ) => {
                if ca != cb {
                    widened(format!(
                        "[mcp.{name}] command changed from `{}` to `{}`: a different program runs",
                        escape(ca),
                        escape(cb)
                    ));
                }
                if aa != ab {
                    let show = |args: &[String]| {
                        args.iter().map(|a| escape(a)).collect::<Vec<_>>().join(" ")
                    };
                    widened(format!(
                        "[mcp.{name}] args changed from `{}` to `{}`: the program runs differently",
                        show(aa),
                        show(ab)
                    ));
                }
                for (var, secret) in eb {
                    match ea.get(var) {
                        None => widened(format!(
                            "[mcp.{name}] env `{var}` added: the server is given the secret `{secret}`"
                        )),
                        Some(was) if was != secret => widened(format!(
                            "[mcp.{name}] env `{var}` changed from the secret `{was}` to `{secret}`"
                        )),
                        Some(_) => {}
                    }
                }
                for (var, secret) in ea {
                    if !eb.contains_key(var) {
                        narrowed.push(format!(
                            "[mcp.{name}] env `{var}` removed: the server is no longer given the secret `{secret}`"
                        ));
                    }
                }
            }
            (
                Http {
                    url: ua,
                    bearer_secret: sa,
                },
                Http {
                    url: ub,
                    bearer_secret: sb,
                },
            ) => {
                if ua != ub {
                    widened(format!(
                        "[mcp.{name}] url changed from {ua} to {ub}: a different endpoint is reached"
                    ));
                }
                match (sa, sb) {
                    (None, Some(s)) => widened(format!(
                        "[mcp.{name}] bearer-secret added: the secret `{s}` is sent to {ub}"
                    )),
                    (Some(x), Some(y)) if x != y => widened(format!(
                        "[mcp.{name}] bearer-secret changed from `{x}` to `{y}`"
                    )),
                    (Some(s), None) => narrowed.push(format!(
                        "[mcp.{name}] bearer-secret removed: the secret `{s}` is no longer sent"
                    )),
                    _ => {}
                }
            }
            _ => widened(format!(
                "[mcp.{name}] changed from {} to {}: a different server",
                a.describe(),
                b.describe()
            )),
        }
        let timeout = |s: &super::McpServerSettings| {
            Some(s.timeout.unwrap_or(limits::DEFAULT_MCP_TIMEOUT).as_nanos())
        };
        let max_result = |s: &super::McpServerSettings| {
            Some(u128::from(
                s.max_result.unwrap_or(limits::DEFAULT_MCP_MAX_RESULT),
            ))
        };
        for (key, x, y, show) in [
            (
                "timeout",
                timeout(a),
                timeout(b),
                show_duration as fn(u128) -> String,
            ),
            ("max-result", max_result(a), max_result(b), show_bytes),
        ] {
            if let Some((direction, what)) =
                compare_limit(&format!("[mcp.{name}] {key}"), x, y, show)
            {
                changes.push(change(direction, Area::Mcp, what, new, b.line));
            }
        }
        for what in narrowed {
            changes.push(change(Direction::Narrowed, Area::Mcp, what, new, b.line));
        }
    }
    for (name, a) in old.mcp_servers() {
        if !new.mcp_servers().contains_key(name) {
            changes.push(change(
                Direction::Narrowed,
                Area::Mcp,
                format!("[mcp.{name}] removed (was {}:{})", old.name(), a.line),
                new,
                1,
            ));
        }
    }
}

/// The most calls per run the rules of `kind` in `rules` that may match a call
/// of `piece` allow together (`None`: unlimited).
fn cap_of<'a>(
    rules: impl Iterator<Item = &'a Rule>,
    kind: RuleKind,
    piece: &Piece<'_>,
) -> Option<u128> {
    let mut sum: u128 = 0;
    for rule in rules.filter(|r| r.kind == kind && !disjoint(piece, r)) {
        sum += u128::from(rule.max_calls?);
    }
    Some(sum)
}

/// At least how many calls per run the rules of `kind` that contain `piece`
/// allow together (`None`: unlimited).
fn floor_of<'a>(
    rules: impl Iterator<Item = &'a Rule>,
    kind: RuleKind,
    piece: &Piece<'_>,
) -> Option<u128> {
    let mut sum: u128 = 0;
    for rule in rules.filter(|r| r.kind == kind && contains(r, piece)) {
        sum += u128::from(rule.max_calls?);
    }
    Some(sum)
}

/// Whether, for every call of `piece` (judged at `level` in `to`), `from`
/// allows at least as many calls per run as `to`. A call's budget in a policy
/// is the sum of the budgets of the rules of the deciding kind that match it
/// (unlimited if one has none). Proof: each `to` rule that may match such a
/// call is given its own `from` rule of the deciding kind that contains its
/// part of the piece and has at least its budget (an unlimited one may serve
/// many); then every call's `from` budget is at least its `to` budget.
fn budget_covered(from: &Policy, to: &Policy, level: RuleKind, piece: &Piece<'_>) -> bool {
    let pool_kind =
        match level {
            RuleKind::Allow => RuleKind::Allow,
            _ if from
                .rules()
                .iter()
                .any(|q| q.kind == RuleKind::Ask && contains(q, piece)) =>
            {
                RuleKind::Ask
            }
            _ => {
                // Some of these calls may meet a budgeted ask in `from` first, and
                // be limited by it.
                if from.rules().iter().any(|q| {
                    q.kind == RuleKind::Ask && q.max_calls.is_some() && !disjoint(piece, q)
                }) {
                    return false;
                }
                RuleKind::Allow
            }
        };
    let pool: Vec<&Rule> = from
        .rules()
        .iter()
        .filter(|r| r.kind == pool_kind)
        .collect();
    let mut takers: Vec<(&Rule, Vec<&Rule>)> = Vec::new();
    for taker in to
        .rules()
        .iter()
        .filter(|h| h.kind == level && !disjoint(piece, h))
    {
        let part: Vec<Piece<'_>> = pieces(taker)
            .into_iter()
            .filter(|p| !super::cover::pieces_disjoint(p, piece))
            .collect();
        let candidates: Vec<&Rule> = pool
            .iter()
            .copied()
            .filter(|o| {
                o.max_calls
                    .is_none_or(|m| taker.max_calls.is_some_and(|t| t <= m))
                    && part.iter().all(|p| contains(o, p))
            })
            .collect();
        if candidates.is_empty() {
            return false;
        }
        takers.push((taker, candidates));
    }
    // The most constrained first; a budgeted `from` rule serves one taker.
    takers.sort_by_key(|(_, c)| c.len());
    let mut used: Vec<usize> = Vec::new();
    for (_, candidates) in takers {
        let Some(chosen) = candidates
            .iter()
            .filter(|o| o.max_calls.is_none() || !used.contains(&o.index))
            .min_by_key(|o| o.max_calls.map_or(u64::MAX, |m| m))
        else {
            return false;
        };
        if chosen.max_calls.is_some() {
            used.push(chosen.index);
        }
    }
    true
}

fn show_cap(cap: Option<u128>) -> String {
    cap.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

/// What `to` lets through that `from` did not, reported as `direction`: run
/// with (old, new) it finds widenings; with (new, old), narrowings.
fn rule_findings(from: &Policy, to: &Policy, direction: Direction, changes: &mut Vec<Change>) {
    // Findings per (rule line, message head), pieces gathered, so one rule gives
    // one line per kind of finding.
    // `in_to`: whether the rule the finding is about is in `to`.
    let mut found: BTreeMap<(bool, usize, String), (Area, BTreeSet<String>)> = BTreeMap::new();
    let mut note = |in_to: bool, line: usize, area: Area, head: String, piece: String| {
        found
            .entry((in_to, line, head))
            .or_insert_with(|| (area, BTreeSet::new()))
            .1
            .insert(piece);
    };
    let narrowing = direction == Direction::Narrowed;
    let (from_file, to_file) = (from.name(), to.name());
    let same_kind_and_call = |p: &Policy, r: &Rule, kind: RuleKind| {
        p.rules()
            .iter()
            .any(|o| o.kind == kind && o.call == r.call && o.caller == r.caller)
    };
    let label = |r: &Rule| format!("{} {}{}", r.kind.table(), r.call, by(r));

    for rule in to.rules().iter().filter(|r| r.kind != RuleKind::Deny) {
        let existed = same_kind_and_call(from, rule, rule.kind);
        for piece in pieces(rule) {
            if to
                .rules()
                .iter()
                .any(|d| d.kind == RuleKind::Deny && contains(d, &piece))
            {
                continue;
            }
            // An allow shadowed by an ask only ever asks.
            let level = if rule.kind == RuleKind::Allow
                && to
                    .rules()
                    .iter()
                    .any(|q| q.kind == RuleKind::Ask && contains(q, &piece))
            {
                RuleKind::Ask
            } else {
                rule.kind
            };
            let covered = from.rules().iter().any(|o| {
                contains(o, &piece)
                    && match level {
                        RuleKind::Allow => o.kind == RuleKind::Allow,
                        _ => o.kind != RuleKind::Deny,
                    }
            });
            if !covered {
                let head = match (narrowing, existed, level) {
                    (false, false, _) => format!("{} added ({to_file}:{})", label(rule), rule.line),
                    (false, true, RuleKind::Allow) => format!(
                        "{} ({to_file}:{}) allows what no [[allow]] in {from_file} did:",
                        label(rule),
                        rule.line
                    ),
                    (false, true, _) => format!(
                        "{} ({to_file}:{}) lets through what no rule in {from_file} did:",
                        label(rule),
                        rule.line
                    ),
                    (true, false, _) => {
                        format!("{} removed (was {to_file}:{})", label(rule), rule.line)
                    }
                    (true, true, _) => format!(
                        "{} ({to_file}:{}): {from_file} no longer {}:",
                        label(rule),
                        rule.line,
                        if level == RuleKind::Allow {
                            "allows all of"
                        } else {
                            "lets through all of"
                        }
                    ),
                };
                note(true, rule.line, Area::Rules, head, describe(&piece));
                continue;
            }
            // Budgets: what `to` allows per run for these calls, against what
            // `from` surely allows.
            let cap = cap_of(to.rules().iter(), level, &piece);
            let floor = floor_of(from.rules().iter(), level, &piece);
            if !budget_covered(from, to, level, &piece) {
                let head = format!(
                    "{} ({to_file}:{}): more calls per run than {from_file} allowed (up to {}; at least {} there):",
                    label(rule),
                    rule.line,
                    show_cap(cap),
                    show_cap(floor)
                );
                let head = if narrowing {
                    format!(
                        "{} ({to_file}:{}): fewer calls per run in {from_file} (at least {} here, up to {} there):",
                        label(rule),
                        rule.line,
                        show_cap(cap),
                        show_cap(floor)
                    )
                } else {
                    head
                };
                note(true, rule.line, Area::Budget, head, describe(&piece));
            }
        }
    }

    // A deny in `from` must still refuse whatever `to` would otherwise let through.
    for deny in from.rules().iter().filter(|r| r.kind == RuleKind::Deny) {
        let kept = same_kind_and_call(to, deny, RuleKind::Deny);
        for piece in pieces(deny) {
            let refused = to
                .rules()
                .iter()
                .any(|d| d.kind == RuleKind::Deny && contains(d, &piece));
            let reachable = to
                .rules()
                .iter()
                .any(|g| g.kind != RuleKind::Deny && !disjoint(&piece, g));
            if refused || !reachable {
                continue;
            }
            let head = match (narrowing, kept) {
                (false, false) => {
                    format!("{} removed (was {from_file}:{})", label(deny), deny.line)
                }
                (false, true) => format!(
                    "{} ({from_file}:{}) is narrower in {to_file}; no longer refused:",
                    label(deny),
                    deny.line
                ),
                (true, false) => format!("{} added ({from_file}:{})", label(deny), deny.line),
                (true, true) => format!(
                    "{} ({from_file}:{}) now also refuses:",
                    label(deny),
                    deny.line
                ),
            };
            note(false, deny.line, Area::Rules, head, describe(&piece));
        }
    }

    // An ask in `from` must not become a silent allow in `to`.
    for ask in from.rules().iter().filter(|r| r.kind == RuleKind::Ask) {
        for piece in pieces(ask) {
            let still_asked = to
                .rules()
                .iter()
                .any(|r| r.kind != RuleKind::Allow && contains(r, &piece));
            let allowed = to
                .rules()
                .iter()
                .any(|a| a.kind == RuleKind::Allow && !disjoint(&piece, a));
            if still_asked || !allowed {
                continue;
            }
            let head = if narrowing {
                format!(
                    "{} ({from_file}:{}) now asks first for calls {to_file} allowed:",
                    label(ask),
                    ask.line
                )
            } else {
                format!(
                    "{} ({from_file}:{}) no longer asks first; {to_file} allows:",
                    label(ask),
                    ask.line
                )
            };
            note(false, ask.line, Area::Rules, head, describe(&piece));
        }
    }

    // Every finding is located in the new policy (where a reviewer and CI
    // annotations look): at its rule's line, or at line 1 for a rule that is
    // only in the old one.
    let new_is_to = direction == Direction::Widened;
    for ((in_to, line, head), (area, pieces)) in found {
        let in_new = in_to == new_is_to;
        let what = if head.ends_with(':') {
            format!(
                "{head} {}",
                pieces.into_iter().collect::<Vec<_>>().join("; ")
            )
        } else {
            head
        };
        let new_policy = if new_is_to { to } else { from };
        changes.push(change(
            direction,
            area,
            what,
            new_policy,
            if in_new { line } else { 1 },
        ));
    }
}

/// ` (caller tools.NAME)` for a tool's rule.
fn by(rule: &Rule) -> String {
    match &rule.caller {
        super::Caller::Script => String::new(),
        caller => format!(" (caller {caller})"),
    }
}

/// How permissive a decision is: allow > ask > anything else.
fn level(decision: &super::Decision) -> u8 {
    match decision {
        super::Decision::Allow { .. } => 2,
        super::Decision::Ask { .. } => 1,
        _ => 0,
    }
}

/// The oracle `diff` is tested against: the gate's own decisions. Makes `call`
/// by `caller` `times` times in one run under each policy and returns the first
/// repetition where `new` is more permissive than `old` (allowed or asked where
/// `old` refused, allowed where it asked, or still allowed once `old`'s budget
/// is spent), if there is one.
pub fn widening_witness(
    old: &Policy,
    new: &Policy,
    caller: &super::Caller,
    call: &super::Call<'_>,
    times: usize,
) -> Option<String> {
    let (mut old_usage, mut new_usage) = (super::Usage::default(), super::Usage::default());
    for i in 0..times {
        let a = old.decide_for(caller, call, &mut old_usage);
        let b = new.decide_for(caller, call, &mut new_usage);
        if level(&b) > level(&a) {
            return Some(format!(
                "{} by {caller} with {}, repetition {}: old {a:?}, new {b:?}",
                call.name(),
                call.args,
                i + 1
            ));
        }
        // Budgets only run down: once `new` refuses, it refuses the rest.
        if level(&b) == 0 {
            break;
        }
    }
    None
}

/// Whether an effective limit of `new` is larger than `old`'s (the `[run]`
/// limits with defaults filled in, and each tool's).
pub fn limits_grew(old: &Policy, new: &Policy) -> bool {
    let mut changes = Vec::new();
    run_changes(old, new, &mut changes);
    tool_changes(old, new, &mut changes);
    mcp_changes(old, new, &mut changes);
    widens(&changes)
}

/// The differential check behind the `policy_diff` fuzz target: when both texts
/// load and `diff` says nothing widened, the gate must agree on every call
/// derived from either policy's patterns (each URL pattern, glob and `where`
/// value made concrete, every method, secret and caller), repeated to spend
/// every budget, and no effective limit may have grown. `Err` names the call
/// that disproves `diff`.
pub fn check_pair(old_text: &str, new_text: &str) -> Result<(), String> {
    let (Ok(old), Ok(new)) = (
        Policy::parse("old.toml", old_text),
        Policy::parse("new.toml", new_text),
    ) else {
        return Ok(());
    };
    let changes = diff(&old, &new);
    if !diff(&old, &old).is_empty() {
        return Err("a policy differs from itself".into());
    }
    if widens(&changes) {
        return Ok(());
    }
    if limits_grew(&old, &new) {
        return Err("diff says nothing widened, but a limit grew".into());
    }
    let calls = sample_calls(&[&old, &new]);
    let mut callers = vec![super::Caller::Script];
    callers.extend(
        old.tools()
            .keys()
            .chain(new.tools().keys())
            .map(|t| super::Caller::Tool(t.clone())),
    );
    let repetitions = old
        .rules()
        .iter()
        .chain(new.rules())
        .filter_map(|r| r.max_calls)
        .fold(2u64, |a, b| a.saturating_add(b))
        .min(64) as usize;
    for (interface, function, args) in &calls {
        let call = super::Call {
            interface,
            function,
            args,
        };
        for caller in &callers {
            if let Some(w) = widening_witness(&old, &new, caller, &call, repetitions) {
                return Err(format!("diff says {:?}, but {w}", Verdict::of(&changes)));
            }
        }
    }
    Ok(())
}

/// A concrete text a glob matches: `**` → `x/y`, `*` and `?` → `x`; `None`
/// for globs with classes or alternatives.
fn sample_glob(glob: &str) -> Option<String> {
    if glob.contains(['{', '}', '[', ']', '\\']) {
        return None;
    }
    Some(glob.replace("**", "x/y").replace(['*', '?'], "x"))
}

/// Calls that probe every pattern of `policies`: each URL, path and condition
/// value made concrete, with every method and secret.
fn sample_calls(policies: &[&Policy]) -> Vec<(String, String, Json)> {
    use super::http::{HostPattern, PortPattern};
    let mut urls = vec!["https://example.org/".to_owned()];
    let mut paths = vec!["x".to_owned(), "notes/a.md".to_owned()];
    let mut secrets: Vec<Option<String>> = vec![None];
    let mut functions: BTreeSet<(String, String)> = BTreeSet::new();
    let mut values: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    let catalog = super::Catalog::host();
    for policy in policies {
        for rule in policy.rules() {
            match &rule.call {
                super::CallPattern::Function {
                    interface,
                    function,
                } => {
                    functions.insert((interface.clone(), function.clone()));
                }
                super::CallPattern::Interface(i) => {
                    for f in catalog.functions(i) {
                        functions.insert((i.clone(), f.clone()));
                    }
                }
            }
            for url in rule.urls.iter().flatten() {
                let host = match &url.host {
                    HostPattern::Any => "any.example".to_owned(),
                    HostPattern::Subdomains(p) => format!("x.{p}"),
                    HostPattern::Exact(h) => h.clone(),
                };
                let scheme = format!("{:?}", url.scheme).to_lowercase();
                let ports: Vec<String> = match url.port {
                    PortPattern::Any => vec![String::new(), ":8443".into()],
                    PortPattern::Exact(p) => vec![format!(":{p}"), ":9".into()],
                };
                let mut tails = Vec::new();
                if let Some(p) = sample_glob(&url.path) {
                    tails.push(p);
                }
                if let Some(dir) = url.path.strip_suffix("/**").and_then(sample_glob) {
                    tails.push(dir);
                }
                for port in &ports {
                    for tail in &tails {
                        urls.push(format!("{scheme}://{host}{port}{tail}"));
                    }
                }
            }
            for glob in rule.paths.iter().flatten() {
                paths.extend(sample_glob(&glob.source));
                if let Some(dir) = glob.source.strip_suffix("/**").and_then(sample_glob) {
                    paths.push(dir);
                }
            }
            secrets.extend(rule.secrets.iter().cloned().map(Some));
            for condition in &rule.conditions {
                let key = condition.path.source.clone();
                let entry = values.entry(key).or_default();
                for c in &condition.comparisons {
                    use super::Comparison::{Eq, Ge, Gt, In, Le, Lt, Prefix};
                    match c {
                        Eq(v) => entry.push(v.clone()),
                        In(vs) => entry.extend(vs.iter().cloned()),
                        Prefix(p) => {
                            entry.push(Json::String(p.clone()));
                            entry.push(Json::String(format!("{p}x")));
                        }
                        Lt(n) | Le(n) | Gt(n) | Ge(n) => {
                            for d in [-1.0, 0.0, 1.0] {
                                entry.extend(serde_json::Number::from_f64(n + d).map(Json::Number));
                            }
                        }
                    }
                }
            }
        }
    }
    urls.sort();
    urls.dedup();
    paths.sort();
    paths.dedup();
    paths.truncate(24);
    secrets.sort();
    secrets.dedup();
    let mut out = Vec::new();
    for (interface, function) in &functions {
        match interface.as_str() {
            "http" => {
                for url in &urls {
                    if function == "fetch-text" {
                        out.push((interface.clone(), function.clone(), json!({ "url": url })));
                        continue;
                    }
                    for method in super::cover::ALL_METHODS {
                        for secret in &secrets {
                            let mut req =
                                json!({ "method": method.as_str(), "url": url, "headers": [] });
                            if let Some(s) = secret {
                                req["bearer-secret"] = json!(s);
                            }
                            out.push((interface.clone(), function.clone(), json!({ "req": req })));
                        }
                    }
                }
            }
            "fs" if function == "move" => {
                for from in &paths {
                    for to in &paths {
                        out.push((
                            interface.clone(),
                            function.clone(),
                            json!({ "from": from, "to": to }),
                        ));
                    }
                }
            }
            "fs" => {
                for path in &paths {
                    out.push((interface.clone(), function.clone(), json!({ "path": path })));
                }
            }
            _ => {
                // One key varied at a time over every value some condition names.
                let base: serde_json::Map<String, Json> = values
                    .iter()
                    .filter(|(k, _)| !k.contains(['.', '[']))
                    .filter_map(|(k, vs)| Some((k.clone(), vs.first()?.clone())))
                    .collect();
                out.push((
                    interface.clone(),
                    function.clone(),
                    Json::Object(base.clone()),
                ));
                for (key, vs) in &values {
                    if key.contains(['.', '[']) {
                        continue;
                    }
                    for v in vs {
                        let mut args = base.clone();
                        args.insert(key.clone(), v.clone());
                        out.push((interface.clone(), function.clone(), Json::Object(args)));
                    }
                }
            }
        }
    }
    out
}
