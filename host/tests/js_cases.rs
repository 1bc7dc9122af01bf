//! Runs every `tests/js/*.js` case against the real guest and checks the
//! expectations written in its header comments:
//!
//! ```text
//! // args: {"n": 2}              the script's args (JSON)
//! // timeout: 200ms              limits: timeout, memory, max-output
//! // expect: {"x": 4}            the result (JSON, compared as values)
//! // expect-error: exception     syntax | exception | denied | timeout | memory |
//! //                             stack-overflow | output | result
//! // expect-message: TypeError   a substring of the error's description
//! // expect-position: 3:7        line:col of the error in the script
//! // expect-console: a\nb\n      the captured output, exactly (\n escapes)
//! // expect-console-contains: x  a substring of the captured output
//! ```

mod common;

use clambot::gate::GateSetup;
use clambot::sandbox::{RunError, RunLimits, RunRequest};
use clambot::size::{parse_duration, parse_size};

#[derive(Debug, Default)]
struct Case {
    args: Option<String>,
    limits: RunLimits,
    expect: Option<serde_json::Value>,
    expect_error: Option<String>,
    expect_message: Option<String>,
    expect_position: Option<(u32, u32)>,
    expect_console: Option<String>,
    expect_console_contains: Option<String>,
}

fn parse_case(name: &str, source: &str) -> Case {
    let mut case = Case::default();
    for line in source.lines().filter(|l| l.starts_with("// ")) {
        let Some((key, value)) = line.trim_start_matches("//").trim().split_once(':') else {
            continue;
        };
        let value = value.trim().to_owned();
        let bad = |what: &str| -> String { format!("{name}: bad `{key}` header: {what}") };
        match key.trim() {
            "args" => case.args = Some(value),
            "timeout" => {
                case.limits.timeout =
                    parse_duration(&value).unwrap_or_else(|e| panic!("{}", bad(&e)))
            }
            "memory" => {
                case.limits.memory = parse_size(&value).unwrap_or_else(|e| panic!("{}", bad(&e)))
            }
            "max-output" => {
                case.limits.max_output =
                    parse_size(&value).unwrap_or_else(|e| panic!("{}", bad(&e))) as usize
            }
            "expect" => {
                case.expect = Some(
                    serde_json::from_str(&value)
                        .unwrap_or_else(|e| panic!("{}", bad(&e.to_string()))),
                )
            }
            "expect-error" => case.expect_error = Some(value),
            "expect-message" => case.expect_message = Some(value),
            "expect-position" => {
                let (l, c) = value
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{}", bad("want line:col")));
                case.expect_position = Some((
                    l.parse().unwrap_or_else(|_| panic!("{}", bad("line"))),
                    c.parse().unwrap_or_else(|_| panic!("{}", bad("col"))),
                ));
            }
            "expect-console" => case.expect_console = Some(value.replace("\\n", "\n")),
            "expect-console-contains" => case.expect_console_contains = Some(value),
            _ => {}
        }
    }
    assert!(
        case.expect.is_some() || case.expect_error.is_some(),
        "{name}: needs an `expect:` or `expect-error:` header"
    );
    case
}

fn error_kind(error: &RunError) -> &'static str {
    match error {
        _ if error.is_denial() => "denied",
        RunError::Script(f) if f.kind == "syntax" => "syntax",
        RunError::Script(f) if f.kind == "result" => "result",
        RunError::Script(_) => "exception",
        RunError::Timeout(_) => "timeout",
        RunError::OutOfMemory(_) => "memory",
        RunError::StackOverflow => "stack-overflow",
        RunError::OutputLimit(_) | RunError::ResultTooLarge { .. } => "output",
        RunError::Trap(_) => "trap",
        RunError::Cancelled => "cancelled",
    }
}

fn check(name: &str, source: &str) -> Result<(), String> {
    let case = parse_case(name, source);
    let request = RunRequest {
        source: source.to_owned(),
        args_json: case.args.clone().unwrap_or_else(|| "{}".into()),
        limits: case.limits,
        gate: GateSetup::deny_all(),
    };
    let outcome = common::run(&request);
    let console = outcome.console.text();
    match (&case.expect, &outcome.result) {
        (Some(expected), Ok(json)) => {
            let actual: serde_json::Value =
                serde_json::from_str(json).map_err(|e| format!("result is not JSON: {e}"))?;
            if &actual != expected {
                return Err(format!("expected {expected}, got {actual}"));
            }
        }
        (Some(expected), Err(error)) => {
            return Err(format!("expected {expected}, got error {error}"));
        }
        (None, Ok(json)) => return Err(format!("expected an error, got {json}")),
        (None, Err(error)) => {
            let kind = error_kind(error);
            if Some(kind) != case.expect_error.as_deref() {
                return Err(format!(
                    "expected error {:?}, got {kind}: {error}",
                    case.expect_error
                ));
            }
            if let Some(message) = &case.expect_message
                && !error.to_string().contains(message.as_str())
            {
                return Err(format!("error `{error}` does not contain `{message}`"));
            }
            if let Some((line, column)) = case.expect_position {
                let RunError::Script(failure) = error else {
                    return Err(format!("expected a position, got {error}"));
                };
                if (failure.line, failure.column) != (Some(line), Some(column)) {
                    return Err(format!(
                        "expected position {line}:{column}, got {:?}:{:?} (stack: {:?})",
                        failure.line, failure.column, failure.stack
                    ));
                }
            }
        }
    }
    if let Some(expected) = &case.expect_console
        && &console != expected
    {
        return Err(format!("expected console {expected:?}, got {console:?}"));
    }
    if let Some(part) = &case.expect_console_contains
        && !console.contains(part.as_str())
    {
        return Err(format!("console {console:?} does not contain {part:?}"));
    }
    Ok(())
}

#[test]
fn every_js_case_behaves_as_its_header_says() {
    let dir = common::repo_root().join("tests/js");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/js exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .collect();
    entries.sort();
    assert!(
        entries.len() >= 20,
        "expected the JS corpus, found {} files",
        entries.len()
    );
    let failures: Vec<String> = entries
        .iter()
        .filter_map(|path| {
            let name = path
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let source = std::fs::read_to_string(path).expect("readable case");
            check(&name, &source).err().map(|e| format!("{name}: {e}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
