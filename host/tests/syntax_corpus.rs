//! The guest's parser against a third-party syntax corpus: the npm package
//! `test262-parser-tests` (pinned by tests/test262-parser/package-lock.json).
//! Every program in `pass/` and `pass-explicit/` must parse; every one in
//! `fail/` (not the grammar) and `early/` (an early error) must be refused as a
//! syntax error. Files named `*.module.js` are Modules, the rest Scripts.
//!
//! The cases QuickJS-ng gets wrong are listed, with the reason, in
//! tests/test262-parser/expected-failures.txt; the test fails if a case outside
//! the list fails, and also if a listed case passes (the list stays exact, so an
//! engine upgrade shows what it fixed).
//!
//! The corpus is installed by `scripts/install-test-deps.sh` (the README's
//! set-up line); without it the test fails and says so.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clambot::sandbox::RunError;

/// Each directory of the corpus and whether its programs must parse.
const DIRECTORIES: &[(&str, bool)] = &[
    ("pass", true),
    ("pass-explicit", true),
    ("fail", false),
    ("early", false),
];

/// Checks in flight at once (each in its own fresh instance).
const CONCURRENCY: usize = 16;

fn corpus_dir() -> PathBuf {
    common::repo_root().join("tests/test262-parser/node_modules/test262-parser-tests")
}

/// `DIR/FILE` → reason, from expected-failures.txt (`DIR/FILE  reason`; `#` comments).
fn expected_failures() -> BTreeMap<String, String> {
    let path = common::repo_root().join("tests/test262-parser/expected-failures.txt");
    let text = std::fs::read_to_string(&path).expect("expected-failures.txt");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (case, reason) = line
                .split_once(char::is_whitespace)
                .unwrap_or_else(|| panic!("no reason given for {line:?}"));
            (case.to_owned(), reason.trim().to_owned())
        })
        .collect()
}

/// What the guest said about one program, as a short text for the report.
fn verdict(result: &Result<(), RunError>) -> Result<(), String> {
    match result {
        Ok(()) => Ok(()),
        Err(RunError::Script(failure)) if failure.kind == "syntax" => Err(failure.message.clone()),
        Err(other) => Err(format!("not a syntax error: {other}")),
    }
}

#[test]
fn test262_parser_tests_pass_fail_and_early_cases() {
    let root = corpus_dir();
    assert!(
        root.is_dir(),
        "{} is missing: run `scripts/install-test-deps.sh`",
        root.display()
    );
    let mut cases: Vec<(String, PathBuf, bool)> = Vec::new();
    for (dir, must_parse) in DIRECTORIES {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "js"))
            .collect();
        files.sort();
        for file in files {
            let name = file
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            cases.push((format!("{dir}/{name}"), file, *must_parse));
        }
    }
    assert!(cases.len() > 5_000, "the corpus has {} cases", cases.len());

    let rt = common::runtime();
    let outcomes: Vec<(String, bool, Result<(), String>)> = rt.block_on(async {
        let limit = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut tasks = Vec::with_capacity(cases.len());
        for (case, file, must_parse) in cases {
            let permit = Arc::clone(&limit).acquire_owned().await.expect("open");
            tasks.push(tokio::spawn(async move {
                let source = read_source(&file);
                let module = case.ends_with(".module.js");
                let result = common::sandbox().check_syntax(&source, module).await;
                drop(permit);
                (case, must_parse, verdict(&result))
            }));
        }
        let mut outcomes = Vec::with_capacity(tasks.len());
        for task in tasks {
            outcomes.push(task.await.expect("check task"));
        }
        outcomes
    });

    let expected = expected_failures();
    let total = outcomes.len();
    let mut unexpected = Vec::new();
    let mut failed = 0;
    let mut fixed = Vec::new();
    for (case, must_parse, verdict) in &outcomes {
        let wrong = match (must_parse, verdict) {
            (true, Err(message)) => Some(format!("{case}: refused: {message}")),
            (false, Ok(())) => Some(format!("{case}: accepted")),
            (false, Err(message)) if message.starts_with("not a syntax error") => {
                Some(format!("{case}: {message}"))
            }
            _ => None,
        };
        match (wrong, expected.contains_key(case)) {
            (Some(_), true) => failed += 1,
            (Some(wrong), false) => {
                failed += 1;
                unexpected.push(wrong);
            }
            (None, true) => fixed.push(case.clone()),
            (None, false) => {}
        }
    }
    let unknown: Vec<&String> = expected
        .keys()
        .filter(|case| !outcomes.iter().any(|(c, _, _)| c == *case))
        .collect();
    eprintln!(
        "test262-parser-tests: {} of {total} as expected ({:.2}%), {failed} listed failures",
        total - failed,
        100.0 * (total - failed) as f64 / total as f64
    );
    assert!(
        unexpected.is_empty() && fixed.is_empty() && unknown.is_empty(),
        "failing but not in expected-failures.txt:\n{}\n\nlisted but now passing (remove them):\n{}\n\n\
         listed but not in the corpus:\n{}",
        unexpected.join("\n"),
        fixed.join("\n"),
        unknown
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// A corpus file as text. The corpus is UTF-8 by its README; a file that is not
/// fails loudly rather than being checked as something else.
fn read_source(file: &Path) -> String {
    let bytes = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    String::from_utf8(bytes).unwrap_or_else(|_| panic!("{} is not UTF-8", file.display()))
}
