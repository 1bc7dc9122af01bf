//! `clambot policy check|explain|diff` as a reviewer or CI runs them: exit codes,
//! `file:line:col:` diagnostics on stderr, and nothing written anywhere.
//!
//! Exit codes: check and explain 0 (ok) or 1 (the file has errors); diff 0 (nothing
//! widened), 3 (something widened: ask for a reviewer) or 7 (a policy cannot be read).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clambot::policy::Policy;
use common::repo_root;

fn repo_policy() -> String {
    repo_root().join("policy.toml").display().to_string()
}

/// Runs `clambot` in `cwd` with a fresh `CLAMBOT_HOME`, and checks that the
/// review commands leave it untouched.
fn clambot_in(cwd: &Path, args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("home");
    let out = Command::new(env!("CARGO_BIN_EXE_clambot"))
        .args(args)
        .current_dir(cwd)
        .env("CLAMBOT_HOME", home.path())
        .output()
        .expect("clambot runs");
    let written: Vec<_> = std::fs::read_dir(home.path())
        .expect("home")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(
        written.is_empty(),
        "`clambot {}` wrote {written:?}",
        args.join(" ")
    );
    out
}

fn clambot(args: &[&str]) -> Output {
    clambot_in(&repo_root(), args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes `text` to `dir/name` and returns the path as a string.
fn file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

#[test]
fn check_exits_0_on_the_repository_policy() {
    let policy = repo_policy();
    let out = clambot(&["policy", "check", &policy]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rules = Policy::load(Path::new(&policy))
        .expect("loads")
        .rules()
        .len();
    assert_eq!(stdout(&out), format!("{policy}: ok ({rules} rules)\n"));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn check_and_explain_read_the_agents_policy_by_default() {
    // One policy, one home: not ./policy.toml, but $CLAMBOT_HOME/policy.toml.
    let home = tempfile::tempdir().expect("home");
    std::fs::copy(
        repo_root().join("policy.toml"),
        home.path().join("policy.toml"),
    )
    .expect("copy");
    let in_home = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_clambot"))
            .args(args)
            .current_dir(tempfile::tempdir().expect("cwd").path())
            .env("CLAMBOT_HOME", home.path())
            .output()
            .expect("clambot runs")
    };
    let out = in_home(&["policy", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = home.path().join("policy.toml").display().to_string();
    assert!(
        stdout(&out).starts_with(&format!("{expected}: ok (")),
        "{}",
        stdout(&out)
    );
    let out = in_home(&["policy", "explain"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stdout(&out).is_empty());

    // With no policy in the home there is nothing to check, even with a
    // policy.toml in the current directory.
    let out = clambot_in(&repo_root(), &["policy", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("cannot read the policy"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_exits_1_with_file_line_col_for_a_broken_policy() {
    let dir = tempfile::tempdir().expect("dir");
    let broken = file(
        dir.path(),
        "broken.toml",
        "version = 1\n[[allow]]\ncall = \"http.fecth\"\n",
    );
    let out = clambot(&["policy", "check", &broken]);
    assert_eq!(out.status.code(), Some(1));
    // The diagnostic, then the line it points at with the offending text underlined.
    assert_eq!(
        stderr(&out),
        format!(
            "{broken}:3:8: `http` has no function `fecth`; expected one of: fetch, fetch-text, or `*`; did you mean `http.fetch`?\n    | call = \"http.fecth\"\n    |        ^^^^^^^^^^^^\n"
        )
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn check_reports_every_problem_one_per_line_in_file_order() {
    let dir = tempfile::tempdir().expect("dir");
    let broken = file(
        dir.path(),
        "two.toml",
        "version = 1\n[[allow]]\ncall = \"shell.exec\"\n[[allow]]\ncall = \"fs.read-text\"\npath = [\"/etc/**\"]\nmax-calls = 0\n",
    );
    let out = clambot(&["policy", "check", &broken]);
    assert_eq!(out.status.code(), Some(1));
    // Each diagnostic is followed by its source line and an underline.
    let lines: Vec<String> = stderr(&out)
        .lines()
        .filter(|l| !l.starts_with("    | "))
        .map(str::to_owned)
        .collect();
    let prefixes: Vec<String> = lines
        .iter()
        .map(|l| {
            l.strip_prefix(&format!("{broken}:"))
                .and_then(|rest| rest.split(": ").next())
                .unwrap_or_else(|| panic!("not file:line:col: {l}"))
                .to_owned()
        })
        .collect();
    assert_eq!(prefixes, ["3:8", "6:9", "7:13"], "{lines:?}");
}

#[test]
fn check_agrees_with_the_corpus() {
    let corpus = repo_root().join("tests/policy");
    let mut checked = 0;
    for (kind, code) in [("accept", 0), ("reject", 1)] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join(kind))
            .expect("corpus")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        for path in files {
            let name = path.display().to_string();
            let out = clambot(&["policy", "check", &name]);
            assert_eq!(out.status.code(), Some(code), "{name}: {}", stderr(&out));
            if kind == "reject" {
                let bytes = std::fs::read(&path).expect("read");
                let header = String::from_utf8_lossy(&bytes)
                    .lines()
                    .find_map(|l| {
                        l.trim_start_matches('\u{feff}')
                            .strip_prefix("# expect-error: ")
                            .map(|h| h.trim_end_matches('\r').to_owned())
                    })
                    .unwrap_or_else(|| panic!("{name}: no expect-error header"));
                let (position, message) = header.split_once(": ").expect("LINE:COL: TEXT");
                let first = stderr(&out).lines().next().unwrap_or_default().to_owned();
                assert!(
                    first.starts_with(&format!("{name}:{position}: ")) && first.contains(message),
                    "{name}: expected {header}, got {first}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 35, "{checked} corpus files");
}

#[test]
fn explain_prints_one_line_per_rule() {
    let policy = repo_policy();
    let out = clambot(&["policy", "explain", &policy]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let rules = Policy::load(Path::new(&policy))
        .expect("loads")
        .rules()
        .len();
    let rule_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("ALLOW") || l.starts_with("ASK") || l.starts_with("DENY"))
        .collect();
    assert_eq!(rule_lines.len(), rules, "{text}");
    assert!(
        rule_lines
            .iter()
            .all(|l| l.contains(&format!("({policy}:"))),
        "each line names its rule: {text}"
    );
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.ends_with("everything not listed below is denied.")),
        "{text}"
    );

    let dir = tempfile::tempdir().expect("dir");
    let broken = file(dir.path(), "broken.toml", "version = 2\n");
    let out = clambot(&["policy", "explain", &broken]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with(&format!("{broken}:1:11: unsupported version 2")),
        "{}",
        stderr(&out)
    );
}

/// Writes the two policies and runs `clambot policy diff OLD NEW`.
fn diff(old: &str, new: &str) -> Output {
    let dir = tempfile::tempdir().expect("dir");
    let old = file(dir.path(), "old.toml", old);
    let new = file(dir.path(), "new.toml", new);
    clambot(&["policy", "diff", &old, &new])
}

const BASE: &str = "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://a.org/**\"]\nmethod = [\"GET\", \"POST\"]\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n[[allow]]\ncall = \"fs.read-text\"\n";

#[test]
fn diff_exits_0_when_nothing_changes() {
    let out = diff(BASE, BASE);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "no capability changes\n");
    // Notes, comments and order are not capabilities.
    let reordered = "version = 1\n[[allow]]\ncall = \"fs.read-text\" # reads\nnote = \"n\"\n[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n[[allow]]\ncall = \"http.fetch\"\nmethod = [\"POST\", \"GET\"]\nurl = [\"https://a.org/**\"]\n";
    let out = diff(BASE, reordered);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out), "no capability changes\n");

    let policy = repo_policy();
    let out = clambot(&["policy", "diff", &policy, &policy]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn diff_exits_0_when_narrowing_only() {
    let narrower = BASE
        .replace("[\"GET\", \"POST\"]", "[\"GET\"]")
        .replace("[\"secrets/**\"]", "[\"secrets/**\", \".git/**\"]");
    let out = diff(BASE, &narrower);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}: {text}"))
            .to_owned()
    };
    assert!(
        line("[[allow]] http.fetch").starts_with("narrowed  "),
        "{text}"
    );
    assert!(
        line("[[allow]] http.fetch").contains("POST https://a.org/**"),
        "{text}"
    );
    assert!(line("[[deny]] fs.*").starts_with("narrowed  "), "{text}");
    assert!(line("[[deny]] fs.*").contains(".git/**"), "{text}");
    assert!(!text.contains("WIDENED"), "{text}");
    assert!(text.ends_with("only narrowed: nothing widened\n"), "{text}");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn diff_exits_3_when_widening() {
    for (wider, expected) in [
        (
            BASE.replace("[\"GET\", \"POST\"]", "[\"GET\", \"POST\", \"DELETE\"]"),
            "DELETE https://a.org/**",
        ),
        (
            BASE.replace("[[deny]]\ncall = \"fs.*\"\npath = [\"secrets/**\"]\n", ""),
            "WIDENED   [[deny]] fs.* removed (was ",
        ),
        (
            format!("{BASE}[[allow]]\ncall = \"log.write\"\n"),
            "WIDENED   [[allow]] log.write added (",
        ),
        (
            format!("{BASE}[run]\ntimeout = \"1h\"\n").replace(
                "version = 1\n",
                "version = 1\n[net]\nallow-private = [\"127.0.0.1:9\"]\n",
            ),
            "WIDENED   [net] allow-private adds 127.0.0.1:9",
        ),
    ] {
        let out = diff(BASE, &wider);
        assert_eq!(out.status.code(), Some(3), "{wider}\n{}", stdout(&out));
        assert!(stdout(&out).contains(expected), "{}", stdout(&out));
        assert!(
            stdout(&out).lines().any(|l| l.starts_with("WIDENED")
                && l.contains(expected.trim_start_matches("WIDENED   "))),
            "{}",
            stdout(&out)
        );
        assert!(
            stdout(&out).ends_with("widened: needs a reviewer\n"),
            "{}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains("needs a reviewer"),
            "{}",
            stderr(&out)
        );
    }
    // Narrowing somewhere does not cancel widening elsewhere.
    let mixed = BASE
        .replace("[\"GET\", \"POST\"]", "[\"GET\"]")
        .replace("https://a.org/**", "https://b.org/**");
    let out = diff(BASE, &mixed);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stdout(&out).contains("narrowed"), "{}", stdout(&out));
}

#[test]
fn diff_exits_7_when_a_file_is_broken() {
    let broken = "version = 1\n[[allow]]\ncall = \"fs.read-text\"\npath = []\n";
    for (old, new, line) in [(BASE, broken, "4:8"), (broken, BASE, "4:8")] {
        let dir = tempfile::tempdir().expect("dir");
        let old_path = file(dir.path(), "old.toml", old);
        let new_path = file(dir.path(), "new.toml", new);
        let out = clambot(&["policy", "diff", &old_path, &new_path]);
        assert_eq!(out.status.code(), Some(7), "{}", stdout(&out));
        let which = if old == broken { &old_path } else { &new_path };
        assert!(
            stderr(&out).starts_with(&format!("{which}:{line}: `path` is an empty list")),
            "{}",
            stderr(&out)
        );
        assert!(stdout(&out).is_empty(), "no partial diff: {}", stdout(&out));
    }
    // Both broken: both are reported.
    let out = diff(broken, "version = 3\n");
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(stderr(&out).lines().count(), 3, "{}", stderr(&out));

    let missing = repo_root()
        .join("no-such-policy.toml")
        .display()
        .to_string();
    let out = clambot(&["policy", "diff", &repo_policy(), &missing]);
    assert_eq!(out.status.code(), Some(7));
    assert!(
        stderr(&out).contains("cannot read the policy"),
        "{}",
        stderr(&out)
    );
}
