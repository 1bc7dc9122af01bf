//! HTTP matchers: URL patterns (`https://*.example.org:8443/api/**`) and methods.
//!
//! A pattern is parsed into typed parts when the policy loads; a request URL is
//! vetted (`net::url_vet`: the same checks the http tool makes, so the gate
//! judges exactly what would be sent) and parsed before it is compared, so a
//! rule never matches on the raw string. Hosts compare after the parser's
//! normalisation: lowercase, numeric IPv4 forms such as `0x7f.1` read as
//! `127.0.0.1`, IPv4-mapped IPv6 (`[::ffff:127.0.0.1]`) read as its IPv4
//! address, a trailing dot (`example.org.`) dropped, a default port the same
//! as no port. A deny rule covers both schemes (`https://x.org/admin/**` also
//! denies `http://x.org/admin/`). Non-ASCII and percent-encoded host names are refused (in patterns
//! at load, in requests as `invalid`): write the `xn--` form. `*.example.org`
//! covers subdomains, not `example.org` itself; any other host is exact. A
//! pattern without a port means the scheme's default port; without a path,
//! every path. A path glob ending in `/**` also covers the directory itself
//! (`/admin/**` covers `/admin`).
//!
//! A path is judged as every server could read it ([`PathReadings`]): servers
//! disagree on whether `%2F` is a separator, whether `;x` is a parameter to
//! drop (`/admin;x/` is `/admin/` to Tomcat), whether to decode once or twice,
//! whether `\` is `/`, whether `/Admin` and `/admin.` are `/admin`. So a
//! **deny** rule matches if *any* reading matches it (ignoring case, with or
//! without a trailing `/`), and an **allow** or **ask** rule matches only if
//! *every* reading matches it, case and all.
//! Spellings no reading can settle (escaped controls, overlong UTF-8, triple
//! encoding) are refused by the vetting. Pattern paths are written decoded and
//! plain: `;`, `%`, `//` and `.`/`..` segments are refused at load, as are
//! invisible (zero-width, bidi) characters anywhere in a pattern. What this
//! does not do: resolve names. Whether an address may be reached at all is the
//! http tool's SSRF check, after the gate.

use std::fmt;

use globset::{GlobBuilder, GlobMatcher};
use unicode_normalization::UnicodeNormalization;
use url::Url;

use crate::net::url_vet::{self, decode_escapes};

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Self::Http => 80,
            Self::Https => 443,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// Which hosts a pattern covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostPattern {
    /// `*`: every host.
    Any,
    /// `*.example.org`: strict subdomains of `example.org`.
    Subdomains(String),
    /// `api.example.org`, `127.0.0.1`, `[::1]`: that host only.
    Exact(String),
}

impl HostPattern {
    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(exact) => host == exact,
            Self::Subdomains(parent) => host
                .strip_suffix(parent.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }
}

/// Which ports a pattern covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PortPattern {
    Any,
    Exact(u16),
}

/// A parsed URL pattern.
#[derive(Debug, Clone)]
pub struct UrlPattern {
    pub source: String,
    pub scheme: Scheme,
    pub host: HostPattern,
    pub port: PortPattern,
    pub path: String,
    path_glob: GlobMatcher,
    /// For `/dir/**`, the glob for `/dir` itself.
    dir_glob: Option<GlobMatcher>,
    /// The same two, ignoring case, for deny rules.
    path_glob_nocase: GlobMatcher,
    dir_glob_nocase: Option<GlobMatcher>,
}

impl PartialEq for UrlPattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for UrlPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

const URL_FORMS: &str = "a URL pattern such as `https://api.example.org/v2/**`, `https://*.example.org/**` or `http://127.0.0.1:8080/**`";

impl UrlPattern {
    pub fn parse(source: &str) -> Result<Self, String> {
        let shown = shown(source);
        let bad = |why: &str| {
            Err(format!(
                "`{shown}` is not a URL pattern: {why}; expected {URL_FORMS}"
            ))
        };
        if source.trim().is_empty() {
            return Err(format!("empty URL pattern; expected {URL_FORMS}"));
        }
        if let Some(c) = source.chars().find(|c| crate::unicode::is_hidden(*c)) {
            return bad(&format!(
                "it contains the invisible character U+{:04X} (zero-width or bidi), which makes it read as something else",
                u32::from(c)
            ));
        }
        if source
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
        {
            return bad("it contains whitespace, a control character or a backslash");
        }
        let Some((scheme, rest)) = source.split_once("://") else {
            return bad("it has no `scheme://`");
        };
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return bad("the scheme must be `http` or `https`"),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/**"),
        };
        if authority.contains('@') || path.contains('?') || path.contains('#') {
            return bad("user names, queries and fragments are not part of a pattern");
        }
        let (host, port) =
            split_host_port(authority).map_err(|why| format!("`{source}`: {why}"))?;
        let host = parse_host_pattern(host).map_err(|why| format!("`{source}`: {why}"))?;
        let port = match port {
            None => PortPattern::Exact(scheme.default_port()),
            Some("*") => PortPattern::Any,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => PortPattern::Exact(n),
                _ => return bad("the port must be 1–65535 or `*`"),
            },
        };
        if let Some(why) = unplain_path(path) {
            return bad(why);
        }
        let build = |glob: &str, nocase: bool| {
            GlobBuilder::new(glob)
                .literal_separator(true)
                .case_insensitive(nocase)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|e| format!("`{source}`: bad path glob: {e}"))
        };
        let dir = path.strip_suffix("/**").filter(|dir| !dir.is_empty());
        Ok(Self {
            source: source.to_owned(),
            scheme,
            host,
            port,
            path: path.to_owned(),
            path_glob: build(path, false)?,
            dir_glob: dir.map(|d| build(d, false)).transpose()?,
            path_glob_nocase: build(path, true)?,
            dir_glob_nocase: dir.map(|d| build(d, true)).transpose()?,
        })
    }

    /// Whether this pattern covers the request under every reading of its
    /// path, strict and loose, case and all: how allow and ask rules match.
    pub fn matches(&self, target: &HttpTarget) -> bool {
        self.covers_origin(target)
            && target
                .path
                .readings()
                .iter()
                .chain(target.path.loose_readings())
                .all(|path| self.covers_path(path, false))
    }

    /// Whether this pattern covers the request under some reading of its path,
    /// strict or loose, with or without a trailing `/`, ignoring case: how deny
    /// rules match.
    pub fn matches_some_reading(&self, target: &HttpTarget) -> bool {
        self.covers_origin_either_scheme(target)
            && target
                .path
                .readings()
                .iter()
                .chain(target.path.loose_readings())
                .any(|path| {
                    self.covers_path(path, true)
                        || (path.len() > 1
                            && path.ends_with('/')
                            && self.covers_path(path.trim_end_matches('/'), true))
                })
    }

    fn covers_origin(&self, target: &HttpTarget) -> bool {
        target.scheme == self.scheme
            && self.host.matches(&target.host)
            && match self.port {
                PortPattern::Any => true,
                PortPattern::Exact(p) => p == target.port,
            }
    }

    /// For deny rules: the scheme does not matter (the same server usually
    /// serves the same paths over http and https), and a pattern's default
    /// port is the request scheme's default port too.
    fn covers_origin_either_scheme(&self, target: &HttpTarget) -> bool {
        self.host.matches(&target.host)
            && match self.port {
                PortPattern::Any => true,
                PortPattern::Exact(p) => {
                    p == target.port
                        || (p == self.scheme.default_port()
                            && target.port == target.scheme.default_port())
                }
            }
    }

    fn covers_path(&self, path: &str, nocase: bool) -> bool {
        let (glob, dir) = if nocase {
            (&self.path_glob_nocase, &self.dir_glob_nocase)
        } else {
            (&self.path_glob, &self.dir_glob)
        };
        glob.is_match(path) || dir.as_ref().is_some_and(|g| g.is_match(path))
    }

    /// `scheme://host:port` of a URL the pattern could match, for explanations.
    pub fn describe(&self) -> String {
        let host = match &self.host {
            HostPattern::Any => "any host".to_owned(),
            HostPattern::Subdomains(parent) => format!("any subdomain of {parent}"),
            HostPattern::Exact(h) => h.clone(),
        };
        let port = match self.port {
            PortPattern::Any => "any port".to_owned(),
            PortPattern::Exact(p) if p == self.scheme.default_port() => format!("port {p}"),
            PortPattern::Exact(p) => format!("port {p} (not the default)"),
        };
        format!(
            "{} to {host}, {port}, paths {}",
            self.scheme.as_str(),
            self.path
        )
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']').ok_or("an IPv6 host needs its closing `]`")?;
        let after = &rest[end + 1..];
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or("expected `:port` after `]`")?,
            ),
        };
        return Ok((&authority[..end + 2], port));
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

fn parse_host_pattern(host: &str) -> Result<HostPattern, String> {
    if host.is_empty() {
        return Err("the host is empty".into());
    }
    if host == "*" {
        return Ok(HostPattern::Any);
    }
    if let Some(parent) = host.strip_prefix("*.") {
        return Ok(HostPattern::Subdomains(normalise_host(parent)?));
    }
    if host.contains('*') {
        return Err("`*` may only stand alone or as a leading `*.`".into());
    }
    Ok(HostPattern::Exact(normalise_host(host)?))
}

/// Normalises a host the way request URLs are normalised, by parsing it.
fn normalise_host(host: &str) -> Result<String, String> {
    let parsed = Url::parse(&format!("http://{host}/"))
        .map_err(|e| format!("`{host}` is not a host name: {e}"))?;
    let normal = parsed
        .host_str()
        .ok_or_else(|| format!("`{host}` is not a host name"))?;
    if !host.starts_with('[') && normal != host.to_ascii_lowercase() {
        return Err(format!(
            "`{host}` is an unusual spelling of `{normal}`; write `{normal}` so reviewers see what it means"
        ));
    }
    Ok(canonical_host(normal))
}

/// A parsed host as rules compare it: no trailing dot, and an IPv4-mapped IPv6
/// literal (`[::ffff:127.0.0.1]`, the same socket on a dual-stack host) as
/// its IPv4 address.
fn canonical_host(host: &str) -> String {
    let host = host.trim_end_matches('.');
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
        && let Ok(v6) = inner.parse::<std::net::Ipv6Addr>()
        && let Some(v4) = v6.to_ipv4_mapped()
    {
        return v4.to_string();
    }
    host.to_owned()
}

/// An HTTP method a rule may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
}

pub const METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

impl Method {
    /// Parses a method name (case-insensitive; empty means GET, as the WIT says).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_uppercase().as_str() {
            "" | "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
        }
    }
}

/// `text` with invisible and control characters written as `\u{…}` escapes,
/// for messages.
fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if crate::unicode::is_hidden(c) || c.is_control() {
            out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Why a pattern's path is not plain, if it is not.
fn unplain_path(path: &str) -> Option<&'static str> {
    if path.contains(';') {
        return Some(
            "the path contains `;`, which servers read as a parameter to drop; write the path without it (requests with parameters are judged with and without them)",
        );
    }
    if path.contains('%') {
        return Some(
            "the path contains a `%` escape; write the path decoded (`/é`, not `/%C3%A9`), as requests are compared decoded",
        );
    }
    if path.contains("//") {
        return Some("the path contains `//`, which servers read as `/`; write a single `/`");
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Some(
            "the path contains a `.` or `..` segment, which requests never have after normalisation; write the path it means",
        );
    }
    None
}

/// Every path a server could read from a request path (as the WHATWG parser
/// serialised it, dot segments already resolved once).
///
/// The readings decode escapes zero times (except `%2F`, `%5C` and `%3B`, which
/// change the path's structure), once, and twice; each as it is and in NFKC
/// (full-width `／` is `/` to servers that normalise); each with `;params` kept
/// and dropped from every segment; each then with `\` read as `/`, runs of
/// `/` collapsed and dot segments resolved again (`/v1/..;/admin` is `/admin`
/// to a server that drops parameters). The loose readings add what lenient
/// servers do: trailing dots and spaces of a segment dropped (Windows), and
/// the path cut at a decoded `?` or `#` (a proxy that decodes, then re-parses).
/// Allow rules must cover all of them; deny rules catch any of them ignoring
/// case, with or without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathReadings {
    readings: Vec<String>,
    loose: Vec<String>,
}

impl PathReadings {
    pub fn of(path: &str) -> Self {
        let raw = path.as_bytes();
        let once = decode_escapes(raw, b"");
        let levels = [
            decode_escapes(raw, b"/\\;"),
            decode_escapes(&once, b""),
            once,
        ];
        let mut readings = Vec::new();
        let mut loose = Vec::new();
        for level in &levels {
            let text = String::from_utf8_lossy(level);
            let folded: String = text.nfkc().collect();
            for drop_params in [false, true] {
                for form in [&*text, &folded] {
                    push_new(&mut readings, server_path(form, drop_params, false));
                    push_new(&mut loose, server_path(form, drop_params, true));
                }
            }
        }
        Self { readings, loose }
    }

    /// The reading shown to people: escapes other than `%2F`, `%5C` and `%3B`
    /// decoded, `//` collapsed, dot segments resolved.
    pub fn primary(&self) -> &str {
        &self.readings[0]
    }

    /// The strict readings.
    pub fn readings(&self) -> &[String] {
        &self.readings
    }

    /// The lenient servers' readings.
    pub fn loose_readings(&self) -> &[String] {
        &self.loose
    }
}

fn push_new(list: &mut Vec<String>, reading: String) {
    if !list.contains(&reading) {
        list.push(reading);
    }
}

/// One server's reading of a path: `\` as `/`, `;params` dropped when asked,
/// empty and `.` segments dropped, `..` resolved; when `loose`, also cut at a
/// decoded `?` or `#` (a proxy that decodes, then re-parses), with trailing
/// dots and spaces of each segment dropped.
fn server_path(path: &str, drop_params: bool, loose: bool) -> String {
    let path = if loose {
        path.split(['?', '#']).next().unwrap_or_default()
    } else {
        path
    };
    let path = path.replace('\\', "/");
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in path.split('/').skip(usize::from(path.starts_with('/'))) {
        let segment = if drop_params {
            segment.split(';').next().unwrap_or_default()
        } else {
            segment
        };
        let segment = if loose {
            // Windows-style: trailing spaces and dots go, but `..` stays `..`.
            match segment.trim_end_matches(' ') {
                dots @ ("." | "..") => dots,
                other => other.trim_end_matches(['.', ' ']),
            }
        } else {
            segment
        };
        trailing_slash = matches!(segment, "" | "." | "..");
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    out.push('/');
    out.push_str(&kept.join("/"));
    if trailing_slash && !kept.is_empty() {
        out.push('/');
    }
    out
}

/// What an HTTP call targets, parsed from its arguments once per call.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub url: Url,
    pub scheme: Scheme,
    /// As the WHATWG parser normalised it: lowercase, canonical IP forms;
    /// without a trailing dot (`example.org.` is `example.org`).
    pub host: String,
    pub port: u16,
    /// The path as servers could read it (see [`PathReadings`]).
    pub path: PathReadings,
    pub method: Option<Method>,
    pub secret: Option<String>,
    /// Bytes the request would send: URL, header names and values, body.
    pub egress: u64,
}

impl HttpTarget {
    /// Vets and parses the URL as the http tool will (anything it would refuse
    /// is refused here too). Returns the URL, its scheme, host, port and the
    /// readings of its path.
    pub fn parse(raw: &str) -> Result<(Url, Scheme, String, u16, PathReadings), String> {
        let vetted = url_vet::vet_url(raw).map_err(|problem| {
            format!(
                "`{}` is not a URL the http tool sends ({}): {problem}",
                clip(raw),
                problem.code()
            )
        })?;
        let url = vetted.url;
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return Err(format!(
                    "`{}` uses the scheme `{other}`; only http and https are possible",
                    clip(raw)
                ));
            }
        };
        let host = canonical_host(
            url.host_str()
                .ok_or_else(|| format!("`{}` has no host", clip(raw)))?,
        );
        let path = PathReadings::of(url.path());
        Ok((url, scheme, host, vetted.port, path))
    }
}

/// At most 200 characters of a URL, invisible ones escaped, for messages.
fn clip(raw: &str) -> String {
    match raw.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", shown(&raw[..cut])),
        None => shown(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readings(path: &str) -> Vec<String> {
        let r = PathReadings::of(path);
        r.readings()
            .iter()
            .chain(r.loose_readings())
            .cloned()
            .collect()
    }

    #[test]
    fn each_server_reading_of_a_path_is_computed() {
        for (path, want) in [
            ("/admin;x/users", "/admin/users"),
            ("/public/..;/admin", "/admin"),
            ("/admin%2fusers", "/admin/users"),
            ("/public/..%2F..%2Fadmin", "/admin"),
            ("/public/%252e%252e/admin", "/admin"),
            ("/a%5c..%5cadmin", "/admin"),
            ("/%EF%BD%81dmin", "/admin"),
            ("/admin.", "/admin"),
            ("/admin%20/x", "/admin/x"),
            ("/admin%3Fx", "/admin"),
            ("/%u0061dmin", "/admin"),
            ("//a///b/", "/a/b/"),
        ] {
            let all = readings(path);
            assert!(all.iter().any(|r| r == want), "{path}: {all:?}");
        }
    }

    #[test]
    fn a_plain_path_has_one_reading() {
        let r = PathReadings::of("/v1/items/42");
        assert_eq!(r.readings(), ["/v1/items/42"]);
        assert_eq!(r.loose_readings(), ["/v1/items/42"]);
        assert_eq!(r.primary(), "/v1/items/42");
        assert_eq!(PathReadings::of("/").primary(), "/");
        assert_eq!(PathReadings::of("/a/").primary(), "/a/");
    }

    #[test]
    fn the_primary_reading_keeps_structural_escapes() {
        assert_eq!(
            PathReadings::of("/a%2fb%3Bc%5cd%61").primary(),
            "/a%2Fb%3Bc%5Cda"
        );
    }

    #[test]
    fn ipv4_mapped_hosts_are_their_ipv4_address() {
        assert_eq!(canonical_host("[::ffff:7f00:1]"), "127.0.0.1");
        assert_eq!(canonical_host("[::1]"), "[::1]");
        assert_eq!(canonical_host("example.org."), "example.org");
        let pattern = UrlPattern::parse("http://[::ffff:10.0.0.1]:8080/**").expect("pattern");
        assert_eq!(pattern.host, HostPattern::Exact("10.0.0.1".into()));
    }

    #[test]
    fn unplain_pattern_paths_are_refused_with_a_reason() {
        for path in ["/a;b", "/%61", "/a//b", "/./a", "/a/..", "/a/../b"] {
            assert!(unplain_path(path).is_some(), "{path}");
        }
        for path in ["/**", "/a/*.json", "/v1/items/**", "/é/x", "/a.b/..c"] {
            assert_eq!(unplain_path(path), None, "{path}");
        }
    }
}
