//! An uncaught JS error names the line and column of the failing expression in
//! the script's own file, with a short stack of the script's frames and the
//! offending source line under a caret — through the sandbox API, `clambot run`
//! and the agent's error text alike. Tested against the real guest.

mod common;

use std::process::Command;

use clambot::sandbox::{RunError, RunRequest, ScriptFailure};

fn failure(source: &str) -> ScriptFailure {
    match common::run(&RunRequest::new(source)).result {
        Err(RunError::Script(failure)) => *failure,
        other => panic!("expected a script error, got {other:?}"),
    }
}

fn position(failure: &ScriptFailure) -> (u32, u32) {
    match (failure.line, failure.column) {
        (Some(line), Some(column)) => (line, column),
        _ => panic!("no position: {failure:?}"),
    }
}

/// The caret line's column (1-based) in the source line it sits under.
fn caret_column(failure: &ScriptFailure) -> usize {
    let [code, caret] = failure.excerpt.as_ref().expect("an excerpt");
    let gutter = code.find(" | ").expect("a gutter") + 3;
    assert_eq!(caret.find(" | "), Some(gutter - 3), "{code}\n{caret}");
    caret[gutter..].chars().count()
}

#[test]
fn a_throw_in_a_nested_function_names_its_line_and_the_callers() {
    let source = "\
function inner(n) {
  if (n > 1) throw new Error('too deep');
  return inner(n + 1);
}
function outer() { return inner(0); }
return outer();";
    let failure = failure(source);
    assert_eq!(failure.message, "Error: too deep");
    assert_eq!(position(&failure), (2, 24));
    assert_eq!(
        failure.frames,
        [
            // A caller's column points into its call (QuickJS-ng marks the
            // last computed argument, `n + 1`, or the callee when none is).
            "at inner (2:24)",
            "at inner (3:20)",
            "at inner (3:20)",
            "at outer (5:27)",
            "at <anonymous> (6:8)",
        ]
    );
    let [code, _] = failure.excerpt.clone().expect("an excerpt");
    assert_eq!(code, "2 |   if (n > 1) throw new Error('too deep');");
    assert_eq!(caret_column(&failure), 24);
}

#[test]
fn a_type_error_in_the_middle_of_a_line_points_at_the_failing_access() {
    let source = "const user = { name: 'ada', address: null };\n\
                  const city = user.name.length + user.address.city.length;\n\
                  return city;";
    let failure = failure(source);
    assert!(
        failure.message.starts_with("TypeError: "),
        "{}",
        failure.message
    );
    // The failing expression `user.address.city` (reading `.city` of null),
    // not the statement nor the first `user.name.length` on the line.
    let (line, column) = position(&failure);
    assert_eq!(line, 2);
    let text = source.lines().nth(1).expect("line 2");
    let at = text.find("user.address.city").expect("in the line") + 1;
    assert_eq!(column as usize, at, "column {column} in {text:?}");
    assert_eq!(caret_column(&failure), column as usize);
}

#[test]
fn columns_count_characters_on_lines_with_non_ascii_text() {
    let text = "const label = 'Grüße €'; const n = null; n.x;";
    let failure = failure(text);
    let (_, column) = position(&failure);
    // The column of `n.x` counted in characters (the bytes before it are more).
    let expected = text[..text.find("n.x").expect("in the line")]
        .chars()
        .count()
        + 1;
    assert_eq!(column as usize, expected);
    assert_eq!(caret_column(&failure), expected);
}

#[test]
fn a_syntax_error_names_its_line() {
    let source = "const a = 1;\nconst b = 2;\nconst c = (a + ;\nreturn c;";
    let failure = failure(source);
    assert_eq!(failure.kind, "syntax");
    assert!(
        failure.message.starts_with("SyntaxError: "),
        "{}",
        failure.message
    );
    assert_eq!(failure.line, Some(3));
    // The offending `;`, though QuickJS-ng 0.15.1 itself says column 1.
    assert_eq!(failure.column, Some(16));
    let [code, _] = failure.excerpt.clone().expect("an excerpt");
    assert_eq!(code, "3 | const c = (a + ;");
    assert_eq!(caret_column(&failure), 16);
    assert!(failure.frames.is_empty(), "{:?}", failure.frames);
}

#[test]
fn a_syntax_error_quoting_its_token_points_at_the_token_start() {
    let failure = failure(
        "const a = 1;
if (a) {
  const b = [1, 2
  return b;
}
",
    );
    assert!(failure.message.contains("'return'"), "{}", failure.message);
    assert_eq!(position(&failure), (4, 3));
}

#[test]
fn a_syntax_error_on_the_first_line_is_placed_past_the_wrapper() {
    let failure = failure("const x = 1 +* 2;");
    assert_eq!(position(&failure), (1, 14));
}

#[test]
fn an_unclosed_block_is_reported_at_the_end_of_the_script() {
    let failure = failure(
        "async function run(args) {
  const x = args.items;
  return x;

",
    );
    assert_eq!(failure.kind, "syntax");
    assert_eq!(position(&failure), (3, 12));
    assert!(failure.message.contains("left open"), "{}", failure.message);
    let [code, _] = failure.excerpt.clone().expect("an excerpt");
    assert_eq!(code, "3 |   return x;");
}

#[test]
fn check_syntax_parses_scripts_and_modules_as_given() {
    let rt = common::runtime();
    let check =
        |source: &str, module: bool| rt.block_on(common::sandbox().check_syntax(source, module));
    assert_eq!(check("var a = 1; a++;", false), Ok(()));
    assert_eq!(
        check("import { x } from 'y'; export const z = x;", true),
        Ok(())
    );
    // Not wrapped: a top-level `return` is no Script, `import` no Script either.
    // Each position is on the offending token (where QuickJS noticed it).
    for (source, module, line, column) in [
        ("return 1;", false, 1, 6),
        ("import x from 'y';", false, 1, 8),
        (
            "let a = 1;
let a = 2;",
            false,
            2,
            5,
        ),
        ("export default 1; export default 2;", true, 1, 34),
    ] {
        match check(source, module) {
            Err(RunError::Script(failure)) => {
                assert_eq!(failure.kind, "syntax", "{source}");
                assert_eq!(
                    (failure.line, failure.column),
                    (Some(line), Some(column)),
                    "{source}: {}",
                    failure.message
                );
            }
            other => panic!("{source}: expected a syntax error, got {other:?}"),
        }
    }
}

#[test]
fn an_error_in_the_run_args_form_shows_no_sandbox_frames() {
    let source = "\
function parse(text) {
  return JSON.parse(text).value.toFixed(2);
}
async function run(args) {
  return parse(args.text);
}";
    let mut request = RunRequest::new(source);
    request.args_json = r#"{"text": "{}"}"#.into();
    let failure = match common::run(&request).result {
        Err(RunError::Script(failure)) => *failure,
        other => panic!("expected a script error, got {other:?}"),
    };
    assert!(
        failure.message.starts_with("TypeError: "),
        "{}",
        failure.message
    );
    assert_eq!(failure.line, Some(2));
    // The wrapper that calls `run(args)` sits past line 6: not the script's.
    assert_eq!(failure.frames.len(), 2, "{:?}", failure.frames);
    assert!(
        failure.frames[0].starts_with("at parse (2:"),
        "{:?}",
        failure.frames
    );
    assert_eq!(failure.frames[1], "at run (5:16)");
}

#[test]
fn an_error_after_an_await_names_its_line() {
    let source = "\
const first = await Promise.resolve(1);
await null;
const settings = undefined;
return first + settings.retries;";
    let failure = failure(source);
    assert!(
        failure.message.starts_with("TypeError: "),
        "{}",
        failure.message
    );
    // `settings.retries`, the failing expression after the `+`.
    assert_eq!(position(&failure), (4, 16));
    assert_eq!(caret_column(&failure), 16);
}

#[test]
fn a_denied_call_points_at_the_call_and_hides_the_prelude() {
    let source = "\
const read = (path) => fs.readTextSync(path);
return read('notes.md');";
    let failure = failure(source);
    assert_eq!(failure.tool_code.as_deref(), Some("denied"));
    assert_eq!(failure.line, Some(1));
    assert!(
        failure
            .frames
            .iter()
            .all(|f| !f.contains("prelude") && !f.contains("native")),
        "{:?}",
        failure.frames
    );
    assert_eq!(failure.frames.len(), 2, "{:?}", failure.frames);
}

#[test]
fn clambot_run_prints_the_frames_the_source_line_and_a_caret_before_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("broken.js");
    std::fs::write(
        &file,
        "function total(items) {\n  return items.reduce((sum, item) => sum + item.price.amount, 0);\n}\nreturn total([{ price: null }]);\n",
    )
    .expect("write the script");
    let out = Command::new(env!("CARGO_BIN_EXE_clambot"))
        .arg("run")
        .arg(&file)
        .env("CLAMBOT_HOME", dir.path().join("home"))
        .env_remove("CLAMBOT_POLICY")
        .output()
        .expect("clambot runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    let last = lines.last().copied().unwrap_or_default();
    assert!(
        last.starts_with("clambot: ")
            && last.contains(
                "broken.js: uncaught at 2:44: TypeError: cannot read property 'amount' of null"
            ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "clambot:   2 |   return items.reduce((sum, item) => sum + item.price.amount, 0);\n"
        ),
        "{stderr}"
    );
    let caret = lines
        .iter()
        .find(|l| l.ends_with('^'))
        .unwrap_or_else(|| panic!("a caret line: {stderr}"));
    let code = lines
        .iter()
        .find(|l| l.contains("2 | "))
        .expect("code line");
    let under: String = code.chars().skip(caret.chars().count() - 1).collect();
    assert!(
        under.starts_with("item.price.amount"),
        "the caret is under `item.price.amount`:\n{stderr}"
    );
    for frame in [
        "at <anonymous> (2:44)",
        "at reduce (native)",
        "at total (2:16)",
        "at <anonymous> (4:8)",
    ] {
        assert!(
            stderr.contains(&format!("clambot:   {frame}\n")),
            "{frame}: {stderr}"
        );
    }
}
