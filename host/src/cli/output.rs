//! `--json` output: one JSON document on stdout (an array for every `list`, an
//! object for `status`), pretty-printed, with the fields docs/json-output.md lists.
//! Fields are only ever added, never renamed or removed, so scripts can rely on them.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

/// Prints `value` as one JSON document and a newline.
pub fn print_json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(())
}

/// Milliseconds since the epoch as RFC 3339 (UTC), or null.
pub fn rfc3339_ms(ms: Option<u64>) -> Option<String> {
    ms.and_then(|ms| chrono::DateTime::from_timestamp_millis(i64::try_from(ms).ok()?))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}
