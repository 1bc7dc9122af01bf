//! The gateway's log on standard error: every line is
//! `<RFC 3339 UTC time> clambot gateway: <message>` (or `clambot gateway [channel]:`
//! for results delivered to the log), so a long-running gateway's stderr, in a
//! terminal, a file or the journal, says when each thing happened. A message of
//! several lines gets the prefix on every line (continuations marked `| `), so
//! no line of the log is without its time, and text a turn produced cannot
//! pass for a line of the gateway's own.

use std::fmt::Display;
use std::io::Write;
use std::time::SystemTime;

/// Writes one log entry (all its lines in one locked write, so entries from
/// concurrent tasks never interleave).
pub fn write(channel: Option<&str>, message: &dyn Display) {
    let entry = format_entry(SystemTime::now(), channel, &message.to_string());
    let _ = std::io::stderr().lock().write_all(entry.as_bytes());
}

/// The text [`write`] writes, for a given time.
pub fn format_entry(time: SystemTime, channel: Option<&str>, message: &str) -> String {
    let time = humantime::format_rfc3339_millis(time);
    let head = match channel {
        Some(channel) => format!("{time} clambot gateway [{channel}]:"),
        None => format!("{time} clambot gateway:"),
    };
    let mut entry = String::new();
    for (n, line) in message.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        entry.push_str(&head);
        entry.push_str(if n == 0 { " " } else { " | " });
        // Messages carry Telegram and model text: never raw control characters.
        entry.push_str(&crate::terminal::inline(line));
        entry.push('\n');
    }
    entry
}

/// `gateway_log!("...", args)`: one timestamped gateway log entry.
#[macro_export]
macro_rules! gateway_log {
    ($($arg:tt)*) => {
        $crate::gateway::log::write(None, &format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn every_line_of_an_entry_starts_with_the_utc_time() {
        let time = UNIX_EPOCH + Duration::from_millis(1_780_000_000_123);
        let entry = format_entry(time, None, "could not deliver:\nline two\r\nline three");
        let lines: Vec<_> = entry.lines().collect();
        assert_eq!(lines.len(), 3);
        for line in &lines {
            let (stamp, rest) = line.split_once(' ').unwrap_or_default();
            assert!(
                chrono::DateTime::parse_from_rfc3339(stamp)
                    .is_ok_and(|t| t.offset().local_minus_utc() == 0),
                "{line}"
            );
            assert!(rest.starts_with("clambot gateway: "), "{line}");
        }
        assert!(lines[1].ends_with("clambot gateway: | line two"));
        assert_eq!(
            format_entry(time, Some("owner"), "done"),
            "2026-05-28T20:26:40.123Z clambot gateway [owner]: done\n"
        );
    }
}
