//! `clambot audit`: the gated calls, from the audit index (the database rows
//! written beside `data/audit/audit.jsonl`), filtered by run, verdict and age.
//!
//! Threat model: every field shown may carry text a script chose (an error
//! message, a tool's function name), and a person reads this output in a
//! terminal. In the human form every control character (C0, DEL, C1) and every
//! bidirectional-override character is escaped as `\u{..}`, so a record cannot
//! move the cursor, recolour the screen, forge a second line or reorder what is
//! shown. The JSON form is escaped by JSON itself. The index holds no call
//! arguments, so neither form can show what the JSONL log redacts.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use clap::Args;
use serde_json::json;

use clambot::home::Home;
use clambot::store::audit::{self, AuditQuery, AuditRow};

#[derive(Debug, Args)]
#[command(after_help = AUDIT_AFTER_HELP)]
pub struct AuditArgs {
    /// Only the calls of this run (the id in the audit log and `run --verbose`).
    #[arg(long, value_name = "ID")]
    run: Option<String>,
    /// Only the calls that did not go through (deny, rejected, limit, invalid).
    #[arg(long)]
    denied: bool,
    /// Only calls newer than this: a duration (`30m`, `2h`, `7d`) or an RFC 3339 time.
    #[arg(long, value_name = "DUR")]
    since: Option<String>,
    /// One JSON array of records instead of lines (fields in docs/json-output.md).
    #[arg(long)]
    json: bool,
}

const AUDIT_AFTER_HELP: &str = "\
One line per call: time, run, function, verdict, rule (and the error code, if any).
Filters combine: `--run ID --denied --since 1h` shows what run ID was refused in the last hour.
The complete record, with redacted arguments, is in $CLAMBOT_HOME/data/audit/audit.jsonl.";

pub fn run(args: AuditArgs) -> Result<ExitCode> {
    let since = args.since.as_deref().map(since_time).transpose()?;
    let home = Home::from_env()?;
    let store = Arc::new(home.open_store()?);
    let rows = audit::query(
        &store,
        &AuditQuery {
            run: args.run,
            denied: args.denied,
            since,
        },
    )?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let records: Vec<_> = rows.iter().map(record_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&records)?)?;
    } else {
        for row in &rows {
            writeln!(out, "{}", human_line(row))?;
        }
        if rows.is_empty() {
            eprintln!("clambot: no audit records match");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--since` bound in the index's own time format.
fn since_time(text: &str) -> Result<String> {
    let now = std::time::SystemTime::now();
    let time = match humantime::parse_duration(text.trim()) {
        Ok(age) => now
            .checked_sub(age)
            .ok_or_else(|| anyhow!("--since {text}: further back than the clock goes"))?,
        Err(_) => humantime::parse_rfc3339_weak(text.trim()).map_err(|_| {
            anyhow!(
                "--since {text:?} is neither a duration (`30m`, `2h`, `7d`) nor an RFC 3339 time"
            )
        })?,
    };
    Ok(humantime::format_rfc3339_micros(time).to_string())
}

/// One record as the documented JSON object.
pub fn record_json(row: &AuditRow) -> serde_json::Value {
    json!({
        "time": row.time,
        "run": row.run,
        "function": row.function,
        "decision": row.decision,
        "rule": row.rule,
        "fingerprint": row.fingerprint,
        "error": row.error,
        "duration_us": row.duration_us,
    })
}

/// `time  run  function  verdict  rule  [error]`, every field escaped.
pub fn human_line(row: &AuditRow) -> String {
    let mut line = format!(
        "{}  {}  {:<24} {:<8} {}",
        escape(&row.time),
        escape(&row.run),
        escape(&row.function),
        escape(&row.decision),
        if row.rule.is_empty() {
            "-".to_owned()
        } else {
            escape(&row.rule)
        },
    );
    if let Some(error) = &row.error {
        line.push_str("  error ");
        line.push_str(&escape(error));
    }
    line
}

/// Escapes what a terminal would act on instead of show: C0 and C1 controls,
/// DEL, the bidirectional embeddings, overrides and isolates, and the line and
/// paragraph separators. A backslash is doubled so an escape cannot be forged.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}')
                || ('\u{202a}'..='\u{202e}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c) =>
            {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn is_dangerous(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}')
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    }

    #[test]
    fn escape_neutralises_terminal_controls() {
        for (input, expected) in [
            ("\u{1b}[2J", "\\u{1b}[2J"),
            ("a\nb", "a\\u{a}b"),
            ("a\rb", "a\\u{d}b"),
            ("\u{9b}31m", "\\u{9b}31m"),
            ("\u{7f}", "\\u{7f}"),
            ("\u{202e}gnp.exe", "\\u{202e}gnp.exe"),
            ("\u{2066}x\u{2069}", "\\u{2066}x\\u{2069}"),
            ("back\\u{1b}slash", "back\\\\u{1b}slash"),
            ("http.fetch", "http.fetch"),
            ("café", "café"),
        ] {
            assert_eq!(escape(input), expected, "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn escaped_text_has_no_terminal_controls(text in any::<String>()) {
            let escaped = escape(&text);
            prop_assert!(!escaped.chars().any(is_dangerous));
        }

        #[test]
        fn human_line_is_one_line_whatever_the_fields(
            run in any::<String>(), function in any::<String>(),
            rule in any::<String>(), error in proptest::option::of(any::<String>()),
        ) {
            let row = AuditRow {
                time: "2026-01-01T00:00:00.000000Z".into(), run, function,
                decision: "deny".into(), rule, fingerprint: String::new(), error,
                duration_us: 1,
            };
            let line = human_line(&row);
            prop_assert!(!line.chars().any(is_dangerous));
        }
    }

    #[test]
    fn since_accepts_durations_and_times_and_refuses_the_rest() {
        assert!(since_time("2h").is_ok());
        assert_eq!(
            since_time("2026-01-02T03:04:05Z").unwrap(),
            "2026-01-02T03:04:05.000000Z"
        );
        assert!(since_time("yesterday-ish").is_err());
    }
}
