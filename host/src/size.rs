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

/// Shows a duration the way the flags take it (`30s`, `1m 30s`, `250ms`):
/// rounded to milliseconds, or to microseconds under one millisecond, so a
/// message never carries a nanosecond tail nor a bare count of millis.
pub fn show_duration(duration: Duration) -> String {
    let rounded = if duration >= Duration::from_millis(1) {
        Duration::from_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
    } else {
        Duration::from_micros(u64::try_from(duration.as_micros()).unwrap_or(u64::MAX))
    };
    humantime::format_duration(rounded).to_string()
}
