//! Containment and disjointness of rule matchers: the reasoning `policy diff`
//! uses to prove that a new policy lets no call through that the old one refused.
//!
//! Threat model: a review tool that says "nothing widened" when something did
//! is worse than none. Every test here is *sound but incomplete*: `contains`
//! answers true only when every call the inner matcher matches is matched by the
//! outer one (under the same typed matching the gate does), and `disjoint`
//! answers true only when no call can match both. When either cannot be proved
//! the answer is the cautious one (not contained, may overlap), so `diff` may
//! report a rewording as a change, never a widening as none.
//!
//! A rule is split into *pieces* along the dimensions a single call has only one
//! value of — its URL pattern, its method, the secret it names — so that a rule
//! whose URLs are spread over several old rules is still proved covered. Path
//! globs are not split: an `fs.move` needs both of its paths covered by one rule.

use globset::GlobBuilder;

use super::condition::{Comparison, Condition};
use super::fs::PathGlob;
use super::http::{HostPattern, Method, PortPattern, UrlPattern};
use super::{CallPattern, Rule, RuleKind};

/// Every method a call can have: anything else is not judged at all (invalid).
pub const ALL_METHODS: [Method; 7] = [
    Method::Get,
    Method::Head,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
    Method::Options,
];

/// Which secret a piece's calls name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecretDim<'a> {
    /// Calls that inject no secret.
    Without,
    /// Calls that inject this secret.
    Named(&'a str),
    /// Any call, whatever it names (deny rules ignore secrets).
    Any,
}

/// A part of one rule: the calls it matches with one URL pattern, one method
/// and one secret choice.
#[derive(Debug, Clone, Copy)]
pub struct Piece<'a> {
    pub rule: &'a Rule,
    pub url: Option<&'a UrlPattern>,
    pub method: Option<Method>,
    pub secret: SecretDim<'a>,
    /// For a deny rule, one of its path globs: a deny refuses a call when any
    /// path meets any glob, so it is exactly the union of one-glob pieces.
    /// `None`: the rule's globs as a whole (an allow must cover every path).
    pub glob: Option<&'a PathGlob>,
}

impl<'a> Piece<'a> {
    /// The path globs this piece is restricted to (`None`: any path).
    fn globs(&self) -> Option<Vec<&'a PathGlob>> {
        match self.glob {
            Some(g) => Some(vec![g]),
            None => self.rule.paths.as_ref().map(|ps| ps.iter().collect()),
        }
    }
}

/// The pieces whose union is exactly what `rule` matches.
pub fn pieces(rule: &Rule) -> Vec<Piece<'_>> {
    let http = rule.call.interface() == "http";
    let urls: Vec<Option<&UrlPattern>> = match &rule.urls {
        Some(urls) => urls.iter().map(Some).collect(),
        None => vec![None],
    };
    let methods: Vec<Option<Method>> = match (&rule.methods, http) {
        (Some(ms), _) => ms.iter().copied().map(Some).collect(),
        (None, true) => ALL_METHODS.iter().copied().map(Some).collect(),
        (None, false) => vec![None],
    };
    let secrets: Vec<SecretDim<'_>> = if rule.kind == RuleKind::Deny {
        vec![SecretDim::Any]
    } else {
        std::iter::once(SecretDim::Without)
            .chain(rule.secrets.iter().map(|s| SecretDim::Named(s)))
            .collect()
    };
    let globs: Vec<Option<&PathGlob>> = match (&rule.paths, rule.kind) {
        (Some(paths), RuleKind::Deny) => paths.iter().map(Some).collect(),
        _ => vec![None],
    };
    let mut out = Vec::new();
    for url in &urls {
        for method in &methods {
            for secret in &secrets {
                for glob in &globs {
                    out.push(Piece {
                        rule,
                        url: *url,
                        method: *method,
                        secret: *secret,
                        glob: *glob,
                    });
                }
            }
        }
    }
    out
}

/// Whether every call `piece` matches is matched by `outer` (for the same caller).
pub fn contains(outer: &Rule, piece: &Piece<'_>) -> bool {
    let inner = piece.rule;
    inner.caller == outer.caller
        && call_within(&inner.call, &outer.call)
        && outer.urls.as_ref().is_none_or(|urls| {
            piece
                .url
                .is_some_and(|u| urls.iter().any(|o| url_within(u, o)))
        })
        && outer
            .methods
            .as_ref()
            .is_none_or(|ms| piece.method.is_some_and(|m| ms.contains(&m)))
        && (outer.kind == RuleKind::Deny
            || match piece.secret {
                SecretDim::Without => true,
                SecretDim::Named(s) => outer.secrets.iter().any(|o| o == s),
                SecretDim::Any => false,
            })
        && outer.paths.as_ref().is_none_or(|outer_globs| {
            piece.globs().is_some_and(|globs| {
                globs.iter().all(|g| {
                    outer_globs
                        .iter()
                        .any(|o| glob_within(&g.source, &o.source))
                })
            })
        })
        && outer
            .conditions
            .iter()
            .all(|c| conditions_imply(&inner.conditions, c))
}

/// Whether no call can match both `piece` and `other`.
pub fn disjoint(piece: &Piece<'_>, other: &Rule) -> bool {
    let inner = piece.rule;
    if inner.caller != other.caller || !calls_overlap(&inner.call, &other.call) {
        return true;
    }
    if let (Some(m), Some(ms)) = (piece.method, &other.methods)
        && !ms.contains(&m)
    {
        return true;
    }
    if let (Some(u), Some(us)) = (piece.url, &other.urls)
        && us.iter().all(|o| urls_disjoint(u, o))
    {
        return true;
    }
    if other.kind != RuleKind::Deny
        && let SecretDim::Named(s) = piece.secret
        && !other.secrets.iter().any(|o| o == s)
    {
        return true;
    }
    false
}

/// Whether no call can be in both pieces.
pub fn pieces_disjoint(a: &Piece<'_>, b: &Piece<'_>) -> bool {
    if a.rule.caller != b.rule.caller || !calls_overlap(&a.rule.call, &b.rule.call) {
        return true;
    }
    if let (Some(x), Some(y)) = (a.method, b.method)
        && x != y
    {
        return true;
    }
    if let (Some(x), Some(y)) = (a.url, b.url)
        && urls_disjoint(x, y)
    {
        return true;
    }
    match (a.secret, b.secret) {
        (SecretDim::Any, _) | (_, SecretDim::Any) => false,
        (x, y) => x != y,
    }
}

fn call_within(inner: &CallPattern, outer: &CallPattern) -> bool {
    match outer {
        CallPattern::Interface(i) => inner.interface() == i,
        CallPattern::Function { .. } => inner == outer,
    }
}

fn calls_overlap(a: &CallPattern, b: &CallPattern) -> bool {
    match (a, b) {
        (
            CallPattern::Function {
                interface: ia,
                function: fa,
            },
            CallPattern::Function {
                interface: ib,
                function: fb,
            },
        ) => ia == ib && fa == fb,
        _ => a.interface() == b.interface(),
    }
}

/// `host` is a strict subdomain of `parent`.
fn is_subdomain(host: &str, parent: &str) -> bool {
    host.strip_suffix(parent)
        .is_some_and(|head| head.len() > 1 && head.ends_with('.'))
}

fn host_within(inner: &HostPattern, outer: &HostPattern) -> bool {
    match (inner, outer) {
        (_, HostPattern::Any) => true,
        (HostPattern::Exact(a), HostPattern::Exact(b)) => a == b,
        (HostPattern::Exact(h), HostPattern::Subdomains(p)) => is_subdomain(h, p),
        (HostPattern::Subdomains(a), HostPattern::Subdomains(b)) => a == b || is_subdomain(a, b),
        _ => false,
    }
}

fn hosts_disjoint(a: &HostPattern, b: &HostPattern) -> bool {
    match (a, b) {
        (HostPattern::Any, _) | (_, HostPattern::Any) => false,
        (HostPattern::Exact(x), HostPattern::Exact(y)) => x != y,
        (HostPattern::Exact(h), HostPattern::Subdomains(p))
        | (HostPattern::Subdomains(p), HostPattern::Exact(h)) => !is_subdomain(h, p),
        (HostPattern::Subdomains(x), HostPattern::Subdomains(y)) => {
            !(x == y || is_subdomain(x, y) || is_subdomain(y, x))
        }
    }
}

fn url_within(inner: &UrlPattern, outer: &UrlPattern) -> bool {
    inner.scheme == outer.scheme
        && host_within(&inner.host, &outer.host)
        && match (inner.port, outer.port) {
            (_, PortPattern::Any) => true,
            (PortPattern::Exact(a), PortPattern::Exact(b)) => a == b,
            (PortPattern::Any, PortPattern::Exact(_)) => false,
        }
        && glob_within(&inner.path, &outer.path)
}

fn urls_disjoint(a: &UrlPattern, b: &UrlPattern) -> bool {
    a.scheme != b.scheme
        || matches!((a.port, b.port), (PortPattern::Exact(x), PortPattern::Exact(y)) if x != y)
        || hosts_disjoint(&a.host, &b.host)
}

/// Characters that make a glob more than `*`, `**`, `?` and literal text; a glob
/// with any of them is compared only by its exact text (or against match-all).
const OPAQUE: &[char] = &['{', '}', '[', ']', '\\'];

/// Whether every path `inner` matches (with the `dir/**` ⇒ `dir` extension both
/// kinds of glob get) is matched by `outer`.
pub fn glob_within(inner: &str, outer: &str) -> bool {
    if inner == outer || is_match_all(outer) {
        return true;
    }
    if inner.contains(OPAQUE) || outer.contains(OPAQUE) {
        return false;
    }
    let a: Vec<&str> = inner.split('/').collect();
    let b: Vec<&str> = outer.split('/').collect();
    segments_within(&a, &b)
}

fn is_match_all(glob: &str) -> bool {
    glob == "**" || glob == "/**"
}

/// Segment-wise containment: `**` stands for any number of segments (zero
/// included), `*` for any one segment.
fn segments_within(inner: &[&str], outer: &[&str]) -> bool {
    match (inner.split_first(), outer.split_first()) {
        (_, Some((&"**", rest))) => {
            segments_within(inner, rest)
                || (!inner.is_empty() && segments_within(&inner[1..], outer))
        }
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some((&"**", _)), Some(_)) => false,
        (Some((a, a_rest)), Some((b, b_rest))) => {
            segment_within(a, b) && segments_within(a_rest, b_rest)
        }
    }
}

fn segment_within(inner: &str, outer: &str) -> bool {
    if inner == outer {
        return true;
    }
    if inner.contains("**") || outer.contains("**") {
        return false;
    }
    if outer == "*" {
        return true;
    }
    // A literal segment is inside a one-segment glob that matches it.
    !inner.contains(['*', '?'])
        && GlobBuilder::new(outer)
            .literal_separator(true)
            .build()
            .is_ok_and(|g| g.compile_matcher().is_match(inner))
}

/// Whether `conditions` (all holding) imply `outer`.
fn conditions_imply(conditions: &[Condition], outer: &Condition) -> bool {
    conditions.iter().any(|c| {
        c.path.source == outer.path.source
            && outer
                .comparisons
                .iter()
                .all(|o| c.comparisons.iter().any(|i| comparison_implies(i, o)))
    })
}

/// Whether every value satisfying `inner` satisfies `outer`.
fn comparison_implies(inner: &Comparison, outer: &Comparison) -> bool {
    use Comparison::{Eq, Ge, Gt, In, Le, Lt, Prefix};
    if inner == outer {
        return true;
    }
    match (inner, outer) {
        (Eq(v), o) => o.holds(v),
        (In(vs), o) => vs.iter().all(|v| o.holds(v)),
        (Prefix(a), Prefix(b)) => a.starts_with(b.as_str()),
        (Lt(a), Lt(b) | Le(b)) | (Le(a), Le(b)) => a <= b,
        (Le(a), Lt(b)) => a < b,
        (Gt(a), Gt(b) | Ge(b)) | (Ge(a), Ge(b)) => a >= b,
        (Ge(a), Gt(b)) => a > b,
        _ => false,
    }
}

/// A short text for a piece, for diff output.
pub fn describe(piece: &Piece<'_>) -> String {
    let rule = piece.rule;
    let mut parts = Vec::new();
    if rule.call.interface() == "http" {
        let method = piece.method.map_or("any method", Method::as_str);
        let url = piece.url.map_or("any URL".to_owned(), |u| u.source.clone());
        parts.push(format!("{method} {url}"));
    }
    if let Some(globs) = piece.globs() {
        let shown: Vec<&str> = globs.iter().map(|p| p.source.as_str()).collect();
        parts.push(format!("paths {}", shown.join(", ")));
    } else if rule.call.interface() == "fs" {
        parts.push("any path".into());
    }
    for c in &rule.conditions {
        parts.push(format!("where {c}"));
    }
    if let SecretDim::Named(s) = piece.secret {
        parts.push(format!("with secret {s}"));
    }
    if parts.is_empty() {
        parts.push("every call".into());
    }
    super::escape(&parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_containment_is_segment_wise() {
        for (inner, outer, within) in [
            ("/a/b", "/a/**", true),
            ("/a/**", "/a/**", true),
            ("/a", "/a/**", true),
            ("/a/**", "/a/*", false),
            ("/a/*", "/a/**", true),
            ("/ab/**", "/a/**", false),
            ("/a/x/b", "/a/*/b", true),
            ("/a/**/b", "/a/*/b", false),
            ("/anything/at/all", "/**", true),
            ("notes/x.md", "notes/*.md", true),
            ("notes/*.md", "notes/*", true),
            ("notes/*", "notes/*.md", false),
            ("notes/{a,b}", "notes/*", false),
            ("notes/{a,b}", "**", true),
            ("a/b", "**/b", true),
            ("b", "**/b", true),
            ("a/**", "**/b", false),
        ] {
            assert_eq!(glob_within(inner, outer), within, "{inner} within {outer}");
        }
    }
}
