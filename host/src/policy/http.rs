//! HTTP matchers: URL patterns (`https://*.example.org:8443/api/**`) and methods.
//!
//! A pattern is parsed into typed parts when the policy loads; a request URL is
//! parsed with the WHATWG parser (the `url` crate) before it is compared, so a
//! rule never matches on the raw string. Hosts compare case-insensitively after
//! the parser's normalisation (IDNA, numeric IPv4 forms such as `0x7f.1` become
//! `127.0.0.1`; a trailing dot, `example.org.`, is dropped). `*.example.org` covers
//! subdomains, not `example.org` itself; any other host is exact. A pattern without
//! a port means the scheme's default port; without a path, every path. A path glob
//! ending in `/**` also covers the directory itself (`/admin/**` covers `/admin`).
//! Request paths are compared after decoding escaped unreserved characters
//! (`/%61dmin` is `/admin`) and collapsing runs of `/`, so a deny rule cannot be
//! sidestepped by spelling. What this does not do: resolve names. Whether an
//! address may be reached at all is the http tool's SSRF check, after the gate.

use std::fmt;

use globset::{GlobBuilder, GlobMatcher};
use url::Url;

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
        let bad = |why: &str| {
            Err(format!(
                "`{source}` is not a URL pattern: {why}; expected {URL_FORMS}"
            ))
        };
        if source.trim().is_empty() {
            return Err(format!("empty URL pattern; expected {URL_FORMS}"));
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
        let build = |glob: &str| {
            GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|e| format!("`{source}`: bad path glob: {e}"))
        };
        let path_glob = build(path)?;
        let dir_glob = match path.strip_suffix("/**") {
            Some(dir) if !dir.is_empty() => Some(build(dir)?),
            _ => None,
        };
        Ok(Self {
            source: source.to_owned(),
            scheme,
            host,
            port,
            path: path.to_owned(),
            path_glob,
            dir_glob,
        })
    }

    /// Whether this pattern covers the request.
    pub fn matches(&self, target: &HttpTarget) -> bool {
        target.scheme == self.scheme
            && self.host.matches(&target.host)
            && match self.port {
                PortPattern::Any => true,
                PortPattern::Exact(p) => p == target.port,
            }
            && (self.path_glob.is_match(&target.path)
                || self
                    .dir_glob
                    .as_ref()
                    .is_some_and(|g| g.is_match(&target.path)))
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
    Ok(normal.trim_end_matches('.').to_owned())
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

/// What an HTTP call targets, parsed from its arguments once per call.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub url: Url,
    pub scheme: Scheme,
    /// As the WHATWG parser normalised it: lowercase, IDNA, canonical IP forms;
    /// without a trailing dot (`example.org.` is `example.org`).
    pub host: String,
    pub port: u16,
    /// The path as patterns see it (see [`match_path`]).
    pub path: String,
    pub method: Option<Method>,
    pub secret: Option<String>,
    /// Bytes the request would send: URL, header names and values, body.
    pub egress: u64,
}

impl HttpTarget {
    /// Parses the URL; anything but an absolute http(s) URL with a host is refused.
    /// Returns the URL, its scheme, host, port and the path patterns see.
    pub fn parse(raw: &str) -> Result<(Url, Scheme, String, u16, String), String> {
        let url = Url::parse(raw).map_err(|e| format!("`{raw}` is not a valid URL ({e})"))?;
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return Err(format!(
                    "`{raw}` uses the scheme `{other}`; only http and https are possible"
                ));
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| format!("`{raw}` has no host"))?
            .trim_end_matches('.')
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(scheme.default_port());
        let path = match_path(url.path());
        Ok((url, scheme, host, port, path))
    }
}

/// A request path (as the WHATWG parser serialised it) in the form patterns are
/// matched against: `%XX` escapes of unreserved characters decoded (RFC 3986
/// §6.2.2.2: `/%61dmin` and `/admin` are the same resource) and runs of `/`
/// collapsed (most servers serve `//admin` as `/admin`). Other escapes, `%2F`
/// among them, stay as they are.
pub fn match_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let mut byte = bytes[i];
        let mut width = 1;
        if byte == b'%'
            && let Some(hex) = path.get(i + 1..i + 3)
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
            && let Ok(decoded) = u8::from_str_radix(hex, 16)
            && (decoded.is_ascii_alphanumeric() || b"-._~".contains(&decoded))
        {
            byte = decoded;
            width = 3;
        }
        if !(byte == b'/' && out.last() == Some(&b'/')) {
            out.push(byte);
        }
        i += width;
    }
    // Only ASCII bytes were decoded, so the text stays UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| path.to_owned())
}
