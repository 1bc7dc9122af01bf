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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_read_as_people_write_them() {
        for (duration, shown) in [
            (Duration::from_millis(30_000), "30s"),
            (Duration::from_millis(600_000), "10m"),
            (Duration::from_millis(90_500), "1m 30s 500ms"),
            (Duration::from_nanos(1_234_567_891), "1s 234ms"),
            (Duration::from_nanos(12_345), "12us"),
            (Duration::from_secs(300), "5m"),
        ] {
            assert_eq!(show_duration(duration), shown);
            // What is shown parses back (to the rounded value).
            assert!(parse_duration(shown).is_ok(), "{shown}");
        }
        assert_eq!(show_size(536_870_912), "512.0 MiB");
        assert_eq!(show_size(64 * 1024 * 1024), "64.0 MiB");
        assert_eq!(parse_size(&show_size(536_870_912)), Ok(536_870_912));
    }
}
