//! Vets a URL exactly as a script wrote it, before any DNS lookup.
//!
//! The WHATWG parser (the `url` crate) silently repairs input: it drops tabs and
//! newlines, reads `\` as `/`, skips extra slashes, percent-decodes and
//! IDNA-maps hosts, and reads `0x7f.1` as 127.0.0.1. Other parsers on the path
//! (proxies, servers, log readers) repair differently, which is how SSRF filters
//! get bypassed. So anything a repair would touch is refused on the raw text
//! first, and only then is the URL parsed; the parsed host is what the address
//! rules judge.
//!
//! The path is sent as the parser serialises it (dot segments resolved, `%2e`
//! included), and the gate judges every reading a server could make of it
//! (`policy::http::PathReadings`). Three spellings have no reading the gate
//! can trust and are refused here, for the gate and the tool alike: an escaped
//! control character (`%00`, `%0A`: servers truncate or split there), an
//! overlong UTF-8 escape (`%C0%AE`: old decoders read `.` or `/`), and escapes
//! encoded three or more times over (`%25252e`). Host names must be ASCII:
//! a name with other characters is refused rather than IDNA-mapped, so that
//! what a reviewer reads in `policy.toml` is what is looked up.

use std::fmt;
use std::net::IpAddr;

use url::{Host, ParseError, Url};

/// Longest raw (and serialized) URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 8192;

/// How much of the input a problem may quote, in characters.
const QUOTE_CHARS: usize = 100;

/// Where a vetted URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A literal address, including the numeric spellings WHATWG accepts.
    Ip(IpAddr),
    /// A DNS name: ASCII, lowercase, no trailing dot; its addresses are judged after lookup.
    Name(String),
}

/// A URL that passed every check, with where it points and the port it uses.
#[derive(Debug, Clone)]
pub struct VettedUrl {
    pub url: Url,
    pub destination: Destination,
    pub port: u16,
}

/// Why a URL is refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlProblem {
    TooLong,
    ControlOrWhitespace,
    Backslash,
    /// Carries (a clipped copy of) the input.
    NotAbsolute(String),
    /// Carries the scheme, lowercased and clipped.
    Scheme(String),
    Userinfo,
    NonAsciiHost,
    EncodedHost,
    NoHost,
    BadPort,
    /// Carries what makes the path ambiguous.
    AmbiguousPath(&'static str),
    /// Carries a short reason.
    Unparsable(String),
}

impl UrlProblem {
    /// Stable kebab-case code, for logs and rules that match on it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLong => "too-long",
            Self::ControlOrWhitespace => "control-or-whitespace",
            Self::Backslash => "backslash",
            Self::NotAbsolute(_) => "not-absolute",
            Self::Scheme(_) => "scheme",
            Self::Userinfo => "userinfo",
            Self::NonAsciiHost => "non-ascii-host",
            Self::EncodedHost => "encoded-host",
            Self::NoHost => "no-host",
            Self::BadPort => "bad-port",
            Self::AmbiguousPath(_) => "ambiguous-path",
            Self::Unparsable(_) => "unparsable",
        }
    }
}

impl fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(
                f,
                "the URL is longer than {MAX_URL_BYTES} bytes (after percent-encoding); \
                 send large data in the request body instead"
            ),
            Self::ControlOrWhitespace => f.write_str(
                "the URL contains a control, whitespace or invisible formatting character; \
                 percent-encode it (a space is %20)",
            ),
            Self::Backslash => f.write_str(
                "the URL contains a backslash, which parsers read differently; \
                 use '/' or percent-encode it as %5C",
            ),
            Self::NotAbsolute(input) => write!(
                f,
                "{input:?} is not an absolute URL; write it in full, as \
                 http://host/path or https://host/path"
            ),
            Self::Scheme(scheme) => write!(
                f,
                "the scheme {scheme:?} is not allowed; only http:// and https:// URLs can be fetched"
            ),
            Self::Userinfo => f.write_str(
                "the URL has a user name or password (an '@' before the host); \
                 remove it and send credentials in a header instead",
            ),
            Self::NonAsciiHost => f.write_str(
                "the host contains non-ASCII characters; write it in its ASCII \
                 (punycode, xn--) form",
            ),
            Self::EncodedHost => f.write_str(
                "the host contains a '%' escape; write the host name or address literally",
            ),
            Self::NoHost => f.write_str(
                "the URL has no host; write it as http://host/path or https://host/path",
            ),
            Self::BadPort => f.write_str(
                "the port is not a number from 1 to 65535; give a valid port \
                 or leave out the ':' to use the default",
            ),
            Self::AmbiguousPath(what) => write!(
                f,
                "the path contains {what}, which servers read differently; \
                 write the path with at most one level of escapes and no escaped controls"
            ),
            Self::Unparsable(reason) => write!(
                f,
                "the URL could not be parsed ({reason}); write it as \
                 http://host/path or https://host/path"
            ),
        }
    }
}

impl std::error::Error for UrlProblem {}

/// Checks a raw URL as a script wrote it.
pub fn vet_url(raw: &str) -> Result<VettedUrl, UrlProblem> {
    if raw.len() > MAX_URL_BYTES {
        return Err(UrlProblem::TooLong);
    }
    if raw.chars().any(is_control_or_space) {
        return Err(UrlProblem::ControlOrWhitespace);
    }
    if raw.contains('\\') {
        return Err(UrlProblem::Backslash);
    }
    let rest = after_scheme(raw)?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains('@') {
        return Err(UrlProblem::Userinfo);
    }
    if !authority.is_ascii() {
        return Err(UrlProblem::NonAsciiHost);
    }
    if authority.contains('%') {
        return Err(UrlProblem::EncodedHost);
    }
    let (host, port_text) = split_authority(authority)?;
    if host.is_empty() {
        return Err(UrlProblem::NoHost);
    }
    let explicit_port = port_text.map(parse_port).transpose()?;

    let url = Url::parse(raw).map_err(|error| parse_problem(error, raw))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlProblem::Userinfo);
    }
    // Percent-encoding can triple the length; what is sent must fit too.
    if url.as_str().len() > MAX_URL_BYTES {
        return Err(UrlProblem::TooLong);
    }
    let destination = match url.host() {
        Some(Host::Ipv4(ip)) => Destination::Ip(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Destination::Ip(IpAddr::V6(ip)),
        Some(Host::Domain(name)) => Destination::Name(dns_name(name)?),
        None => return Err(UrlProblem::NoHost),
    };
    if let Some(what) = ambiguous_path(url.path()) {
        return Err(UrlProblem::AmbiguousPath(what));
    }
    let default_port = if url.scheme() == "https" { 443 } else { 80 };
    let port = explicit_port.unwrap_or(default_port);
    // The raw reading and the parser's must agree on where the request goes.
    if url.port_or_known_default() != Some(port) {
        return Err(UrlProblem::BadPort);
    }
    Ok(VettedUrl {
        url,
        destination,
        port,
    })
}

/// Characters WHATWG strips or that hide in logs and prompts: controls (C0, DEL,
/// C1), Unicode whitespace, and the invisible format characters (zero-width,
/// bidi overrides and isolates, BOM) that make a URL read as something else.
fn is_control_or_space(c: char) -> bool {
    c.is_whitespace() || crate::unicode::is_hidden(c)
}

/// Decodes percent-escapes once: `%XX` in either case, and the `%uXXXX` form
/// some servers (IIS) read. Escapes whose byte is in `keep` stay escaped, in
/// uppercase; anything that is not an escape stays as it is.
pub fn decode_escapes(input: &[u8], keep: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            if let (Some(h), Some(l)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                let byte = (h * 16 + l) as u8;
                if keep.contains(&byte) {
                    out.extend_from_slice(format!("%{byte:02X}").as_bytes());
                } else {
                    out.push(byte);
                }
                i += 3;
                continue;
            }
            if matches!(input.get(i + 1), Some(b'u' | b'U'))
                && let Some(digits) = input.get(i + 2..i + 6)
                && let Some(code) = digits
                    .iter()
                    .try_fold(0u32, |n, b| hex(*b).map(|d| n * 16 + d))
                && let Some(c) = char::from_u32(code)
            {
                let mut buffer = [0u8; 4];
                let encoded = c.encode_utf8(&mut buffer).as_bytes();
                if encoded.len() == 1 && keep.contains(&encoded[0]) {
                    out.extend_from_slice(format!("%{:02X}", encoded[0]).as_bytes());
                } else {
                    out.extend_from_slice(encoded);
                }
                i += 6;
                continue;
            }
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// What makes a (serialised) path unjudgeable, if anything.
fn ambiguous_path(path: &str) -> Option<&'static str> {
    if !path.contains('%') {
        return None;
    }
    let once = decode_escapes(path.as_bytes(), b"");
    let twice = decode_escapes(&once, b"");
    for decoded in [&once, &twice] {
        if decoded.iter().any(|b| *b < 0x20 || *b == 0x7f) {
            return Some("an escaped control character (such as %00 or %0A)");
        }
        if has_overlong_utf8(decoded) {
            return Some("an overlong UTF-8 escape (such as %C0%AE)");
        }
    }
    if decode_escapes(&twice, b"") != twice {
        return Some("escapes encoded three or more times over (such as %25252e)");
    }
    None
}

/// Lead bytes that can only start an overlong encoding: C0 and C1, E0 before
/// 80–9F, F0 before 80–8F.
fn has_overlong_utf8(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|pair| {
        matches!(
            (pair[0], pair[1]),
            (0xC0 | 0xC1, 0x80..=0xBF) | (0xE0, 0x80..=0x9F) | (0xF0, 0x80..=0x8F)
        )
    })
}

/// The text after `http://` or `https://`; anything else is refused, and a
/// missing `//` too, since WHATWG would guess one.
fn after_scheme(raw: &str) -> Result<&str, UrlProblem> {
    let not_absolute = || UrlProblem::NotAbsolute(clip(raw, QUOTE_CHARS));
    let (scheme, rest) = raw.split_once(':').ok_or_else(not_absolute)?;
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !is_scheme {
        return Err(not_absolute());
    }
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        return rest.strip_prefix("//").ok_or_else(not_absolute);
    }
    // `localhost:8080/x` is a host and port without a scheme, not scheme `localhost`.
    let port_like = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if !port_like.is_empty() && port_like.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_absolute());
    }
    Err(UrlProblem::Scheme(clip(&scheme.to_ascii_lowercase(), 32)))
}

/// Splits an authority (already free of `@`) into host and optional port text.
fn split_authority(authority: &str) -> Result<(&str, Option<&str>), UrlProblem> {
    if let Some(inner) = authority.strip_prefix('[') {
        let close = inner.find(']').ok_or_else(|| {
            UrlProblem::Unparsable("the IPv6 address has no closing ']'".to_owned())
        })?;
        let after = &inner[close + 1..];
        let host = &authority[..close + 2];
        if after.is_empty() {
            return Ok((host, None));
        }
        return match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None => Err(UrlProblem::Unparsable(
                "text follows the IPv6 address where only ':port' may".to_owned(),
            )),
        };
    }
    Ok(match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// Decimal digits only (no sign, no empty port), 1 to 65535.
fn parse_port(text: &str) -> Result<u16, UrlProblem> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlProblem::BadPort);
    }
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(UrlProblem::BadPort),
        Ok(port) => Ok(port),
    }
}

fn parse_problem(error: ParseError, raw: &str) -> UrlProblem {
    match error {
        ParseError::EmptyHost => UrlProblem::NoHost,
        ParseError::InvalidPort => UrlProblem::BadPort,
        ParseError::RelativeUrlWithoutBase => UrlProblem::NotAbsolute(clip(raw, QUOTE_CHARS)),
        other => UrlProblem::Unparsable(other.to_string()),
    }
}

/// Normalises a parsed domain to what the resolver is asked for, refusing
/// anything that is not a plain DNS name or that WHATWG would read as IPv4.
fn dns_name(domain: &str) -> Result<String, UrlProblem> {
    let lower = domain.to_ascii_lowercase();
    if !lower.is_ascii() {
        return Err(UrlProblem::NonAsciiHost);
    }
    if lower.bytes().all(|b| b == b'.') {
        return Err(UrlProblem::NoHost);
    }
    let name = lower.strip_suffix('.').unwrap_or(&lower);
    let quoted = clip(name, QUOTE_CHARS);
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(UrlProblem::Unparsable(format!(
            "the host name {quoted:?} contains {c:?}; DNS names use letters, digits, '-', '_' and '.'"
        )));
    }
    if name.split('.').any(str::is_empty) {
        return Err(UrlProblem::Unparsable(format!(
            "the host name {quoted:?} has an empty label"
        )));
    }
    if name.len() > 253 || name.split('.').any(|label| label.len() > 63) {
        return Err(UrlProblem::Unparsable(format!(
            "the host name {quoted:?} is longer than DNS allows"
        )));
    }
    let last = name.rsplit('.').next().unwrap_or(name);
    if last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x") {
        return Err(UrlProblem::Unparsable(format!(
            "the host name {quoted:?} ends in a numeric label, which reads as an IPv4 address"
        )));
    }
    Ok(name.to_owned())
}

/// At most `max` characters of `text`, marked when cut, so errors never echo a
/// whole (possibly huge or hostile) input.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[derive(Debug)]
    enum Want {
        Ip(&'static str, u16),
        Name(&'static str, u16),
        No(UrlProblem),
    }
    use UrlProblem::*;
    use Want::*;

    fn unparsable() -> UrlProblem {
        Unparsable(String::new())
    }

    fn check(raw: &str, want: &Want) {
        let got = vet_url(raw);
        match (want, &got) {
            (Ip(ip, port), Ok(v)) => {
                let ip: IpAddr = ip.parse().expect("an address literal");
                assert_eq!(
                    (&v.destination, v.port),
                    (&Destination::Ip(ip), *port),
                    "{raw}"
                );
            }
            (Name(name, port), Ok(v)) => {
                let name = Destination::Name((*name).to_owned());
                assert_eq!((&v.destination, v.port), (&name, *port), "{raw}");
            }
            // The reason text of Unparsable is free; only the variant is pinned.
            (No(Unparsable(_)), Err(Unparsable(reason))) => {
                assert!(!reason.is_empty(), "{raw}");
            }
            (No(AmbiguousPath(_)), Err(AmbiguousPath(what))) => {
                assert!(!what.is_empty(), "{raw}");
            }
            (No(problem), Err(got)) => assert_eq!(got, problem, "{raw}"),
            _ => panic!("{raw:?}: wanted {want:?}, got {got:?}"),
        }
    }

    #[test]
    fn a_table_of_raw_urls() {
        let long_path = format!("http://example.com/{}", "a".repeat(MAX_URL_BYTES));
        let longest = format!("http://example.com/{}", "a".repeat(MAX_URL_BYTES - 19));
        let swells = format!("http://example.com/{}", "é".repeat(3000));
        let long_label = format!("http://{}.com/", "a".repeat(64));
        let cases: Vec<(&str, Want)> = vec![
            // names: case, trailing dot, ports, queries and fragments
            ("http://example.com/", Name("example.com", 80)),
            ("https://example.com/", Name("example.com", 443)),
            ("http://example.com", Name("example.com", 80)),
            ("HTTP://EXAMPLE.COM/Path", Name("example.com", 80)),
            (
                "HtTpS://Api.Example.COM:8443/x",
                Name("api.example.com", 8443),
            ),
            ("http://example.com./", Name("example.com", 80)),
            ("https://example.com.:8080/", Name("example.com", 8080)),
            ("http://example.com:80/", Name("example.com", 80)),
            ("https://example.com:80/", Name("example.com", 80)),
            ("http://example.com:0080/", Name("example.com", 80)),
            ("http://example.com:65535/", Name("example.com", 65535)),
            (
                "https://example.com/s?q=a%20b&x=1#frag",
                Name("example.com", 443),
            ),
            ("http://example.com?@evil.test", Name("example.com", 80)),
            ("http://example.com#@evil.test", Name("example.com", 80)),
            ("http://example.com/é?ü#ß", Name("example.com", 80)),
            (
                "http://sub_domain.example.com/",
                Name("sub_domain.example.com", 80),
            ),
            ("http://xn--mnchen-3ya.de/", Name("xn--mnchen-3ya.de", 80)),
            ("http://localhost/", Name("localhost", 80)),
            ("http://127.0.0.1.nip.io/", Name("127.0.0.1.nip.io", 80)),
            ("http://0x7f.example/", Name("0x7f.example", 80)),
            (&longest, Name("example.com", 80)),
            // IPv4: dotted, decimal, octal, hex, mixed and short forms
            ("http://127.0.0.1/", Ip("127.0.0.1", 80)),
            ("http://127.0.0.1./", Ip("127.0.0.1", 80)),
            ("http://2130706433/", Ip("127.0.0.1", 80)),
            ("http://0x7f000001/", Ip("127.0.0.1", 80)),
            ("http://0X7F.1/", Ip("127.0.0.1", 80)),
            ("http://0x7f.1/", Ip("127.0.0.1", 80)),
            ("http://0177.0.0.1/", Ip("127.0.0.1", 80)),
            ("http://017700000001/", Ip("127.0.0.1", 80)),
            ("http://127.1/", Ip("127.0.0.1", 80)),
            ("http://127.0.1/", Ip("127.0.0.1", 80)),
            ("http://0x7f.0.0.01/", Ip("127.0.0.1", 80)),
            ("http://0x7f.0x0.0x0.0x1/", Ip("127.0.0.1", 80)),
            ("https://0300.0250.0.1:8443/", Ip("192.168.0.1", 8443)),
            ("http://3232235521/", Ip("192.168.0.1", 80)),
            ("http://192.168.1/", Ip("192.168.0.1", 80)),
            ("http://0/", Ip("0.0.0.0", 80)),
            ("http://0x/", Ip("0.0.0.0", 80)),
            (
                "http://169.254.169.254/latest/meta-data/",
                Ip("169.254.169.254", 80),
            ),
            ("http://1.2.3.4.5/", No(unparsable())),
            ("http://256.0.0.1/", No(unparsable())),
            ("http://4294967296/", No(unparsable())),
            ("http://08.0.0.1/", No(unparsable())),
            ("http://example.0x/", No(unparsable())),
            ("http://example.0xzz/", No(unparsable())),
            ("http://example.123./", No(unparsable())),
            ("http://1.2.3.4../", No(unparsable())),
            // IPv6 literals
            ("http://[::1]/", Ip("::1", 80)),
            ("http://[::ffff:127.0.0.1]/", Ip("::ffff:127.0.0.1", 80)),
            (
                "https://[2606:4700:4700::1111]:8443/",
                Ip("2606:4700:4700::1111", 8443),
            ),
            ("http://[FD00:EC2::254]/", Ip("fd00:ec2::254", 80)),
            ("http://[fe80::1%25eth0]/", No(EncodedHost)),
            ("http://[::1/", No(unparsable())),
            ("http://[::1]x/", No(unparsable())),
            ("http://[]/", No(unparsable())),
            ("http://[::1]:0/", No(BadPort)),
            ("http://[127.0.0.1]/", No(unparsable())),
            // length
            (&long_path, No(TooLong)),
            (&swells, No(TooLong)),
            // controls, whitespace, invisible characters
            (" http://example.com/", No(ControlOrWhitespace)),
            ("http://example.com/ ", No(ControlOrWhitespace)),
            ("http://exa mple.com/", No(ControlOrWhitespace)),
            ("http://exa\tmple.com/", No(ControlOrWhitespace)),
            ("http://example.com/\r\nHost: evil", No(ControlOrWhitespace)),
            ("http://example.com/\0", No(ControlOrWhitespace)),
            ("http://example.com/\u{7f}", No(ControlOrWhitespace)),
            ("http://example.com/\u{85}", No(ControlOrWhitespace)),
            ("http://example.com/\u{a0}", No(ControlOrWhitespace)),
            ("http://example.com/\u{3000}", No(ControlOrWhitespace)),
            ("http://example.com\u{200b}/", No(ControlOrWhitespace)),
            ("http://example.com/\u{202e}", No(ControlOrWhitespace)),
            // backslashes
            ("http://evil.test\\@good.test/", No(Backslash)),
            ("http:\\\\example.com\\", No(Backslash)),
            ("http://example.com/a\\b", No(Backslash)),
            // schemes and absoluteness
            ("ftp://example.com/", No(Scheme("ftp".into()))),
            ("FILE:///etc/passwd", No(Scheme("file".into()))),
            ("javascript:alert(1)", No(Scheme("javascript".into()))),
            ("gopher://127.0.0.1:70/", No(Scheme("gopher".into()))),
            ("httpx://example.com/", No(Scheme("httpx".into()))),
            (
                "http:example.com",
                No(NotAbsolute("http:example.com".into())),
            ),
            (
                "http:/example.com",
                No(NotAbsolute("http:/example.com".into())),
            ),
            (
                "https:example.com:443/",
                No(NotAbsolute("https:example.com:443/".into())),
            ),
            ("//example.com/", No(NotAbsolute("//example.com/".into()))),
            ("example.com", No(NotAbsolute("example.com".into()))),
            (
                "localhost:8080/x",
                No(NotAbsolute("localhost:8080/x".into())),
            ),
            ("/etc/passwd", No(NotAbsolute("/etc/passwd".into()))),
            ("", No(NotAbsolute(String::new()))),
            // userinfo
            ("http://user@example.com/", No(Userinfo)),
            ("http://@example.com/", No(Userinfo)),
            ("http://user:pass@example.com/", No(Userinfo)),
            ("http://good.test@127.0.0.1/", No(Userinfo)),
            ("http://a@b@example.com/", No(Userinfo)),
            // non-ASCII and encoded hosts
            ("http://exämple.com/", No(NonAsciiHost)),
            ("http://例え.jp/", No(NonAsciiHost)),
            ("http://ｅxample.com/", No(NonAsciiHost)),
            ("http://127。0。0。1/", No(NonAsciiHost)),
            ("http://%65xample.com/", No(EncodedHost)),
            ("http://127.0.0.1%2f.evil.test/", No(EncodedHost)),
            // empty hosts
            ("http:///example.com/", No(NoHost)),
            ("https:////example.com/", No(NoHost)),
            ("http://", No(NoHost)),
            ("http://?x", No(NoHost)),
            ("http://:80/", No(NoHost)),
            ("http://./", No(NoHost)),
            ("http://../", No(NoHost)),
            // odd names
            ("http://a..b/", No(unparsable())),
            ("http://.example.com/", No(unparsable())),
            ("http://exa'mple.com/", No(unparsable())),
            ("http://exa*mple.com/", No(unparsable())),
            (&long_label, No(unparsable())),
            // ports
            ("http://example.com:0/", No(BadPort)),
            ("http://example.com:65536/", No(BadPort)),
            ("http://example.com:99999999999/", No(BadPort)),
            ("http://example.com:+80/", No(BadPort)),
            ("http://example.com:-1/", No(BadPort)),
            ("http://example.com:/", No(BadPort)),
            ("http://example.com:8o/", No(BadPort)),
            ("http://example.com:80:80/", No(BadPort)),
            // paths a server could read in more than one way
            ("http://example.com/a%00b", No(AmbiguousPath(""))),
            ("http://example.com/a%0Ab", No(AmbiguousPath(""))),
            ("http://example.com/a%250ab", No(AmbiguousPath(""))),
            ("http://example.com/%c0%ae%c0%ae/etc", No(AmbiguousPath(""))),
            ("http://example.com/%e0%80%af", No(AmbiguousPath(""))),
            ("http://example.com/%25252e%25252e/x", No(AmbiguousPath(""))),
            ("http://example.com/%u0000", No(AmbiguousPath(""))),
            ("http://example.com/a%2Fb;c/%252e", Name("example.com", 80)),
            ("http://example.com/100%25", Name("example.com", 80)),
            ("http://example.com/%E2%82%AC", Name("example.com", 80)),
            ("http://example.com/%zz%", Name("example.com", 80)),
            ("http://example.com/?q=%00", Name("example.com", 80)),
        ];
        assert!(cases.len() >= 40);
        for (raw, want) in &cases {
            check(raw, want);
        }
    }

    #[test]
    fn escapes_decode_once_keeping_what_is_asked() {
        for (input, keep, want) in [
            ("/a%2fb%2Fc", &b""[..], "/a/b/c"),
            ("/a%2fb%3bc%5c", b"/;\\", "/a%2Fb%3Bc%5C"),
            ("/%61%62", b"/", "/ab"),
            ("/%u0061%U002F", b"", "/a/"),
            ("/%u002f", b"/", "/%2F"),
            ("/%252e", b"", "/%2e"),
            ("/%zz%4", b"", "/%zz%4"),
            ("/%e2%82%ac", b"", "/€"),
        ] {
            assert_eq!(
                String::from_utf8_lossy(&decode_escapes(input.as_bytes(), keep)),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn destinations_are_typed_addresses() {
        let v = vet_url("http://0x7f.1/").expect("vetted");
        assert_eq!(v.destination, Destination::Ip(Ipv4Addr::LOCALHOST.into()));
        let v = vet_url("http://[::ffff:127.0.0.1]/").expect("vetted");
        let mapped = Ipv4Addr::LOCALHOST.to_ipv6_mapped();
        assert_eq!(v.destination, Destination::Ip(IpAddr::V6(mapped)));
        assert_ne!(
            v.destination,
            Destination::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(v.url.as_str(), "http://[::ffff:7f00:1]/");
    }

    #[test]
    fn problems_have_codes_and_short_messages() {
        let huge = format!("{}:{}", "x".repeat(5000), "y".repeat(5000));
        let long_scheme = format!("{}://host/", "s".repeat(5000));
        let long_name = format!("http://{}.0xz/", "a".repeat(60));
        for (raw, code) in [
            ("http://example.com/ ", "control-or-whitespace"),
            ("http://a\\b/", "backslash"),
            ("http:x", "not-absolute"),
            (huge.as_str(), "too-long"),
            ("ftp://x/", "scheme"),
            (long_scheme.as_str(), "scheme"),
            ("http://u@x/", "userinfo"),
            ("http://ä/", "non-ascii-host"),
            ("http://%41/", "encoded-host"),
            ("http:///", "no-host"),
            ("http://x:0/", "bad-port"),
            ("http://1.2.3.4.5/", "unparsable"),
            ("http://x/%00", "ambiguous-path"),
            (long_name.as_str(), "unparsable"),
        ] {
            let problem = vet_url(raw).expect_err(raw);
            assert_eq!(problem.code(), code, "{raw}");
            let message = problem.to_string();
            assert!(message.len() < 330, "{message}");
            assert!(
                message.contains("; "),
                "says what would be valid: {message}"
            );
        }
        let problem = vet_url(&format!("{}/x", "y".repeat(5000))).expect_err("not absolute");
        assert!(problem.to_string().chars().count() < 250, "{problem}");
    }

    fn urlish() -> impl Strategy<Value = String> {
        let scheme = prop_oneof![
            4 => Just("http://"),
            4 => Just("https://"),
            1 => Just("HTTP://"),
            1 => Just(""),
            1 => Just("http:"),
            1 => Just("http:/"),
            1 => Just("http:///"),
            1 => Just("ftp://"),
        ];
        let host = prop_oneof![
            "[a-zA-Z0-9._-]{0,20}",
            "(0x[0-9a-fA-F]{0,9}|0[0-7]{0,12}|[0-9]{1,11})(\\.(0x[0-9a-f]{0,3}|[0-9]{0,4})){0,4}\\.?",
            any::<Ipv6Addr>().prop_map(|ip| format!("[{ip}]")),
            any::<Ipv4Addr>().prop_map(|ip| format!("[::ffff:{ip}]")),
            "\\[[0-9a-fA-F:.]{0,30}\\]",
            "[a-z0-9.@%:\\[\\]éß。]{0,16}",
        ];
        let port = prop_oneof![3 => Just(String::new()), 1 => ":[0-9+-]{0,7}"];
        let tail = prop_oneof![
            2 => Just(String::new()),
            4 => "[/?#][!-\\[\\]-~é]{0,24}",
            1 => "[/?#][ -~é\t]{0,24}",
        ];
        (scheme, host, port, tail).prop_map(|(s, h, p, t)| format!("{s}{h}{p}{t}"))
    }

    fn well_formed(v: &VettedUrl) -> Result<(), TestCaseError> {
        prop_assert!(matches!(v.url.scheme(), "http" | "https"));
        prop_assert!(v.url.username().is_empty() && v.url.password().is_none());
        prop_assert!(v.port != 0);
        if let Destination::Name(name) = &v.destination {
            prop_assert!(!name.is_empty() && !name.ends_with('.'));
            prop_assert!(
                name.bytes()
                    .all(|b| !b.is_ascii_uppercase() && b.is_ascii())
            );
            let last = name.rsplit('.').next().unwrap_or_default();
            prop_assert!(!last.starts_with("0x") && !last.bytes().all(|b| b.is_ascii_digit()));
        }
        Ok(())
    }

    fn revets_the_same(raw: &str) -> Result<(), TestCaseError> {
        if let Ok(v) = vet_url(raw) {
            well_formed(&v)?;
            let again = vet_url(v.url.as_str());
            prop_assert!(again.is_ok(), "{} re-vets as {:?}", v.url, again);
            if let Ok(again) = again {
                prop_assert_eq!(&again.destination, &v.destination);
                prop_assert_eq!(again.port, v.port);
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_strings_never_panic_and_revet(raw in any::<String>()) {
            revets_the_same(&raw)?;
        }

        #[test]
        fn urlish_strings_never_panic_and_revet(raw in urlish()) {
            revets_the_same(&raw)?;
        }
    }
}
