//! Schedules for jobs: parsing, validation and next-run computation.
//!
//! A script asks for one of three kinds of schedule (see the WIT `schedule` variant):
//!
//! * `cron` — a 5-field expression (`minute hour day-of-month month day-of-week`) read in an
//!   IANA time zone (UTC when none is given). Seconds and year fields are refused so every
//!   job has minute granularity. `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`,
//!   `@yearly` and `@annually` are accepted; `@reboot` is not, because the host has no
//!   meaningful "boot" for a job.
//! * `every` — a fixed interval counted from an anchor (the job's creation time). Runs stay
//!   on the grid `anchor + k·interval`, so downtime never shifts later runs.
//! * `at` — one RFC 3339 instant with an explicit offset; it must lie in the future.
//!
//! Every error message names what is wrong and what would be valid, because the reader is
//! usually a model that will retry with a corrected spec.
//!
//! # Daylight-saving time
//!
//! Cron fields describe wall-clock times, and twice a year some wall-clock times are missing
//! (spring forward) or happen twice (fall back). croner only *parses* the expression and
//! walks matching wall-clock times here; turning wall-clock times into instants is done in
//! this module, because croner 3's stateless `find_next_occurrence` gets both cases wrong
//! for a scheduler that asks "what runs after the last run?":
//!
//! * asked from inside the second pass of a repeated hour, it returns the *first* pass of a
//!   matching wall time, which is earlier than the time asked about (a fixed 02:45 job would
//!   be handed 00:45 UTC again at 01:40 UTC on Berlin's fall-back day — a second run);
//! * asked from the first pass, it jumps over the second pass, so `0 * * * *` loses the
//!   repeated 02:00 hour (its iterator keeps it, but the scheduler is stateless);
//! * on the spring-forward day a fixed job whose time does exist (`30 1 * * *` in Berlin)
//!   is also handed the end of the gap, 03:00 — a second run that day.
//!
//! The rule used instead is the one Vixie cron (the common Linux cron) has used for decades.
//! A job whose minute or hour field starts with `*` (`0 * * * *`, `*/15 * * * *`, `@hourly`)
//! *follows real time*; every other job (`30 2 * * *`, `0 9 * * 1-5`, `@daily`) *follows the
//! wall clock*:
//!
//! | wall time is…             | real-time job                | wall-clock job                         |
//! |---------------------------|------------------------------|----------------------------------------|
//! | missing (spring forward)  | skipped                      | runs once at the first instant after the gap (03:00 local in Berlin and New York) |
//! | repeated (fall back)      | runs in both passes          | runs once, in the first pass           |
//!
//! So a daily `30 2 * * *` runs exactly once on both transition days, and `0 * * * *` runs
//! once per real hour: 23 times on the spring-forward day and 25 times on the fall-back day
//! in Europe/Berlin and America/New_York, never twice at the same instant. Several missing
//! wall times of one wall-clock job (`0,30 2 * * *`) collapse into that single run after the
//! gap. The tests below pin all of this down, including a brute-force cross-check.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, SecondsFormat,
};
use chrono::{TimeZone, Timelike, Utc};
use chrono_tz::{GapInfo, Tz};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Smallest interval for `every`, so a job cannot hammer the host.
pub const MIN_EVERY: Duration = Duration::from_secs(60);
/// Largest interval for `every` (366 days).
pub const MAX_EVERY: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// Longest cron expression accepted; real expressions are far shorter, so this only bounds work.
const MAX_EXPR_LEN: usize = 256;
/// Longest time-zone name or `at` string accepted (the longest IANA name has 32 bytes).
const MAX_NAME_LEN: usize = 64;
/// How far ahead parsing looks for a day a cron expression can fire on ("~5 years").
const HORIZON_DAYS: u32 = 5 * 366;
/// croner searches up to the year 5000; staying clear of it keeps `next_after` cheap and total.
const LAST_YEAR: i32 = 4900;
/// Upper bound on wall times examined per `next_after`; a day of minutes at a 24-hour gap
/// needs 1 440, so this is only a guard against an unforeseen loop.
const MAX_WALK: usize = 10_000;

/// A schedule as written (mirrors the WIT variant). Serialize-friendly plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleSpec {
    Cron {
        expr: String,
        timezone: Option<String>,
    },
    Every {
        seconds: u64,
    },
    At {
        time: String,
    },
}

/// Why a spec was refused. Each message says what is wrong and what would be valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "the cron expression is empty; write 5 fields `minute hour day-of-month month day-of-week`, for example `0 9 * * 1-5`"
    )]
    CronEmpty,
    #[error("the cron expression is {len} bytes long; at most {MAX_EXPR_LEN} are allowed")]
    CronTooLong { len: usize },
    #[error(
        "`{expr}` has {count} field{}, but clambot uses 5-field cron `minute hour day-of-month month day-of-week` without seconds or years, for example `*/15 * * * *`",
        if *.count == 1 { "" } else { "s" }
    )]
    CronFieldCount { expr: String, count: usize },
    #[error(
        "`@reboot` is not supported because a job has no boot to run at; use a time such as `@daily` or a 5-field expression"
    )]
    CronReboot,
    #[error(
        "`{expr}` is not a known alias; use `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly` or `@annually`"
    )]
    CronUnknownAlias { expr: String },
    #[error("`{expr}`: {field} {value} is out of range {range}")]
    CronOutOfRange {
        expr: String,
        field: &'static str,
        value: String,
        range: &'static str,
    },
    #[error("`{expr}`: {field} step {value} is out of range 1–{max}")]
    CronStepOutOfRange {
        expr: String,
        field: &'static str,
        value: String,
        max: u32,
    },
    #[error(
        "`{expr}`: day-of-week occurrence #{value} is out of range 1–5 (for example `MON#1` is the first Monday, `FRI#L` the last Friday)"
    )]
    CronNthOutOfRange { expr: String, value: String },
    #[error(
        "`{expr}`: {field} range {start}-{end} runs backwards; write the smaller value first ({end}-{start})"
    )]
    CronBackwardRange {
        expr: String,
        field: &'static str,
        start: String,
        end: String,
    },
    #[error("`{expr}`: `{word}` is not allowed in the {field} field, which takes {help}")]
    CronUnknownName {
        expr: String,
        field: &'static str,
        word: String,
        help: &'static str,
    },
    #[error("`{expr}`: the {field} field may not contain `{ch}`; it takes {help}")]
    CronBadCharacter {
        expr: String,
        field: &'static str,
        ch: char,
        help: &'static str,
    },
    #[error("`{expr}`: the {field} field `{text}` is not valid ({reason}); it takes {help}")]
    CronInvalidField {
        expr: String,
        field: &'static str,
        text: String,
        reason: String,
        help: &'static str,
    },
    #[error(
        "`{expr}` is not a valid cron expression ({reason}); write 5 fields `minute hour day-of-month month day-of-week`, for example `0 9 * * 1-5`"
    )]
    CronInvalid { expr: String, reason: String },
    #[error(
        "`{expr}` never runs: no day in the next 5 years matches its day-of-month, month and day-of-week fields (a date such as 31 February does not exist)"
    )]
    CronNeverRuns { expr: String },
    #[error(
        "the time zone is empty; leave it out for UTC or name an IANA time zone such as `Europe/Berlin`"
    )]
    TimezoneEmpty,
    #[error("`{name}` is not an IANA time zone ({})", zone_hint(.suggestion.as_deref()))]
    TimezoneUnknown {
        name: String,
        suggestion: Option<String>,
    },
    #[error("`every` of {seconds} seconds is too short; the shortest interval is {} seconds", MIN_EVERY.as_secs())]
    EveryTooShort { seconds: u64 },
    #[error(
        "`every` of {seconds} seconds is too long; the longest interval is {} seconds (366 days)",
        MAX_EVERY.as_secs()
    )]
    EveryTooLong { seconds: u64 },
    #[error(
        "`{time}` has no UTC offset; add `Z` or an offset such as `+01:00`, for example `2026-12-01T09:00:00+01:00`"
    )]
    AtMissingOffset { time: String },
    #[error(
        "`{time}` is not an RFC 3339 time; write one like `2026-12-01T09:00:00+01:00` or `2026-12-01T08:00:00Z`"
    )]
    AtInvalid { time: String },
    #[error("`{time}` is not in the future (it is now {now}); a one-off job needs a later time")]
    AtNotInFuture { time: String, now: String },
}

fn zone_hint(suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("did you mean `{s}`? Names are case-sensitive"),
        None => "for example `Europe/Berlin`, `America/New_York`, `UTC`".to_owned(),
    }
}

/// A validated schedule that can compute run times.
#[derive(Debug, Clone)]
pub struct Schedule {
    spec: ScheduleSpec,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    // Boxed: croner's parsed pattern is ~340 bytes, the other variants ~20.
    Cron(Box<CronSchedule>),
    Every { anchor: DateTime<Utc>, seconds: u64 },
    At { time: DateTime<FixedOffset> },
}

#[derive(Debug, Clone)]
struct CronSchedule {
    cron: Cron,
    tz: Tz,
    /// The expression as written, whitespace collapsed, for `describe`.
    shown: String,
    /// Vixie cron's rule: a `*` minute or hour field means the job follows real time
    /// across DST changes rather than the wall clock (see the module docs).
    real_time: bool,
}

impl Schedule {
    /// Validates a spec. `anchor` is when an `every` schedule counts from (the job's creation time).
    /// `now` is used to refuse an `at` time that is already in the past.
    pub fn parse(
        spec: &ScheduleSpec,
        anchor: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Schedule, ScheduleError> {
        let kind = match spec {
            ScheduleSpec::Cron { expr, timezone } => {
                Kind::Cron(Box::new(parse_cron(expr, timezone.as_deref(), now)?))
            }
            ScheduleSpec::Every { seconds } => {
                if *seconds < MIN_EVERY.as_secs() {
                    return Err(ScheduleError::EveryTooShort { seconds: *seconds });
                }
                if *seconds > MAX_EVERY.as_secs() {
                    return Err(ScheduleError::EveryTooLong { seconds: *seconds });
                }
                Kind::Every {
                    anchor,
                    seconds: *seconds,
                }
            }
            ScheduleSpec::At { time } => Kind::At {
                time: parse_at(time, now)?,
            },
        };
        Ok(Schedule {
            spec: spec.clone(),
            kind,
        })
    }

    /// The first run time strictly after `after`, or None when there is none (an `at` in the past).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Cron(c) => c.next_after(after),
            Kind::Every { anchor, seconds } => next_on_grid(*anchor, *seconds, after),
            Kind::At { time } => {
                let time = time.with_timezone(&Utc);
                (time > after).then_some(time)
            }
        }
    }

    /// The spec this was parsed from.
    pub fn spec(&self) -> &ScheduleSpec {
        &self.spec
    }

    /// A human description for listings, e.g. "cron `0 9 * * 1-5` in Europe/Berlin", "every 15m", "once at 2026-12-01T09:00:00+01:00".
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Cron(c) => format!("cron `{}` in {}", c.shown, c.tz.name()),
            Kind::Every { seconds, .. } => format!("every {}", HumanSeconds(*seconds)),
            Kind::At { time } => format!(
                "once at {}",
                time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
            ),
        }
    }
}

/// `anchor + k·interval` for the smallest `k ≥ 1` past `after`; i128 nanoseconds cannot
/// overflow for any `DateTime<Utc>`, and an out-of-range result is simply "no next run".
fn next_on_grid(
    anchor: DateTime<Utc>,
    seconds: u64,
    after: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    const NANOS: i128 = 1_000_000_000;
    let nanos = |t: DateTime<Utc>| {
        i128::from(t.timestamp()) * NANOS + i128::from(t.timestamp_subsec_nanos())
    };
    let interval = i128::from(seconds) * NANOS;
    let (a, t) = (nanos(anchor), nanos(after));
    let k = if t < a { 1 } else { (t - a) / interval + 1 };
    let next = a + k * interval;
    let secs = i64::try_from(next.div_euclid(NANOS)).ok()?;
    let sub = u32::try_from(next.rem_euclid(NANOS)).ok()?;
    DateTime::from_timestamp(secs, sub)
}

/// Formats seconds compactly for listings: 900 → `15m`, 5400 → `1h30m`, 86400 → `1d`.
struct HumanSeconds(u64);

impl fmt::Display for HumanSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

fn parse_at(time: &str, now: DateTime<Utc>) -> Result<DateTime<FixedOffset>, ScheduleError> {
    let trimmed = time.trim();
    let shown = || truncate(trimmed);
    if trimmed.len() > MAX_NAME_LEN {
        return Err(ScheduleError::AtInvalid { time: shown() });
    }
    let parsed = match DateTime::parse_from_rfc3339(trimmed) {
        Ok(t) => t,
        Err(_) => {
            // Say precisely what is missing when the rest is a fine local time.
            let local = [
                "%Y-%m-%dT%H:%M:%S%.f",
                "%Y-%m-%d %H:%M:%S%.f",
                "%Y-%m-%dT%H:%M",
            ]
            .iter()
            .any(|f| NaiveDateTime::parse_from_str(trimmed, f).is_ok());
            return Err(if local {
                ScheduleError::AtMissingOffset { time: shown() }
            } else {
                ScheduleError::AtInvalid { time: shown() }
            });
        }
    };
    if parsed.with_timezone(&Utc) <= now {
        return Err(ScheduleError::AtNotInFuture {
            time: shown(),
            now: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        });
    }
    Ok(parsed)
}

/// Keeps echoed input short so an error message cannot balloon.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(MAX_NAME_LEN) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn parse_timezone(timezone: Option<&str>) -> Result<Tz, ScheduleError> {
    let Some(name) = timezone else {
        return Ok(Tz::UTC);
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(ScheduleError::TimezoneEmpty);
    }
    if name.len() <= MAX_NAME_LEN
        && let Ok(tz) = Tz::from_str(name)
    {
        return Ok(tz);
    }
    let suggestion = chrono_tz::TZ_VARIANTS
        .iter()
        .find(|tz| tz.name().eq_ignore_ascii_case(name))
        .map(|tz| tz.name().to_owned());
    Err(ScheduleError::TimezoneUnknown {
        name: truncate(name),
        suggestion,
    })
}

/// One cron field's limits, for messages that point at the exact problem.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    range: &'static str,
    /// Names standing for numbers, the first meaning `names_from`.
    names: &'static [&'static str],
    names_from: u32,
    /// Letters croner gives a meaning of their own (`L`, `W`).
    letters: &'static [&'static str],
    punctuation: &'static str,
    help: &'static str,
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        range: "0–59",
        names: &[],
        names_from: 0,
        letters: &[],
        punctuation: "*,-/",
        help: "0–59 with `*`, `,`, `-` and `/` (for example `0`, `*/15`, `0,30`)",
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        range: "0–23",
        names: &[],
        names_from: 0,
        letters: &[],
        punctuation: "*,-/",
        help: "0–23 with `*`, `,`, `-` and `/` (for example `9`, `9-17`, `*/2`)",
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        range: "1–31",
        names: &[],
        names_from: 0,
        letters: &["L", "W"],
        punctuation: "*,-/?",
        help: "1–31 with `*`, `,`, `-`, `/`, `L` (last day) and `W` (nearest weekday, as in `15W`)",
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        range: "1–12 (or JAN–DEC)",
        names: MONTHS,
        names_from: 1,
        letters: &[],
        punctuation: "*,-/",
        help: "1–12 or JAN–DEC with `*`, `,`, `-` and `/`",
    },
    Field {
        name: "day-of-week",
        min: 0,
        max: 7,
        range: "0–7 (0 and 7 are Sunday, or SUN–SAT)",
        names: WEEKDAYS,
        names_from: 0,
        letters: &["L"],
        punctuation: "*,-/?#",
        help: "0–7 or SUN–SAT (0 and 7 are Sunday) with `*`, `,`, `-`, `/`, `#` (as in `MON#2`) and `L` (as in `FRI#L`)",
    },
];

fn parse_cron(
    expr: &str,
    timezone: Option<&str>,
    now: DateTime<Utc>,
) -> Result<CronSchedule, ScheduleError> {
    let trimmed = expr.trim();
    if trimmed.is_empty() {
        return Err(ScheduleError::CronEmpty);
    }
    if trimmed.len() > MAX_EXPR_LEN {
        return Err(ScheduleError::CronTooLong { len: trimmed.len() });
    }
    let shown = trimmed.split_whitespace().collect::<Vec<_>>().join(" ");
    let expanded = if shown.starts_with('@') {
        expand_alias(&shown)?
    } else {
        shown.clone()
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    if fields.len() != FIELDS.len() {
        return Err(ScheduleError::CronFieldCount {
            expr: shown,
            count: fields.len(),
        });
    }
    for (field, text) in FIELDS.iter().zip(&fields) {
        check_field(&shown, field, text)?;
    }
    let cron = cron_parser()
        .parse(&expanded)
        .map_err(|e| explain_croner_error(&shown, &fields, &e))?;
    let tz = parse_timezone(timezone)?;
    // Converting a `now` at the edge of chrono's range into a zone would panic.
    let today = if (1..=LAST_YEAR).contains(&now.year()) {
        now.with_timezone(&tz).date_naive()
    } else {
        now.date_naive()
    };
    if !fires_within_horizon(&cron, today) {
        return Err(ScheduleError::CronNeverRuns { expr: shown });
    }
    Ok(CronSchedule {
        real_time: fields[0].starts_with('*') || fields[1].starts_with('*'),
        cron,
        tz,
        shown,
    })
}

fn cron_parser() -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
}

/// croner lacks `@midnight`, so all aliases are expanded here, which also lets the
/// real-time/wall-clock rule see the actual fields.
fn expand_alias(shown: &str) -> Result<String, ScheduleError> {
    let expansion = match shown.to_ascii_lowercase().as_str() {
        "@hourly" => "0 * * * *",
        "@daily" | "@midnight" => "0 0 * * *",
        "@weekly" => "0 0 * * 0",
        "@monthly" => "0 0 1 * *",
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@reboot" => return Err(ScheduleError::CronReboot),
        _ => {
            return Err(ScheduleError::CronUnknownAlias {
                expr: shown.to_owned(),
            });
        }
    };
    Ok(expansion.to_owned())
}

/// Checks one field's characters, names and numbers before croner sees it, because croner's
/// own errors ("Number out of bounds.") do not say which field or which number.
fn check_field(expr: &str, field: &Field, text: &str) -> Result<(), ScheduleError> {
    let upper = text.to_ascii_uppercase();
    // croner reads a leading `+` on the day-of-week field as "day-of-month AND day-of-week".
    let body = match (field.name, upper.strip_prefix('+')) {
        ("day-of-week", Some(rest)) => rest,
        _ => upper.as_str(),
    };
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    let mut before: Option<char> = None;
    // The value just read, when it may start a range `a-b`.
    let mut range_start: Option<(u32, String)> = None;
    while let Some(&c) = chars.get(i) {
        if c.is_ascii_alphanumeric() {
            let digits = c.is_ascii_digit();
            let start = i;
            while chars.get(i).is_some_and(|c| {
                if digits {
                    c.is_ascii_digit()
                } else {
                    c.is_ascii_alphabetic()
                }
            }) {
                i += 1;
            }
            let token: String = chars[start..i].iter().collect();
            let value = if digits {
                // Too many digits for u32 is out of range all the same.
                let n = token.parse::<u32>().unwrap_or(u32::MAX);
                match before {
                    Some('/') => {
                        if n == 0 || n > field.max {
                            return Err(ScheduleError::CronStepOutOfRange {
                                expr: expr.to_owned(),
                                field: field.name,
                                value: token,
                                max: field.max,
                            });
                        }
                        None
                    }
                    Some('#') => {
                        if !(1..=5).contains(&n) {
                            return Err(ScheduleError::CronNthOutOfRange {
                                expr: expr.to_owned(),
                                value: token,
                            });
                        }
                        None
                    }
                    _ => {
                        if !(field.min..=field.max).contains(&n) {
                            return Err(ScheduleError::CronOutOfRange {
                                expr: expr.to_owned(),
                                field: field.name,
                                value: token,
                                range: field.range,
                            });
                        }
                        Some(n)
                    }
                }
            } else if let Some(pos) = field.names.iter().position(|n| *n == token) {
                let n = u32::try_from(pos)
                    .unwrap_or(u32::MAX)
                    .saturating_add(field.names_from);
                // croner reads `-SUN` as 7 so that `SAT-SUN` is a forward range.
                Some(
                    if field.name == "day-of-week" && n == 0 && before == Some('-') {
                        7
                    } else {
                        n
                    },
                )
            } else if field.letters.contains(&token.as_str()) {
                None
            } else {
                return Err(ScheduleError::CronUnknownName {
                    expr: expr.to_owned(),
                    field: field.name,
                    word: token,
                    help: field.help,
                });
            };
            if let (Some(end), Some('-'), Some((start, start_text))) = (value, before, &range_start)
                && end < *start
            {
                return Err(ScheduleError::CronBackwardRange {
                    expr: expr.to_owned(),
                    field: field.name,
                    start: start_text.clone(),
                    end: token,
                });
            }
            range_start = value.map(|v| (v, token));
            before = None;
        } else if field.punctuation.contains(c) {
            if c != '-' {
                range_start = None;
            }
            before = Some(c);
            i += 1;
        } else {
            return Err(ScheduleError::CronBadCharacter {
                expr: expr.to_owned(),
                field: field.name,
                ch: c,
                help: field.help,
            });
        }
    }
    Ok(())
}

/// Attributes a croner error to the first field that fails on its own (others set to `*`).
fn explain_croner_error(
    expr: &str,
    fields: &[&str],
    err: &croner::errors::CronError,
) -> ScheduleError {
    for (i, field) in FIELDS.iter().enumerate() {
        let mut alone = ["*"; 5];
        alone[i] = fields[i];
        if let Err(e) = cron_parser().parse(&alone.join(" ")) {
            return ScheduleError::CronInvalidField {
                expr: expr.to_owned(),
                field: field.name,
                text: fields[i].to_owned(),
                reason: croner_reason(&e),
                help: field.help,
            };
        }
    }
    ScheduleError::CronInvalid {
        expr: expr.to_owned(),
        reason: croner_reason(err),
    }
}

/// croner says "Component error: Range out of bounds."; keep the useful part.
fn croner_reason(err: &croner::errors::CronError) -> String {
    let text = err.to_string();
    let text = text.strip_prefix("Component error: ").unwrap_or(&text);
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => "rejected by the parser".to_owned(),
    }
}

/// A day-level scan is enough (every parsed minute and hour field is non-empty) and is
/// cheap, whereas croner's own search for an impossible date runs to the year 5000.
fn fires_within_horizon(cron: &Cron, from: NaiveDate) -> bool {
    let mut day = from;
    for _ in 0..HORIZON_DAYS {
        // `next_after` answers only within croner's years, so a day outside them cannot count.
        if !(1..=LAST_YEAR).contains(&day.year()) {
            return false;
        }
        let matches = cron.pattern.month_match(day.month()).unwrap_or(false)
            && cron
                .pattern
                .day_match(day.year(), day.month(), day.day())
                .unwrap_or(false);
        if matches {
            return true;
        }
        match day.succ_opt() {
            Some(next) => day = next,
            None => return false,
        }
    }
    false
}

impl CronSchedule {
    /// Walks matching wall-clock times in order (croner over a zone without DST does that
    /// exactly) and maps each to instants by the rules in the module docs.
    ///
    /// Under one DST change, wall-clock order equals instant order except that the second
    /// pass of a repeated span comes later than its wall time suggests. Hence: the walk
    /// starts one repeated span early when `after` lies in a repeated span (a real-time job
    /// may still have second-pass runs there), and it stops at the first candidate that no
    /// later wall time can undercut.
    fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !(1..=LAST_YEAR).contains(&after.year()) {
            return None;
        }
        let local = after.with_timezone(&self.tz).naive_local();
        // Matching wall times are whole minutes, so "after the whole second" is exact.
        let local = local.with_nanosecond(0)?;
        let mut cursor = local;
        if self.real_time
            && let LocalResult::Ambiguous(first, second) = self.tz.from_local_datetime(&local)
        {
            cursor = local - (second.naive_utc() - first.naive_utc());
        }
        let mut best: Option<DateTime<Utc>> = None;
        let keep =
            |best: Option<DateTime<Utc>>, t: DateTime<Utc>| Some(best.map_or(t, |b| b.min(t)));
        for _ in 0..MAX_WALK {
            let Ok(wall) = self.cron.find_next_occurrence(&cursor.and_utc(), false) else {
                break;
            };
            let wall = wall.naive_utc();
            cursor = wall;
            match self.tz.from_local_datetime(&wall) {
                LocalResult::Single(t) => {
                    let t = t.with_timezone(&Utc);
                    if t > after {
                        return keep(best, t);
                    }
                }
                LocalResult::Ambiguous(first, second) => {
                    let first = first.with_timezone(&Utc);
                    if first > after {
                        return keep(best, first);
                    }
                    let second = second.with_timezone(&Utc);
                    if self.real_time && second > after {
                        best = keep(best, second);
                    }
                }
                LocalResult::None => {
                    if !self.real_time
                        && let Some(end) = GapInfo::new(&wall, &self.tz).and_then(|gap| gap.end)
                    {
                        let end = end.with_timezone(&Utc);
                        if end > after {
                            return keep(best, end);
                        }
                    }
                }
            }
        }
        best
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    /// A fixed "now" in winter 2026 so tests do not depend on the clock.
    fn now() -> DateTime<Utc> {
        utc(2026, 1, 15, 12, 0)
    }

    fn cron(expr: &str, tz: Option<&str>) -> Result<Schedule, ScheduleError> {
        let spec = ScheduleSpec::Cron {
            expr: expr.to_owned(),
            timezone: tz.map(str::to_owned),
        };
        Schedule::parse(&spec, now(), now())
    }

    fn cron_err(expr: &str) -> String {
        cron(expr, None).unwrap_err().to_string()
    }

    /// Every run in `[from, to)`, by repeated `next_after`.
    fn runs(s: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = vec![];
        let mut t = from - chrono::TimeDelta::seconds(1);
        while let Some(next) = s.next_after(t) {
            if next >= to {
                break;
            }
            assert!(next > t, "next_after({t}) returned {next}");
            out.push(next);
            t = next;
        }
        out
    }

    fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn valid_cron_expressions_parse() {
        for expr in [
            "* * * * *",
            "0 9 * * 1-5",
            "*/15 * * * *",
            "0,30 8-18/2 * * MON-FRI",
            "0 0 1 JAN,JUL *",
            "0 0 L * *",
            "0 12 15W * *",
            "0 0 * * FRI#L",
            "0 0 * * MON#2",
            "0 0 13 * +FRI",
            "0 0 * * SAT-SUN",
            "0 0 * * 7",
            "0 0 ? * ?",
            "  0  9 * *\t1-5 ",
            "@hourly",
            "@DAILY",
            "@midnight",
            "@weekly",
            "@monthly",
            "@yearly",
            "@annually",
            "0 0 29 2 *",
        ] {
            assert!(cron(expr, None).is_ok(), "{expr}: {:?}", cron(expr, None));
        }
    }

    #[test]
    fn invalid_cron_expressions_are_explained() {
        let cases: &[(&str, &str)] = &[
            ("61 * * * *", "`61 * * * *`: minute 61 is out of range 0–59"),
            ("0 24 * * *", "hour 24 is out of range 0–23"),
            ("0 0 0 * *", "day-of-month 0 is out of range 1–31"),
            ("0 0 32 * *", "day-of-month 32 is out of range 1–31"),
            ("0 0 * 13 *", "month 13 is out of range 1–12"),
            ("0 0 * * 8", "day-of-week 8 is out of range 0–7"),
            (
                "99999999999 * * * *",
                "minute 99999999999 is out of range 0–59",
            ),
            ("*/0 * * * *", "minute step 0 is out of range 1–59"),
            ("*/75 * * * *", "minute step 75 is out of range 1–59"),
            ("0 0 * * MON#6", "occurrence #6 is out of range 1–5"),
            (
                "5-1 * * * *",
                "minute range 5-1 runs backwards; write the smaller value first (1-5)",
            ),
            (
                "0 0 * * FRI-MON",
                "day-of-week range FRI-MON runs backwards",
            ),
            (
                "SUN * * * *",
                "`SUN` is not allowed in the minute field, which takes 0–59",
            ),
            (
                "0 0 * * MOM",
                "`MOM` is not allowed in the day-of-week field, which takes 0–7 or SUN–SAT",
            ),
            ("0 0 * FOO *", "`FOO` is not allowed in the month field"),
            ("0 0 * * 1;2", "the day-of-week field may not contain `;`"),
            ("0 9 * * 1–5", "the day-of-week field may not contain `–`"),
            (
                "0 0 W * *",
                "the day-of-month field `W` is not valid (invalid day for closest weekday)",
            ),
            (
                "1- * * * *",
                "the minute field `1-` is not valid (invalid end of range)",
            ),
            ("*/5/2 * * * *", "the minute field `*/5/2` is not valid"),
            ("* * * *", "has 4 fields, but clambot uses 5-field cron"),
            (
                "0 0 9 * * 1-5",
                "`0 0 9 * * 1-5` has 6 fields, but clambot uses 5-field cron",
            ),
            (
                "0 0 9 * * 1-5 2027",
                "has 7 fields, but clambot uses 5-field cron",
            ),
            ("@reboot", "`@reboot` is not supported"),
            (
                "@fortnightly",
                "`@fortnightly` is not a known alias; use `@hourly`",
            ),
            ("@daily 5", "`@daily 5` is not a known alias"),
            ("", "the cron expression is empty"),
            ("   ", "the cron expression is empty"),
            ("0 0 31 2 *", "`0 0 31 2 *` never runs"),
            ("0 0 30,31 2 *", "never runs"),
            ("0 0 31 4,6,9,11 *", "never runs"),
        ];
        for (expr, needle) in cases {
            let msg = cron_err(expr);
            assert!(msg.contains(needle), "{expr:?}: {msg:?} lacks {needle:?}");
        }
    }

    #[test]
    fn cron_length_is_capped() {
        let long = format!("0 0 * * {}", "1,".repeat(200) + "2");
        assert_eq!(
            cron(&long, None).unwrap_err(),
            ScheduleError::CronTooLong { len: long.len() }
        );
        assert!(cron(&format!("{}* * * * *", " ".repeat(300)), None).is_ok());
    }

    #[test]
    fn time_zones_are_checked() {
        assert_eq!(
            cron("0 9 * * *", Some("Europe/Berln"))
                .unwrap_err()
                .to_string(),
            "`Europe/Berln` is not an IANA time zone (for example `Europe/Berlin`, `America/New_York`, `UTC`)"
        );
        assert!(cron_with_tz_err("europe/berlin").contains("did you mean `Europe/Berlin`?"));
        assert_eq!(
            cron("0 9 * * *", Some(" ")).unwrap_err(),
            ScheduleError::TimezoneEmpty
        );
        assert!(cron_with_tz_err(&"X".repeat(1000)).len() < 300);
        assert!(cron("0 9 * * *", Some("America/New_York")).is_ok());
        assert!(cron("0 9 * * *", Some("UTC")).is_ok());
    }

    fn cron_with_tz_err(tz: &str) -> String {
        cron("0 9 * * *", Some(tz)).unwrap_err().to_string()
    }

    #[test]
    fn cron_without_zone_runs_in_utc() {
        let s = cron("30 9 * * *", None).unwrap();
        assert_eq!(
            s.next_after(utc(2026, 7, 1, 9, 29)),
            Some(utc(2026, 7, 1, 9, 30))
        );
        assert_eq!(
            s.next_after(utc(2026, 7, 1, 9, 30)),
            Some(utc(2026, 7, 2, 9, 30))
        );
        assert_eq!(s.describe(), "cron `30 9 * * *` in UTC");
    }

    #[test]
    fn weekday_job_in_berlin_from_friday_evening() {
        let s = cron("0 9 * * 1-5", Some("Europe/Berlin")).unwrap();
        // Friday 2026-01-16 18:00 UTC (winter, UTC+1) → Monday 09:00 CET = 08:00 UTC.
        assert_eq!(
            s.next_after(utc(2026, 1, 16, 18, 0)),
            Some(utc(2026, 1, 19, 8, 0))
        );
        // Friday 2026-07-17 18:00 UTC (summer, UTC+2) → Monday 09:00 CEST = 07:00 UTC.
        assert_eq!(
            s.next_after(utc(2026, 7, 17, 18, 0)),
            Some(utc(2026, 7, 20, 7, 0))
        );
        assert_eq!(s.describe(), "cron `0 9 * * 1-5` in Europe/Berlin");
    }

    #[test]
    fn zone_changes_the_local_date() {
        // 23:30 in New York on a Monday is already Tuesday in UTC.
        let s = cron("30 23 * * MON", Some("America/New_York")).unwrap();
        assert_eq!(
            s.next_after(utc(2026, 1, 17, 0, 0)),
            Some(utc(2026, 1, 20, 4, 30))
        );
        let tokyo = cron("0 0 1 * *", Some("Asia/Tokyo")).unwrap();
        assert_eq!(
            tokyo.next_after(utc(2026, 2, 1, 0, 0)),
            Some(utc(2026, 2, 28, 15, 0))
        );
    }

    #[test]
    fn sub_second_after_is_handled() {
        let s = cron("* * * * *", None).unwrap();
        let after = utc(2026, 3, 1, 10, 0) + chrono::TimeDelta::milliseconds(500);
        assert_eq!(s.next_after(after), Some(utc(2026, 3, 1, 10, 1)));
        assert_eq!(
            s.next_after(utc(2026, 3, 1, 10, 0)),
            Some(utc(2026, 3, 1, 10, 1))
        );
    }

    #[test]
    fn aliases_and_rare_dates() {
        let s = cron("@midnight", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            s.next_after(utc(2026, 1, 20, 12, 0)),
            Some(utc(2026, 1, 20, 23, 0))
        );
        assert_eq!(s.describe(), "cron `@midnight` in Europe/Berlin");
        let leap = cron("0 12 29 2 *", None).unwrap();
        assert_eq!(leap.next_after(now()), Some(utc(2028, 2, 29, 12, 0)));
        let last = cron("0 0 L * *", None).unwrap();
        assert_eq!(
            last.next_after(utc(2026, 2, 1, 0, 0)),
            Some(utc(2026, 2, 28, 0, 0))
        );
    }

    // ---- daylight-saving time -------------------------------------------------------
    // 2026 transitions: Berlin 29 Mar 01:00Z (02:00→03:00) and 25 Oct 01:00Z (03:00→02:00);
    // New York 8 Mar 07:00Z (02:00→03:00) and 1 Nov 06:00Z (02:00→01:00).

    #[test]
    fn spring_forward_daily_job_runs_once_after_the_gap() {
        let s = cron("30 2 * * *", Some("Europe/Berlin")).unwrap();
        let day = runs(&s, utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0));
        // 02:30 does not exist; the job runs at 03:00 CEST = 01:00 UTC, once.
        assert_eq!(day, vec![utc(2026, 3, 29, 1, 0)]);
        assert_eq!(
            s.next_after(utc(2026, 3, 29, 1, 0)),
            Some(utc(2026, 3, 30, 0, 30))
        );

        let s = cron("30 2 * * *", Some("America/New_York")).unwrap();
        let day = runs(&s, utc(2026, 3, 8, 5, 0), utc(2026, 3, 9, 4, 0));
        // 03:00 EDT = 07:00 UTC.
        assert_eq!(day, vec![utc(2026, 3, 8, 7, 0)]);
    }

    #[test]
    fn fall_back_daily_job_runs_once_in_the_first_pass() {
        let s = cron("30 2 * * *", Some("Europe/Berlin")).unwrap();
        let day = runs(&s, utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0));
        // 02:30 happens at 00:30Z (CEST) and 01:30Z (CET); only the first counts.
        assert_eq!(day, vec![utc(2026, 10, 25, 0, 30)]);
        // Asked from inside the second pass, it must not hand back the first pass again
        // (croner's stateless search does) nor run the second pass.
        let s45 = cron("45 2 * * *", Some("Europe/Berlin")).unwrap();
        assert_eq!(
            s45.next_after(utc(2026, 10, 25, 1, 40)),
            Some(utc(2026, 10, 26, 1, 45))
        );
        assert_eq!(
            s.next_after(utc(2026, 10, 25, 1, 20)),
            Some(utc(2026, 10, 26, 1, 30))
        );

        // New York repeats 01:00–01:59, so 01:30 is the ambiguous wall time there…
        let ny = cron("30 1 * * *", Some("America/New_York")).unwrap();
        let day = runs(&ny, utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 4, 0));
        assert_eq!(day, vec![utc(2026, 11, 1, 5, 30)]);
        // …and 02:30 happens once, in EST.
        let ny = cron("30 2 * * *", Some("America/New_York")).unwrap();
        let day = runs(&ny, utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 4, 0));
        assert_eq!(day, vec![utc(2026, 11, 1, 7, 30)]);
    }

    #[test]
    fn wall_clock_job_runs_exactly_once_every_local_day_of_the_year() {
        for zone in ["Europe/Berlin", "America/New_York"] {
            let tz: Tz = zone.parse().unwrap();
            for expr in ["30 2 * * *", "0 2 * * *", "30 1 * * *", "0 3 * * *"] {
                let s = cron(expr, Some(zone)).unwrap();
                let all = runs(&s, utc(2026, 1, 1, 12, 0), utc(2026, 12, 31, 12, 0));
                let mut days: Vec<NaiveDate> = all
                    .iter()
                    .map(|t| t.with_timezone(&tz).date_naive())
                    .collect();
                assert_eq!(days.len(), 364, "{zone} {expr}");
                days.dedup();
                assert_eq!(days.len(), 364, "{zone} {expr}: a day ran twice");
            }
        }
    }

    #[test]
    fn hourly_job_across_berlin_transitions() {
        let s = cron("0 * * * *", Some("Europe/Berlin")).unwrap();
        // Local 29 Mar 2026 is 23 hours long: 28 Mar 23:00Z .. 29 Mar 22:00Z.
        let spring = runs(&s, utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0));
        let expected: Vec<_> = (0..23)
            .map(|h| utc(2026, 3, 28, 23, 0) + chrono::TimeDelta::hours(h))
            .collect();
        assert_eq!(spring, expected);
        // Local 25 Oct 2026 is 25 hours long: 24 Oct 22:00Z .. 25 Oct 23:00Z; 02:00 runs twice
        // (00:00Z and 01:00Z) because an hourly job follows real time.
        let fall = runs(&s, utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0));
        let expected: Vec<_> = (0..25)
            .map(|h| utc(2026, 10, 24, 22, 0) + chrono::TimeDelta::hours(h))
            .collect();
        assert_eq!(fall, expected);
        let around = runs(&s, utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 3, 30));
        assert_eq!(
            around,
            vec![
                utc(2026, 10, 25, 0, 0),
                utc(2026, 10, 25, 1, 0),
                utc(2026, 10, 25, 2, 0),
                utc(2026, 10, 25, 3, 0)
            ]
        );
        // From the first pass the repeated hour is not skipped (croner's stateless search skips it).
        assert_eq!(
            s.next_after(utc(2026, 10, 25, 0, 0)),
            Some(utc(2026, 10, 25, 1, 0))
        );
    }

    #[test]
    fn hourly_job_across_new_york_transitions() {
        let s = cron("0 * * * *", Some("America/New_York")).unwrap();
        let spring = runs(&s, utc(2026, 3, 8, 5, 0), utc(2026, 3, 9, 4, 0));
        assert_eq!(spring.len(), 23);
        let fall = runs(&s, utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 5, 0));
        assert_eq!(fall.len(), 25);
        for list in [&spring, &fall] {
            for pair in list.windows(2) {
                assert_eq!(pair[1] - pair[0], chrono::TimeDelta::hours(1), "{list:?}");
            }
        }
        assert_eq!(fall[1], utc(2026, 11, 1, 5, 0)); // 01:00 EDT
        assert_eq!(fall[2], utc(2026, 11, 1, 6, 0)); // 01:00 EST
    }

    #[test]
    fn every_five_minutes_in_the_repeated_hour_follows_real_time() {
        let s = cron("*/5 * * * *", Some("Europe/Berlin")).unwrap();
        let got = runs(&s, utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 3, 0));
        let expected: Vec<_> = (0..48)
            .map(|k| utc(2026, 10, 24, 23, 0) + chrono::TimeDelta::minutes(5 * k))
            .collect();
        assert_eq!(got, expected);
        // Asked from inside the first pass, the next run is 5 real minutes later.
        assert_eq!(
            s.next_after(utc(2026, 10, 25, 0, 12)),
            Some(utc(2026, 10, 25, 0, 15))
        );
        // And from inside the second pass too.
        assert_eq!(
            s.next_after(utc(2026, 10, 25, 1, 12)),
            Some(utc(2026, 10, 25, 1, 15))
        );
    }

    #[test]
    fn several_missing_wall_times_collapse_into_one_run() {
        let s = cron("0,30 2 * * *", Some("Europe/Berlin")).unwrap();
        let day = runs(&s, utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0));
        assert_eq!(day, vec![utc(2026, 3, 29, 1, 0)]);
    }

    /// Whether `t` is a run by the rules in the module docs, checked the slow way.
    fn is_run(s: &CronSchedule, t: DateTime<Utc>) -> bool {
        let wall = t.with_timezone(&s.tz).naive_local();
        let matches = |w: NaiveDateTime| s.cron.is_time_matching(&w.and_utc()).unwrap();
        if matches(wall)
            && (s.real_time
                || s.tz
                    .from_local_datetime(&wall)
                    .earliest()
                    .map(|e| e.with_timezone(&Utc))
                    == Some(t))
        {
            return true;
        }
        // A wall-clock job also runs at the end of a gap holding a matching wall time.
        if s.real_time {
            return false;
        }
        let before = (t - chrono::TimeDelta::seconds(1))
            .with_timezone(&s.tz)
            .naive_local();
        let jump = wall - before - chrono::TimeDelta::seconds(1);
        let mut w = before + chrono::TimeDelta::minutes(1);
        w = w.with_second(0).unwrap();
        while jump > chrono::TimeDelta::zero() && w < wall {
            if matches(w) {
                return true;
            }
            w += chrono::TimeDelta::minutes(1);
        }
        false
    }

    /// Instants in 2026 where `tz` changes its UTC offset (found hour by hour).
    fn transitions_2026(tz: Tz) -> Vec<DateTime<Utc>> {
        let offset = |t: DateTime<Utc>| t.with_timezone(&tz).naive_local() - t.naive_utc();
        let mut out = vec![];
        let mut t = utc(2026, 1, 1, 0, 0);
        while t.year() == 2026 {
            let next = t + chrono::TimeDelta::hours(1);
            if offset(t) != offset(next) {
                let mut m = t;
                while offset(m) == offset(t) {
                    m += chrono::TimeDelta::minutes(1);
                }
                out.push(m);
            }
            t = next;
        }
        out
    }

    #[test]
    fn cron_next_after_matches_brute_force_around_every_transition() {
        let zones = [
            "Europe/Berlin",
            "America/New_York",
            "Australia/Lord_Howe",
            "America/Santiago",
            "Asia/Kolkata",
        ];
        let exprs = [
            "0 * * * *",
            "*/20 * * * *",
            "* * * * *",
            "30 2 * * *",
            "15 2 * * *",
            "15 1,2,3 * * *",
            "0,30 2 * * *",
            "*/7 2 * * *",
            "45 * * * 0",
            "0 0 * * *",
            "30 0 * * *",
            "0 9 * * 1-5",
        ];
        let mut windows = 0;
        for zone in zones {
            let tz: Tz = zone.parse().unwrap();
            let mut centres = transitions_2026(tz);
            centres.push(utc(2026, 6, 15, 12, 0)); // and an ordinary day
            for centre in centres {
                windows += 1;
                let (from, to) = (
                    centre - chrono::TimeDelta::hours(30),
                    centre + chrono::TimeDelta::hours(30),
                );
                for expr in exprs {
                    let Kind::Cron(c) = cron(expr, Some(zone)).unwrap().kind else {
                        unreachable!()
                    };
                    let mut reference = vec![];
                    let mut t = from;
                    while t < to {
                        if is_run(&c, t) {
                            reference.push(t);
                        }
                        t += chrono::TimeDelta::minutes(1);
                    }
                    // Ask from every 7th minute, at varying seconds, while the answer is in the window.
                    let mut after = from - chrono::TimeDelta::seconds(1);
                    let mut k = 0i64;
                    while let Some(&expected) = reference.iter().find(|r| **r > after) {
                        assert_eq!(
                            c.next_after(after),
                            Some(expected),
                            "{zone} `{expr}` after {after}"
                        );
                        k += 1;
                        after += chrono::TimeDelta::seconds(7 * 60 + k % 61);
                    }
                    // Any run listed twice would be a duplicate instant.
                    let mut unique = reference.clone();
                    unique.dedup();
                    assert_eq!(unique.len(), reference.len());
                }
            }
        }
        // Berlin, New York, Lord Howe and Santiago change twice in 2026; Kolkata never.
        assert_eq!(windows, 4 * 2 + 5);
    }

    // ---- every ----------------------------------------------------------------------

    fn every(seconds: u64, anchor: DateTime<Utc>) -> Result<Schedule, ScheduleError> {
        Schedule::parse(&ScheduleSpec::Every { seconds }, anchor, anchor)
    }

    #[test]
    fn every_bounds() {
        assert_eq!(
            every(59, now()).unwrap_err(),
            ScheduleError::EveryTooShort { seconds: 59 }
        );
        assert!(
            every(59, now())
                .unwrap_err()
                .to_string()
                .contains("the shortest interval is 60 seconds")
        );
        assert!(every(60, now()).is_ok());
        assert!(every(MAX_EVERY.as_secs(), now()).is_ok());
        let err = every(MAX_EVERY.as_secs() + 1, now()).unwrap_err();
        assert!(
            err.to_string()
                .contains("the longest interval is 31622400 seconds (366 days)"),
            "{err}"
        );
        assert_eq!(
            every(0, now()).unwrap_err(),
            ScheduleError::EveryTooShort { seconds: 0 }
        );
    }

    #[test]
    fn every_stays_on_the_anchor_grid() {
        let anchor = utc(2026, 1, 1, 10, 0) + chrono::TimeDelta::seconds(7);
        let s = every(900, anchor).unwrap();
        let m = |mins: i64| anchor + chrono::TimeDelta::minutes(mins);
        assert_eq!(s.next_after(anchor), Some(m(15)));
        assert_eq!(s.next_after(m(15)), Some(m(30)));
        assert_eq!(s.next_after(m(16)), Some(m(30)));
        // After a day of downtime the next run is still on the grid, not "now + 15m".
        assert_eq!(s.next_after(m(24 * 60 + 1)), Some(m(24 * 60 + 15)));
        // Before the anchor the first run is one interval after it.
        assert_eq!(
            s.next_after(anchor - chrono::TimeDelta::days(3)),
            Some(m(15))
        );
        assert_eq!(s.describe(), "every 15m");
    }

    #[test]
    fn every_describes_intervals_compactly() {
        let d = |s: u64| every(s, now()).unwrap().describe();
        assert_eq!(d(60), "every 1m");
        assert_eq!(d(5400), "every 1h30m");
        assert_eq!(d(86_400), "every 1d");
        assert_eq!(d(90_061), "every 1d1h1m1s");
        assert_eq!(d(MAX_EVERY.as_secs()), "every 366d");
    }

    #[test]
    fn every_ignores_time_zones_and_dst() {
        // A 24-hour interval is 24 real hours, even across Berlin's spring-forward night.
        let anchor = berlin(2026, 3, 28, 9, 0);
        let s = every(86_400, anchor).unwrap();
        assert_eq!(
            s.next_after(anchor),
            Some(anchor + chrono::TimeDelta::hours(24))
        );
        assert_eq!(s.next_after(anchor).unwrap(), berlin(2026, 3, 29, 10, 0));
    }

    #[test]
    fn extreme_now_does_not_panic() {
        for t in [DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC] {
            let spec = ScheduleSpec::Cron {
                expr: "0 9 * * *".to_owned(),
                timezone: Some("Asia/Tokyo".to_owned()),
            };
            // Outside the years croner searches there is nothing to run.
            assert!(matches!(
                Schedule::parse(&spec, t, t),
                Err(ScheduleError::CronNeverRuns { .. })
            ));
            let spec = ScheduleSpec::At {
                time: "2026-12-01T09:00:00+01:00".to_owned(),
            };
            assert_eq!(
                Schedule::parse(&spec, t, t).is_ok(),
                t == DateTime::<Utc>::MIN_UTC
            );
        }
    }

    #[test]
    fn every_far_future_is_none_not_a_panic() {
        let s = every(MAX_EVERY.as_secs(), now()).unwrap();
        assert_eq!(s.next_after(DateTime::<Utc>::MAX_UTC), None);
        assert!(s.next_after(DateTime::<Utc>::MIN_UTC).is_some());
        let c = cron("* * * * *", None).unwrap();
        assert_eq!(c.next_after(DateTime::<Utc>::MAX_UTC), None);
        assert_eq!(c.next_after(DateTime::<Utc>::MIN_UTC), None);
    }

    proptest! {
        #[test]
        fn every_next_after_is_within_one_interval(
            seconds in MIN_EVERY.as_secs()..=MAX_EVERY.as_secs(),
            anchor_secs in 0i64..4_000_000_000,
            anchor_nanos in 0u32..1_000_000_000,
            ahead_secs in 0i64..3_000_000_000,
            ahead_nanos in 0u32..1_000_000_000,
        ) {
            let anchor = DateTime::from_timestamp(anchor_secs, anchor_nanos).unwrap();
            let after = anchor + chrono::TimeDelta::seconds(ahead_secs) + chrono::TimeDelta::nanoseconds(i64::from(ahead_nanos));
            let s = every(seconds, anchor).unwrap();
            let next = s.next_after(after).unwrap();
            let interval = chrono::TimeDelta::seconds(i64::try_from(seconds).unwrap());
            prop_assert!(next > after);
            prop_assert!(next <= after + interval);
            let offset = (next - anchor).num_nanoseconds().unwrap();
            prop_assert_eq!(offset % interval.num_nanoseconds().unwrap(), 0);
        }
    }

    // ---- at -------------------------------------------------------------------------

    fn at(time: &str) -> Result<Schedule, ScheduleError> {
        Schedule::parse(
            &ScheduleSpec::At {
                time: time.to_owned(),
            },
            now(),
            now(),
        )
    }

    #[test]
    fn at_in_the_future_runs_once() {
        let s = at("2026-12-01T09:00:00+01:00").unwrap();
        assert_eq!(s.next_after(now()), Some(utc(2026, 12, 1, 8, 0)));
        assert_eq!(
            s.next_after(utc(2026, 12, 1, 7, 59)),
            Some(utc(2026, 12, 1, 8, 0))
        );
        assert_eq!(s.next_after(utc(2026, 12, 1, 8, 0)), None);
        assert_eq!(s.describe(), "once at 2026-12-01T09:00:00+01:00");
        assert_eq!(
            at(" 2026-12-01T08:00:00Z ").unwrap().describe(),
            "once at 2026-12-01T08:00:00Z"
        );
        assert_eq!(
            s.spec(),
            &ScheduleSpec::At {
                time: "2026-12-01T09:00:00+01:00".to_owned()
            }
        );
    }

    #[test]
    fn at_in_the_past_or_now_is_refused() {
        let msg = at("2026-01-15T11:59:59Z").unwrap_err().to_string();
        assert_eq!(
            msg,
            "`2026-01-15T11:59:59Z` is not in the future (it is now 2026-01-15T12:00:00Z); a one-off job needs a later time"
        );
        assert!(matches!(
            at("2026-01-15T13:00:00+01:00"),
            Err(ScheduleError::AtNotInFuture { .. })
        ));
        assert!(at("2026-01-15T13:00:01+01:00").is_ok());
    }

    #[test]
    fn at_needs_an_offset_and_rfc3339() {
        assert_eq!(
            at("2026-12-01T09:00:00").unwrap_err(),
            ScheduleError::AtMissingOffset {
                time: "2026-12-01T09:00:00".to_owned()
            }
        );
        assert!(
            at("2026-12-01T09:00")
                .unwrap_err()
                .to_string()
                .contains("has no UTC offset; add `Z`")
        );
        for bad in [
            "tomorrow",
            "2026-12-01",
            "2026-13-01T09:00:00Z",
            "1764576000",
            "",
        ] {
            assert!(
                matches!(at(bad), Err(ScheduleError::AtInvalid { .. })),
                "{bad}"
            );
        }
        let long = at(&"9".repeat(10_000)).unwrap_err().to_string();
        assert!(long.len() < 300, "{long}");
    }

    #[test]
    fn spec_round_trips_and_schedules_clone() {
        let spec = ScheduleSpec::Cron {
            expr: " 0 9 * * 1-5 ".to_owned(),
            timezone: Some("Europe/Berlin".to_owned()),
        };
        let s = Schedule::parse(&spec, now(), now()).unwrap();
        assert_eq!(s.spec(), &spec);
        let copy = s.clone();
        assert_eq!(copy.next_after(now()), s.next_after(now()));
        assert_eq!(copy.describe(), "cron `0 9 * * 1-5` in Europe/Berlin");
    }
}
