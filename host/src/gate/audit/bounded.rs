//! Audit arguments of bounded size: what a call carried, without carrying it.
//!
//! A script chooses its arguments, so an audit record that copied them could be
//! made as large as the largest call allows (a 1 MB `fs.writeBytes` used to
//! write a 3.5 MB line). Here every large value — a long string, a byte list,
//! a long array or object, anything nested too deep — becomes a summary
//! `{"kind", "size", "sha256", "prefix"}`: enough to tell what was sent and to
//! check it against a copy, never the bulk of it. Small values stay as they
//! are. The summary is taken of the already-redacted arguments, so neither its
//! prefix nor its hash can reveal a secret.

use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};

/// Strings longer than this (in bytes) are summarised.
pub const MAX_TEXT_BYTES: usize = 200;
/// Arrays and objects with more entries than this are summarised.
pub const MAX_ITEMS: usize = 32;
/// Values nested deeper than this are summarised.
pub const MAX_DEPTH: usize = 6;
/// Characters of a summarised string (or its JSON text) kept as its prefix.
const PREFIX_CHARS: usize = 32;
/// Bytes of a summarised byte list kept (hex) as its prefix.
const PREFIX_BYTES: usize = 16;

/// `value` with every large part replaced by its summary.
pub fn bounded(value: &Json) -> Json {
    bounded_at(value, 0)
}

fn bounded_at(value: &Json, depth: usize) -> Json {
    match value {
        Json::String(text) if text.len() > MAX_TEXT_BYTES => text_summary(text),
        Json::Array(items) if depth >= MAX_DEPTH || items.len() > MAX_ITEMS => {
            match as_bytes(items) {
                Some(bytes) => bytes_summary(&bytes),
                None => summary(value),
            }
        }
        Json::Object(map) if depth >= MAX_DEPTH || map.len() > MAX_ITEMS => summary(value),
        Json::Array(items) => Json::Array(items.iter().map(|v| bounded_at(v, depth + 1)).collect()),
        Json::Object(map) => Json::Object(
            map.iter()
                .map(|(key, v)| (bounded_key(key), bounded_at(v, depth + 1)))
                .collect::<Map<_, _>>(),
        ),
        small => small.clone(),
    }
}

/// The summary of any value: its JSON text's size, hash and first characters.
pub fn summary(value: &Json) -> Json {
    let text = value.to_string();
    let kind = match value {
        Json::Array(_) => "array",
        Json::Object(_) => "object",
        _ => "value",
    };
    json!({
        "kind": kind,
        "size": text.len(),
        "sha256": hex::encode(Sha256::digest(text.as_bytes())),
        "prefix": prefix(&text),
    })
}

fn text_summary(text: &str) -> Json {
    json!({
        "kind": "text",
        "size": text.len(),
        "sha256": hex::encode(Sha256::digest(text.as_bytes())),
        "prefix": prefix(text),
    })
}

fn bytes_summary(bytes: &[u8]) -> Json {
    json!({
        "kind": "bytes",
        "size": bytes.len(),
        "sha256": hex::encode(Sha256::digest(bytes)),
        "prefix": hex::encode(&bytes[..bytes.len().min(PREFIX_BYTES)]),
    })
}

/// An object key is the script's text too (a map's keys, a tool's record):
/// a long one is cut, marked with its full size.
fn bounded_key(key: &str) -> String {
    if key.len() <= MAX_TEXT_BYTES {
        return key.to_owned();
    }
    format!("{}…({} bytes)", prefix(key), key.len())
}

/// The first [`PREFIX_CHARS`] characters.
fn prefix(text: &str) -> &str {
    match text.char_indices().nth(PREFIX_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// The bytes of a `list<u8>` (a JSON array of integers 0–255), if it is one.
fn as_bytes(items: &[Json]) -> Option<Vec<u8>> {
    items
        .iter()
        .map(|v| v.as_u64().and_then(|n| u8::try_from(n).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_kept_as_they_are() {
        let value =
            json!({"path": "notes/a.txt", "n": 3, "list": [1, 2, 3], "ok": true, "none": null});
        assert_eq!(bounded(&value), value);
    }

    #[test]
    fn a_long_string_becomes_size_hash_and_prefix() {
        let text = "é".repeat(1000);
        let out = bounded(&json!({ "content": text }));
        let summary = &out["content"];
        assert_eq!(summary["kind"], "text");
        assert_eq!(summary["size"], 2000);
        assert_eq!(
            summary["sha256"],
            hex::encode(Sha256::digest(text.as_bytes()))
        );
        assert_eq!(
            summary["prefix"].as_str().map(|p| p.chars().count()),
            Some(32)
        );
    }

    #[test]
    fn a_byte_list_is_hashed_as_bytes() {
        let bytes: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        let out = bounded(&json!({ "content": bytes }));
        assert_eq!(out["content"]["kind"], "bytes");
        assert_eq!(out["content"]["size"], 100_000);
        assert_eq!(
            out["content"]["sha256"],
            hex::encode(Sha256::digest(&bytes))
        );
        assert_eq!(out["content"]["prefix"], "000102030405060708090a0b0c0d0e0f");
    }

    #[test]
    fn wide_and_deep_values_are_summarised_and_the_whole_stays_small() {
        let wide: Map<String, Json> = (0..10_000).map(|i| (format!("k{i}"), json!(i))).collect();
        let mut deep = json!("bottom");
        for _ in 0..100 {
            deep = json!([deep]);
        }
        let long_key = "k".repeat(10_000);
        let value = json!({ "wide": wide, "deep": deep, "mixed": [1, "x", {"a": 1}], long_key: 1 });
        let out = bounded(&value);
        assert_eq!(out["wide"]["kind"], "object");
        assert!(out.to_string().len() < 2_000, "{out}");
        assert_eq!(out["mixed"], json!([1, "x", {"a": 1}]));
    }
}
