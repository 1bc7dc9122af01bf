//! Human-friendly byte sizes and durations for flags and configuration
//! (`64MiB`, `1MB`, `30s`, `500ms`).

use std::time::Duration;

/// Parses `64MiB`, `1 MB`, `4096` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|s| s.as_u64())
        .map_err(|e| format!("`{text}` is not a size such as `64MiB` or `512KB`: {e}"))
}

/// Parses `30s`, `500ms`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration such as `30s` or `500ms`: {e}"))
}

/// Shows a size the way the flags take it.
pub fn show_size(bytes: u64) -> String {
    bytesize::ByteSize::b(bytes).display().iec().to_string()
}
