//! `policy diff OLD NEW`: which capabilities a change adds, removes, widens or
//! narrows, so a reviewer (or CI) can require a second look at every widening.
//!
//! Rules are compared by (kind, call). When each side has exactly one such rule,
//! its matchers are compared one by one; otherwise the rules are compared as
//! whole sets. Anything that lets more calls through — a new allow or ask rule, a
//! removed deny rule, an extra URL, path or method, a dropped condition, a higher
//! budget — is a widening. The comparison is conservative: it does not prove that
//! one glob contains another, so a reworded pattern counts as both.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{CallPattern, Policy, Rule, RuleKind, RunSettings};

/// Which way a change moves what is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// More calls can get through.
    Widened,
    /// Fewer calls can get through.
    Narrowed,
}

/// One capability change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub direction: Direction,
    pub what: String,
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

/// Compares two policies.
pub fn diff(old: &Policy, new: &Policy) -> Vec<Change> {
    let mut changes = Vec::new();
    run_changes(old.run(), new.run(), &mut changes);
    let old_private: BTreeSet<_> = old.net().allow_private.iter().collect();
    let new_private: BTreeSet<_> = new.net().allow_private.iter().collect();
    for addr in new_private.difference(&old_private) {
        changes.push(widened(format!("[net] allow-private adds {addr}")));
    }
    for addr in old_private.difference(&new_private) {
        changes.push(narrowed(format!("[net] allow-private drops {addr}")));
    }

    let group = |p: &Policy| {
        let mut map: BTreeMap<(RuleKind, CallPattern), Vec<Rule>> = BTreeMap::new();
        for rule in p.rules() {
            map.entry((rule.kind, rule.call.clone()))
                .or_default()
                .push(rule.clone());
        }
        map
    };
    let (old_rules, new_rules) = (group(old), group(new));
    let keys: BTreeSet<_> = old_rules.keys().chain(new_rules.keys()).cloned().collect();
    for key in keys {
        let (kind, call) = &key;
        let name = format!("{} {call}", kind.table());
        let grants = *kind != RuleKind::Deny;
        match (old_rules.get(&key), new_rules.get(&key)) {
            (None, Some(rules)) => {
                for rule in rules {
                    let what = format!("{name} added ({}:{})", new.name(), rule.line);
                    changes.push(rule_change(true, grants, what));
                }
            }
            (Some(rules), None) => {
                for rule in rules {
                    let what = format!("{name} removed (was {}:{})", old.name(), rule.line);
                    changes.push(rule_change(false, grants, what));
                }
            }
            (Some(a), Some(b)) if a.len() == 1 && b.len() == 1 => {
                rule_changes(&name, &a[0], &b[0], grants, &mut changes);
            }
            (Some(a), Some(b)) => {
                let sig = |rs: &[Rule]| rs.iter().map(signature).collect::<BTreeSet<_>>();
                let (sa, sb) = (sig(a), sig(b));
                for added in sb.difference(&sa) {
                    let what = format!("{name} gains a rule: {added}");
                    changes.push(rule_change(true, grants, what));
                }
                for removed in sa.difference(&sb) {
                    let what = format!("{name} loses a rule: {removed}");
                    changes.push(rule_change(false, grants, what));
                }
            }
            (None, None) => {}
        }
    }
    changes
}

/// Whether any change widens what is allowed.
pub fn widens(changes: &[Change]) -> bool {
    changes.iter().any(|c| c.direction == Direction::Widened)
}

/// A change to a rule: `more` when the rule now matches more calls. More matches
/// on an allow or ask rule (`grants`) let more through; on a deny rule, fewer.
fn rule_change(more: bool, grants: bool, what: String) -> Change {
    if more == grants {
        widened(what)
    } else {
        narrowed(what)
    }
}

fn widened(what: String) -> Change {
    Change {
        direction: Direction::Widened,
        what,
    }
}

fn narrowed(what: String) -> Change {
    Change {
        direction: Direction::Narrowed,
        what,
    }
}

fn run_changes(old: &RunSettings, new: &RunSettings, changes: &mut Vec<Change>) {
    // Each limit in the unit people write it in (`30s`, `64 MiB`), never raw millis or bytes.
    let millis = |ms: u64| crate::size::show_duration(std::time::Duration::from_millis(ms));
    let size = |bytes: u64| crate::size::show_size(bytes);
    let count = |n: u64| n.to_string();
    type Shown<'a> = &'a dyn Fn(u64) -> String;
    let limits: [(&str, Option<u64>, Option<u64>, Shown<'_>); 5] = [
        (
            "timeout",
            old.timeout.map(|d| d.as_millis() as u64),
            new.timeout.map(|d| d.as_millis() as u64),
            &millis,
        ),
        ("memory", old.memory, new.memory, &size),
        ("max-output", old.max_output, new.max_output, &size),
        ("max-calls", old.max_calls, new.max_calls, &count),
        ("max-egress", old.max_egress, new.max_egress, &size),
    ];
    for (key, a, b, show) in limits {
        changes.extend(limit_change(&format!("[run] {key}"), a, b, show));
    }
}

/// How a numeric limit moved. No limit means the (larger) default, so removing
/// one is a widening.
/// `show` writes a value in its unit.
fn limit_change(
    what: &str,
    old: Option<u64>,
    new: Option<u64>,
    show: &dyn Fn(u64) -> String,
) -> Option<Change> {
    match (old, new) {
        (Some(a), Some(b)) if b > a => Some(widened(format!(
            "{what} raised from {} to {}",
            show(a),
            show(b)
        ))),
        (Some(a), Some(b)) if b < a => Some(narrowed(format!(
            "{what} lowered from {} to {}",
            show(a),
            show(b)
        ))),
        (Some(a), None) => Some(widened(format!("{what} limit of {} removed", show(a)))),
        (None, Some(b)) => Some(narrowed(format!("{what} limited to {}", show(b)))),
        _ => None,
    }
}

/// Compares optional lists where `None` means "everything".
fn list_changes(
    name: &str,
    key: &str,
    old: Option<Vec<String>>,
    new: Option<Vec<String>>,
    grants: bool,
    changes: &mut Vec<Change>,
) {
    let mut push = |more: bool, what: String| changes.push(rule_change(more, grants, what));
    match (old, new) {
        (None, None) => {}
        (Some(_), None) => push(
            true,
            format!("{name}: `{key}` restriction removed (now any)"),
        ),
        (None, Some(items)) => push(
            false,
            format!("{name}: `{key}` now restricted to {}", items.join(", ")),
        ),
        (Some(a), Some(b)) => {
            let (a, b): (BTreeSet<_>, BTreeSet<_>) =
                (a.into_iter().collect(), b.into_iter().collect());
            for added in b.difference(&a) {
                push(true, format!("{name}: {key} {added} added"));
            }
            for removed in a.difference(&b) {
                push(false, format!("{name}: {key} {removed} removed"));
            }
        }
    }
}

/// A rule's URL patterns, methods and path globs as texts (`None`: any).
fn urls(rule: &Rule) -> Option<Vec<String>> {
    (rule.urls.as_ref()).map(|v| v.iter().map(|u| u.source.clone()).collect())
}

fn methods(rule: &Rule) -> Option<Vec<String>> {
    (rule.methods.as_ref()).map(|v| v.iter().map(|m| m.as_str().to_owned()).collect())
}

fn paths(rule: &Rule) -> Option<Vec<String>> {
    (rule.paths.as_ref()).map(|v| v.iter().map(|p| p.source.clone()).collect())
}

fn rule_changes(name: &str, old: &Rule, new: &Rule, grants: bool, changes: &mut Vec<Change>) {
    list_changes(name, "url", urls(old), urls(new), grants, changes);
    list_changes(name, "method", methods(old), methods(new), grants, changes);
    list_changes(name, "path", paths(old), paths(new), grants, changes);
    // Conditions narrow: one dropped lets more through.
    let conds = |r: &Rule| {
        r.conditions
            .iter()
            .map(ToString::to_string)
            .collect::<BTreeSet<_>>()
    };
    let (a, b) = (conds(old), conds(new));
    for removed in a.difference(&b) {
        let what = format!("{name}: condition `{removed}` removed");
        changes.push(rule_change(true, grants, what));
    }
    for added in b.difference(&a) {
        let what = format!("{name}: condition `{added}` added");
        changes.push(rule_change(false, grants, what));
    }
    if grants {
        changes.extend(limit_change(
            &format!("{name}: max-calls"),
            old.max_calls,
            new.max_calls,
            &|n| n.to_string(),
        ));
        let (a, b): (BTreeSet<_>, BTreeSet<_>) =
            (old.secrets.iter().collect(), new.secrets.iter().collect());
        for added in b.difference(&a) {
            changes.push(widened(format!("{name}: may now inject secret {added}")));
        }
        for removed in a.difference(&b) {
            changes.push(narrowed(format!(
                "{name}: may no longer inject secret {removed}"
            )));
        }
    }
}

/// A rule's matchers as one comparable string.
fn signature(rule: &Rule) -> String {
    let list = |v: Option<Vec<String>>| v.map_or("any".into(), |v| v.join(","));
    let conditions: Vec<String> = rule.conditions.iter().map(ToString::to_string).collect();
    format!(
        "url={} method={} path={} where={} max-calls={} secrets={}",
        list(urls(rule)),
        list(methods(rule)),
        list(paths(rule)),
        conditions.join("&"),
        rule.max_calls.map_or("any".into(), |m| m.to_string()),
        rule.secrets.join(","),
    )
}
