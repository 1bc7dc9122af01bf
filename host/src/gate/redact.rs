//! Keeps secret values out of everything clambot writes down or hands back:
//! results a script receives, errors, approval prompts, audit records, logs.
//!
//! Threat model: a script never holds a secret value (it names secrets; the
//! http tool injects them host-side), but a server, a file or an error message
//! can echo one back. So every text leaving the host side passes [`Redactor`],
//! which replaces each known secret value wherever it appears — also in the
//! forms it takes when a server or a format re-encodes it:
//!
//! - as is, and JSON-escaped (`\"`, `\\`, `\/`, `\uXXXX` in either case,
//!   surrogate pairs included);
//! - URL-encoded (`%XX` in either case, `+` for a space), for any subset of
//!   its bytes;
//! - as HTML character references (`&#65;`, `&#x41;`, `&amp;` …);
//! - one encoding inside another (URL-encoded JSON escapes, say), for texts up
//!   to 256 KiB;
//! - in any ASCII letter case (an echo may be upper-cased);
//! - hex, in upper, lower or mixed case;
//! - base64, standard and URL-safe, padded or not, at any of the three byte
//!   alignments it can have inside a longer base64 stream (the characters
//!   determined by the secret alone are matched; the neighbouring character
//!   that shares bits with it is replaced too).
//!
//! The redactor knows every value a run can see at the moment it can see it:
//! a live redactor ([`Redactor::live`]) re-reads the secrets store whenever
//! its file changes (checked on every use), and the http tool registers each
//! value it injects ([`Redactor::register`]) before the request is sent. Values
//! once known stay known for the redactor's life (a removed secret may still
//! be echoed). Values shorter than [`MIN_SECRET_LEN`] are refused by
//! `secrets set` and by the http tool, so none is silently unredactable.
//!
//! What it cannot do: catch a value that was split across texts (a server
//! that sends half in each of two responses), encoded in a way not listed
//! here (compressed, encrypted, reversed, base32, nested encodings), or
//! transformed by the script's own code before output. docs/security.md says
//! so. Credential-carrying HTTP headers are also replaced by name in records.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine as _;
use serde_json::Value as Json;

use crate::secrets::{SecretStore, StoreStamp};

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Header names whose values are credentials, compared case-insensitively.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-auth-token",
];

/// The shortest secret value clambot accepts: a shorter one cannot be redacted
/// without destroying text (replacing every "a" in a log hides nothing), so it
/// is refused when set and when it would be sent.
pub const MIN_SECRET_LEN: usize = 4;

/// Texts up to this size are also searched in views of views (URL-encoded
/// JSON escapes, say); larger ones in one layer of decoding only, so that the
/// work stays a small multiple of the text.
const MAX_NESTED_VIEW_BYTES: usize = 256 * 1024;

/// Finds and replaces known secret values (see the module docs).
#[derive(Debug, Default)]
pub struct Redactor {
    /// Where values come from, re-read when it changes; `None`: fixed values.
    source: Option<Arc<SecretStore>>,
    state: RwLock<State>,
}

#[derive(Debug, Default, Clone)]
struct State {
    /// The store's change count (this process) when last read.
    changes: u64,
    /// The store as it was when last read, and when it was last looked at.
    stamp: Option<StoreStamp>,
    looked: Option<Instant>,
    patterns: Arc<Patterns>,
}

/// How often a live redactor looks at the secrets file for changes made by
/// another process (a `stat`; the redactor is used several times per host
/// call). Changes made in this process, and values injected into the run,
/// are known at once.
const LOOK_EVERY: Duration = Duration::from_millis(100);

impl Clone for Redactor {
    fn clone(&self) -> Self {
        Self {
            source: self.source.clone(),
            state: RwLock::new(
                self.state
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone(),
            ),
        }
    }
}

impl Redactor {
    /// A redactor for these secret values (only these).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        Self {
            source: None,
            state: RwLock::new(State {
                patterns: Arc::new(Patterns::build(secrets.into_iter().collect())),
                ..State::default()
            }),
        }
    }

    /// A redactor that knows every value in `store`, now and whenever it
    /// changes later. Fails if the store cannot be read now.
    pub fn live(store: Arc<SecretStore>) -> anyhow::Result<Self> {
        let changes = store.changes();
        let stamp = store.stamp();
        let values = store.values()?;
        Ok(Self {
            source: Some(store),
            state: RwLock::new(State {
                changes,
                stamp: Some(stamp),
                looked: Some(Instant::now()),
                patterns: Arc::new(Patterns::build(values)),
            }),
        })
    }

    /// Adds a value the run is about to be exposed to (a secret being injected).
    pub fn register(&self, value: &str) {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.patterns.values.iter().any(|v| v == value) {
            return;
        }
        let mut values = state.patterns.values.clone();
        values.push(value.to_owned());
        state.patterns = Arc::new(Patterns::build(values));
    }

    /// The patterns, refreshed first if the store changed since they were built.
    /// If the store cannot be read, the values known so far stay in force.
    fn patterns(&self) -> Arc<Patterns> {
        let store = {
            let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
            match &self.source {
                None => return Arc::clone(&state.patterns),
                Some(store) => {
                    let recent = state.looked.is_some_and(|at| at.elapsed() < LOOK_EVERY);
                    if store.changes() == state.changes && recent {
                        return Arc::clone(&state.patterns);
                    }
                    store
                }
            }
        };
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let changes = store.changes();
        let stamp = store.stamp();
        state.looked = Some(Instant::now());
        if changes == state.changes && state.stamp.as_ref() == Some(&stamp) {
            return Arc::clone(&state.patterns);
        }
        if let Ok(fresh) = store.values() {
            let mut values = state.patterns.values.clone();
            let before = values.len();
            for value in fresh {
                if !values.contains(&value) {
                    values.push(value);
                }
            }
            if values.len() != before {
                state.patterns = Arc::new(Patterns::build(values));
            }
            state.changes = changes;
            state.stamp = Some(stamp);
        }
        Arc::clone(&state.patterns)
    }

    /// Whether any secret value is known (otherwise only header names are redacted).
    pub fn has_secrets(&self) -> bool {
        !self.patterns().values.is_empty()
    }

    /// `value` with every known secret value replaced in its strings (keys
    /// included), and nothing else changed: for results handed back to a script,
    /// where header redaction by name would only destroy data.
    pub fn json_values(&self, value: Json) -> Json {
        let patterns = self.patterns();
        if patterns.values.is_empty() {
            return value;
        }
        patterns.json_values(value)
    }

    /// Replaces secret values in a text.
    pub fn text(&self, text: &str) -> String {
        self.patterns().text(text)
    }

    /// A copy of `value` with credentials and secret values replaced.
    pub fn json(&self, value: &Json) -> Json {
        self.patterns().json(value)
    }
}

/// The compiled search for a set of values.
#[derive(Debug, Default)]
struct Patterns {
    values: Vec<String>,
    /// Matched byte for byte: the values and their base64 forms.
    exact: Option<AhoCorasick>,
    /// Which patterns of `exact` are base64 (their neighbours are replaced too).
    exact_is_base64: Vec<bool>,
    /// Matched ignoring ASCII case: the values' hex forms, and the values
    /// themselves (a server may upper-case what it echoes).
    any_case: Option<AhoCorasick>,
}

impl Patterns {
    fn build(values: Vec<String>) -> Self {
        let values: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_SECRET_LEN)
            .collect();
        if values.is_empty() {
            return Self::default();
        }
        let mut exact: Vec<Vec<u8>> = Vec::new();
        let mut exact_is_base64 = Vec::new();
        let mut hex = Vec::new();
        for value in &values {
            exact.push(value.as_bytes().to_vec());
            exact_is_base64.push(false);
            for core in base64_cores(value.as_bytes()) {
                if !exact.contains(&core) {
                    exact.push(core);
                    exact_is_base64.push(true);
                }
            }
            hex.push(hex::encode(value.as_bytes()));
            if value.bytes().any(|b| b.is_ascii_alphabetic()) {
                hex.push(value.clone());
            }
        }
        let build = |patterns: &[Vec<u8>], case_insensitive: bool| {
            AhoCorasickBuilder::new()
                .match_kind(MatchKind::Standard)
                .ascii_case_insensitive(case_insensitive)
                .build(patterns)
                .ok()
        };
        let hex: Vec<Vec<u8>> = hex.into_iter().map(String::into_bytes).collect();
        Self {
            exact: build(&exact, false),
            exact_is_base64,
            any_case: build(&hex, true),
            values,
        }
    }

    fn text(&self, text: &str) -> String {
        if self.values.is_empty() {
            return text.to_owned();
        }
        let mut ranges = Vec::new();
        let identity = |d: usize| d;
        self.find(text.as_bytes(), &mut ranges, &identity, &identity);
        // Anchored at every position, so no neighbouring `%` or `\\` can shift
        // how the value's own escapes are read.
        let bytes = text.as_bytes();
        // Without an escape character, a spelling would be the value as it is.
        let escapes = text.contains(['%', '+', '\\']);
        for value in self.values.iter().filter(|_| escapes) {
            let value = value.as_bytes();
            for start in 0..bytes.len() {
                let b = bytes[start];
                if b != value[0] && b != b'%' && b != b'+' && b != b'\\' {
                    continue;
                }
                for matcher in [
                    url_encoded_at as fn(&[u8], usize, &[u8]) -> Option<usize>,
                    json_escaped_at,
                ] {
                    // (The value as it is was found above.)
                    if let Some(end) = matcher(bytes, start, value)
                        && bytes[start..end] != *value
                    {
                        ranges.push((start, end));
                    }
                }
            }
        }
        let depth = if text.len() <= MAX_NESTED_VIEW_BYTES {
            2
        } else {
            1
        };
        self.find_in_views(text.as_bytes(), depth, &mut ranges, &identity, &identity);
        if ranges.is_empty() {
            return text.to_owned();
        }
        replace(text, ranges)
    }

    /// Searches every decoded view of `bytes` (and, `depth` permitting, the
    /// views of those views), mapping matches back through `start` and `end`.
    fn find_in_views(
        &self,
        bytes: &[u8],
        depth: usize,
        ranges: &mut Vec<(usize, usize)>,
        start: &dyn Fn(usize) -> usize,
        end: &dyn Fn(usize) -> usize,
    ) {
        if depth == 0 {
            return;
        }
        for kind in ViewKind::ALL {
            let Some(view) = View::decode(kind, bytes) else {
                continue;
            };
            let view_start = |d: usize| start(view.start(d));
            let view_end = |d: usize| end(view.end(d));
            self.find(&view.bytes, ranges, &view_start, &view_end);
            self.find_in_views(&view.bytes, depth - 1, ranges, &view_start, &view_end);
        }
    }

    /// Adds the source ranges of every match in `bytes` (a view of the text
    /// whose offsets `start` and `end` map back to it).
    fn find(
        &self,
        bytes: &[u8],
        ranges: &mut Vec<(usize, usize)>,
        start: &dyn Fn(usize) -> usize,
        end: &dyn Fn(usize) -> usize,
    ) {
        let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
        if let Some(exact) = &self.exact {
            for m in exact.find_overlapping_iter(bytes) {
                let (mut s, mut e) = (m.start(), m.end());
                if self.exact_is_base64[m.pattern().as_usize()] {
                    // The characters next to a base64 core carry bits of the value.
                    if s > 0 && is_b64(bytes[s - 1]) {
                        s -= 1;
                    }
                    if e < bytes.len() && is_b64(bytes[e]) {
                        e += 1;
                    }
                    while e < bytes.len() && bytes[e] == b'=' {
                        e += 1;
                    }
                }
                ranges.push((start(s), end(e)));
            }
        }
        if let Some(any_case) = &self.any_case {
            for m in any_case.find_overlapping_iter(bytes) {
                ranges.push((start(m.start()), end(m.end())));
            }
        }
    }

    fn json_values(&self, value: Json) -> Json {
        match value {
            Json::String(s) => Json::String(self.text(&s)),
            Json::Array(items) => {
                Json::Array(items.into_iter().map(|v| self.json_values(v)).collect())
            }
            Json::Object(map) => Json::Object(
                map.into_iter()
                    .map(|(k, v)| (self.text(&k), self.json_values(v)))
                    .collect(),
            ),
            other => other,
        }
    }

    fn json(&self, value: &Json) -> Json {
        match value {
            Json::String(s) => Json::String(self.text(s)),
            Json::Array(items) => Json::Array(items.iter().map(|v| self.json(v)).collect()),
            Json::Object(map) => {
                let is_credential_header =
                    map.get("name").and_then(Json::as_str).is_some_and(|n| {
                        CREDENTIAL_HEADERS.contains(&n.to_ascii_lowercase().as_str())
                    }) && map.contains_key("value");
                Json::Object(
                    map.iter()
                        .map(|(k, v)| {
                            let v = if is_credential_header && k == "value" {
                                Json::String(REDACTED.into())
                            } else {
                                self.json(v)
                            };
                            (self.text(k), v)
                        })
                        .collect(),
                )
            }
            other => other.clone(),
        }
    }
}

/// The base64 characters that depend on `value` alone, for each of the three
/// byte offsets it can start at inside a longer stream, in the standard and
/// the URL-safe alphabet. (Padding is never part of them.)
fn base64_cores(value: &[u8]) -> Vec<Vec<u8>> {
    let mut cores = Vec::new();
    let n = value.len();
    for offset in 0..3usize {
        let mut buffer = vec![0u8; offset];
        buffer.extend_from_slice(value);
        let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&buffer);
        // Character j holds bits 6j..6j+6; the value holds bits 8·offset..8·(offset+n).
        let first = (8 * offset).div_ceil(6);
        let last = (8 * (offset + n)) / 6;
        if last <= first {
            continue;
        }
        let core = encoded.as_bytes()[first..last].to_vec();
        let url_safe: Vec<u8> = core
            .iter()
            .map(|&b| match b {
                b'+' => b'-',
                b'/' => b'_',
                b => b,
            })
            .collect();
        for form in [core, url_safe] {
            if !cores.contains(&form) {
                cores.push(form);
            }
        }
    }
    cores
}

/// Where `value` ends if `text` spells it from `at` with any of its bytes
/// URL-encoded (`%XX`, either case) and spaces possibly as `+`.
fn url_encoded_at(text: &[u8], at: usize, value: &[u8]) -> Option<usize> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut p = at;
    for (i, &want) in value.iter().enumerate() {
        let escaped = match (text.get(p), text.get(p + 1), text.get(p + 2)) {
            (Some(b'%'), Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        if escaped == Some(want) {
            // A `%` that is itself the value's byte could also be read raw.
            if want == b'%'
                && let Some(end) = url_encoded_at(text, p + 1, &value[i + 1..])
            {
                return Some(end.max(p + 3));
            }
            p += 3;
        } else if text.get(p) == Some(&want) || (want == b' ' && text.get(p) == Some(&b'+')) {
            p += 1;
        } else {
            return None;
        }
    }
    Some(p)
}

/// Where `value` ends if `text` spells it from `at` as JSON string content:
/// any character raw or escaped (`\\"`, `\\/`, `\\n` …, `\\uXXXX` in either case,
/// surrogate pairs).
fn json_escaped_at(text: &[u8], at: usize, value: &[u8]) -> Option<usize> {
    let value = std::str::from_utf8(value).ok()?;
    let hex4 = |p: usize| -> Option<u32> {
        let digits = text.get(p..p + 4)?;
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let mut p = at;
    let mut buf = [0u8; 4];
    for want in value.chars() {
        let raw = want.encode_utf8(&mut buf).as_bytes();
        if text.get(p) == Some(&b'\\') {
            let simple = match text.get(p + 1) {
                Some(b'"') => Some('"'),
                Some(b'\\') => Some('\\'),
                Some(b'/') => Some('/'),
                Some(b'b') => Some('\u{8}'),
                Some(b'f') => Some('\u{c}'),
                Some(b'n') => Some('\n'),
                Some(b'r') => Some('\r'),
                Some(b't') => Some('\t'),
                _ => None,
            };
            if simple == Some(want) {
                p += 2;
                continue;
            }
            if text.get(p + 1) == Some(&b'u')
                && let Some(unit) = hex4(p + 2)
            {
                let (code, len) = if (0xD800..0xDC00).contains(&unit)
                    && text.get(p + 6) == Some(&b'\\')
                    && text.get(p + 7) == Some(&b'u')
                    && let Some(low) = hex4(p + 8)
                    && (0xDC00..0xE000).contains(&low)
                {
                    (0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), 12)
                } else {
                    (unit, 6)
                };
                if char::from_u32(code) == Some(want) {
                    p += len;
                    continue;
                }
            }
        }
        if text.get(p..p + raw.len()) == Some(raw) {
            p += raw.len();
        } else {
            return None;
        }
    }
    Some(p)
}

/// `text` with the (possibly overlapping) byte ranges replaced by [`REDACTED`].
fn replace(text: &str, mut ranges: Vec<(usize, usize)>) -> String {
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut iter = ranges.into_iter().peekable();
    while let Some((mut start, mut end)) = iter.next() {
        while let Some(&(s, e)) = iter.peek() {
            if s > end {
                break;
            }
            end = end.max(e);
            iter.next();
        }
        start = start.max(at);
        // Whole characters only.
        while start > 0 && !text.is_char_boundary(start) {
            start -= 1;
        }
        end = end.min(text.len());
        while end < text.len() && !text.is_char_boundary(end) {
            end += 1;
        }
        if start < at {
            start = at;
        }
        out.push_str(&text[at..start]);
        out.push_str(REDACTED);
        at = end.max(start);
    }
    out.push_str(&text[at..]);
    out
}

/// A decoded view of a text, with the places where decoding changed it, so a
/// match in the view can be mapped back to the text.
struct View {
    bytes: Vec<u8>,
    /// Sorted by `decoded`: each decoded run that came from a longer escape.
    escapes: Vec<Escape>,
}

#[derive(Debug, Clone, Copy)]
struct Escape {
    decoded: usize,
    decoded_len: usize,
    source: usize,
    source_len: usize,
}

impl View {
    fn changed(&self) -> bool {
        !self.escapes.is_empty()
    }

    /// The escape holding decoded offset `d`, or the last one before it.
    fn around(&self, d: usize) -> Option<&Escape> {
        let i = self.escapes.partition_point(|e| e.decoded <= d);
        i.checked_sub(1).map(|i| &self.escapes[i])
    }

    /// Where the decoded byte `d` starts in the source.
    fn start(&self, d: usize) -> usize {
        match self.around(d) {
            None => d,
            Some(e) if d < e.decoded + e.decoded_len => e.source,
            Some(e) => e.source + e.source_len + (d - e.decoded - e.decoded_len),
        }
    }

    /// Where the decoded range ending (exclusively) at `d` ends in the source.
    fn end(&self, d: usize) -> usize {
        if d == 0 {
            return 0;
        }
        match self.around(d - 1) {
            None => d,
            Some(e) if d - 1 < e.decoded + e.decoded_len => e.source + e.source_len,
            Some(e) => e.source + e.source_len + (d - e.decoded - e.decoded_len),
        }
    }

    fn push_escape(&mut self, source: usize, source_len: usize, decoded: &[u8]) {
        self.escapes.push(Escape {
            decoded: self.bytes.len(),
            decoded_len: decoded.len(),
            source,
            source_len,
        });
        self.bytes.extend_from_slice(decoded);
    }

    /// `bytes` decoded as `kind`; `None` when that changes nothing.
    fn decode(kind: ViewKind, bytes: &[u8]) -> Option<Self> {
        let view = match kind {
            ViewKind::Json if bytes.contains(&b'\\') => Self::json_unescaped(bytes, false),
            ViewKind::JsonSkewed if bytes.windows(2).any(|w| w == b"\\\\") => {
                Self::json_unescaped(bytes, true)
            }
            ViewKind::Url if bytes.iter().any(|&b| b == b'%' || b == b'+') => {
                Self::url_decoded(bytes, false)
            }
            ViewKind::UrlSkewed if bytes.contains(&b'%') => Self::url_decoded(bytes, true),
            ViewKind::Html if bytes.contains(&b'&') => Self::html_decoded(bytes),
            _ => return None,
        };
        view.changed().then_some(view)
    }

    fn empty(capacity: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(capacity),
            escapes: Vec::new(),
        }
    }

    /// JSON string escapes decoded (`\uXXXX` in either case, surrogate pairs).
    /// `skewed`: a `\\` pair is read as a lone backslash followed by whatever
    /// escape its second backslash starts.
    fn json_unescaped(src: &[u8], skewed: bool) -> Self {
        let mut view = Self::empty(src.len());
        let hex4 = |at: usize| -> Option<u32> {
            let digits = src.get(at..at + 4)?;
            if !digits.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
        };
        let mut i = 0;
        while i < src.len() {
            if src[i] != b'\\' || i + 1 >= src.len() {
                view.bytes.push(src[i]);
                i += 1;
                continue;
            }
            if skewed && src[i + 1] == b'\\' {
                view.bytes.push(b'\\');
                i += 1;
                continue;
            }
            let simple = match src[i + 1] {
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                b'/' => Some(b'/'),
                b'\'' => Some(b'\''),
                b'b' => Some(0x08),
                b'f' => Some(0x0c),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                _ => None,
            };
            if let Some(byte) = simple {
                view.push_escape(i, 2, &[byte]);
                i += 2;
                continue;
            }
            if src[i + 1] == b'u'
                && let Some(unit) = hex4(i + 2)
            {
                let (code, len) = if (0xD800..0xDC00).contains(&unit)
                    && src.get(i + 6) == Some(&b'\\')
                    && src.get(i + 7) == Some(&b'u')
                    && let Some(low) = hex4(i + 8)
                    && (0xDC00..0xE000).contains(&low)
                {
                    (0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00), 12)
                } else {
                    (unit, 6)
                };
                if let Some(c) = char::from_u32(code) {
                    let mut buf = [0u8; 4];
                    view.push_escape(i, len, c.encode_utf8(&mut buf).as_bytes());
                    i += len;
                    continue;
                }
            }
            view.bytes.push(src[i]);
            i += 1;
        }
        view
    }

    /// URL percent-escapes decoded (either case), and `+` read as a space.
    /// `skewed`: the first `%XX` of each run of escapes is left as it is (a
    /// literal `%` just before an encoded value would otherwise swallow it).
    fn url_decoded(src: &[u8], skewed: bool) -> Self {
        let mut view = Self::empty(src.len());
        let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
        let mut i = 0;
        let mut run_end = usize::MAX;
        while i < src.len() {
            match src[i] {
                b'%' => match (
                    src.get(i + 1).copied().and_then(hex),
                    src.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(_), Some(_)) if skewed && run_end != i => {
                        view.bytes.extend_from_slice(&src[i..i + 3]);
                        i += 3;
                        run_end = i;
                    }
                    (Some(h), Some(l)) => {
                        view.push_escape(i, 3, &[h << 4 | l]);
                        i += 3;
                        run_end = i;
                    }
                    _ => {
                        view.bytes.push(b'%');
                        i += 1;
                    }
                },
                b'+' => {
                    view.push_escape(i, 1, b" ");
                    i += 1;
                }
                byte => {
                    view.bytes.push(byte);
                    i += 1;
                }
            }
        }
        view
    }

    /// HTML character references decoded: `&#NNN;`, `&#xHH;` (either case) and
    /// the five XML entities.
    fn html_decoded(src: &[u8]) -> Self {
        const NAMED: &[(&[u8], u8)] = &[
            (b"&amp;", b'&'),
            (b"&lt;", b'<'),
            (b"&gt;", b'>'),
            (b"&quot;", b'"'),
            (b"&apos;", b'\''),
        ];
        let mut view = Self::empty(src.len());
        let mut i = 0;
        'outer: while i < src.len() {
            if src[i] != b'&' {
                view.bytes.push(src[i]);
                i += 1;
                continue;
            }
            for (name, byte) in NAMED {
                if src[i..].len() >= name.len() && src[i..i + name.len()].eq_ignore_ascii_case(name)
                {
                    view.push_escape(i, name.len(), &[*byte]);
                    i += name.len();
                    continue 'outer;
                }
            }
            if src.get(i + 1) == Some(&b'#') {
                let (radix, digits_at) = match src.get(i + 2) {
                    Some(b'x' | b'X') => (16, i + 3),
                    _ => (10, i + 2),
                };
                let digits = src[digits_at..]
                    .iter()
                    .take(8)
                    .take_while(|b| (**b as char).is_digit(radix))
                    .count();
                if digits > 0 && src.get(digits_at + digits) == Some(&b';') {
                    let text =
                        std::str::from_utf8(&src[digits_at..digits_at + digits]).unwrap_or("");
                    if let Some(c) = u32::from_str_radix(text, radix)
                        .ok()
                        .and_then(char::from_u32)
                    {
                        let mut buf = [0u8; 4];
                        let len = digits_at + digits + 1 - i;
                        view.push_escape(i, len, c.encode_utf8(&mut buf).as_bytes());
                        i += len;
                        continue;
                    }
                }
            }
            view.bytes.push(b'&');
            i += 1;
        }
        view
    }
}

/// The decodings a text is also searched in.
#[derive(Debug, Clone, Copy)]
enum ViewKind {
    Json,
    /// JSON escapes read from a backslash that follows a literal backslash.
    JsonSkewed,
    Url,
    /// URL escapes read from after a literal `%`.
    UrlSkewed,
    Html,
}

impl ViewKind {
    const ALL: [Self; 5] = [
        Self::Json,
        Self::JsonSkewed,
        Self::Url,
        Self::UrlSkewed,
        Self::Html,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_map_matches_back_to_whole_escapes() {
        let view = View::json_unescaped(br#"a\u0041\/b"#, false);
        assert_eq!(view.bytes, b"aA/b");
        assert_eq!((view.start(1), view.end(3)), (1, 9));
        let view = View::url_decoded(b"x%2fy+z", false);
        assert_eq!(view.bytes, b"x/y z");
        assert_eq!((view.start(1), view.end(4)), (1, 6));
    }

    #[test]
    fn base64_cores_cover_every_alignment() {
        let cores = base64_cores(b"abcd");
        let engine = base64::engine::general_purpose::STANDARD;
        for prefix in ["", "x", "xy"] {
            let encoded = engine.encode(format!("{prefix}abcd!").as_bytes());
            assert!(
                cores
                    .iter()
                    .any(|c| encoded.as_bytes().windows(c.len()).any(|w| w == c)),
                "{prefix:?} {encoded}"
            );
        }
    }
}
