//! The things people look for in a CLI, tried on the real `clambot` binary:
//! shell completions and the man page cover every subcommand, `--json` on
//! `status` and every `list` parses, `clambot audit` shows what real runs did
//! (filters combined, control characters escaped), `--version` names the
//! embedded guest, the first run says it is compiling (only then, only on a
//! terminal), and every gateway log line carries its UTC time.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use common::cli::command;

fn clambot(home: &Path, args: &[&str]) -> Output {
    command(home, args).output().expect("clambot runs")
}

use common::cli::text;

fn ok(home: &Path, args: &[&str]) -> String {
    let out = clambot(home, args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "clambot {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn json_of(home: &Path, args: &[&str]) -> Json {
    let stdout = ok(home, args);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("clambot {args:?}: {e}\n{stdout}"))
}

/// The subcommand names `clambot --help` lists.
fn subcommands(home: &Path) -> Vec<String> {
    let help = ok(home, &["--help"]);
    let commands = help.split("Commands:").nth(1).expect("a Commands: section");
    let names: Vec<String> = commands
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|n| n != "help")
        .collect();
    assert!(names.len() >= 15, "{names:?}");
    names
}

#[test]
fn completions_cover_every_subcommand_in_every_shell() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let names = subcommands(&home);
    for expected in ["audit", "completions", "man", "status", "cron", "secrets"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let bash = ok(&home, &["completions", "bash"]);
    assert!(bash.contains("complete -F"), "{bash}");
    for name in &names {
        assert!(
            bash.contains(&format!("clambot__{name}"))
                || bash.contains(&format!("clambot,{name})")),
            "bash completion lacks {name}"
        );
    }
    for shell in ["zsh", "fish"] {
        let script = ok(&home, &["completions", shell]);
        for name in &names {
            assert!(
                script.contains(name.as_str()),
                "{shell} completion lacks {name}"
            );
        }
    }
    // Nested subcommands and flags are completed too.
    assert!(bash.contains("--denied") && bash.contains("--json"));
    let bad = clambot(&home, &["completions", "tcsh"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_man_page_renders_every_subcommand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let names = subcommands(&home);
    let man = ok(&home, &["man"]);
    assert!(
        man.starts_with(".ie") || man.starts_with(".TH"),
        "{}",
        &man[..80.min(man.len())]
    );
    assert!(man.contains(".TH clambot 1"), "a section-1 title");
    for name in &names {
        assert!(
            man.contains(&format!(
                ".SH \"CLAMBOT {}\"",
                name.to_uppercase().replace('-', "\\-")
            )),
            "the man page lacks a section for {name}"
        );
    }
    // Rendered by groff (when the machine has it): no warnings, every name shown.
    if let Ok(mut groff) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        groff
            .stdin
            .take()
            .expect("stdin")
            .write_all(man.as_bytes())
            .expect("write");
        let rendered = groff.wait_with_output().expect("groff");
        assert!(rendered.status.success());
        assert_eq!(text(&rendered.stderr), "", "groff warnings");
        // grotty's bold and underline are overstrikes (`C\bC`, `_\bC`): keep the last letter.
        let mut page = String::new();
        for c in text(&rendered.stdout).chars() {
            if c == '\u{8}' {
                page.pop();
            } else {
                page.push(c);
            }
        }
        for name in &names {
            assert!(
                page.contains(&format!("CLAMBOT {}", name.to_uppercase())),
                "the rendered page lacks {name}"
            );
        }
    }
    // Sub-subcommands get their own sections, with their options.
    assert!(man.contains(".SH \"CLAMBOT CRON ADD\""));
    assert!(man.contains("\\-\\-every"));
    // Help text can never start a roff request: every non-request line is text.
    for line in man
        .lines()
        .filter(|l| l.starts_with('.') || l.starts_with('\''))
    {
        let request: String = line[1..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        assert!(
            [
                "TH", "SH", "SS", "TP", "PP", "B", "I", "IP", "nf", "fi", "ie", "el", "br", "RS",
                "RE", "sp", "HP", "in", "ti"
            ]
            .contains(&request.as_str()),
            "an unexpected roff request: {line}"
        );
    }
}

#[test]
fn version_names_the_embedded_guest_by_its_sha256() {
    let dir = tempfile::tempdir().expect("tempdir");
    let guest = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../guest-quickjs/dist/clambot-guest.wasm"
    ))
    .expect("the committed guest");
    let hash = hex::encode(Sha256::digest(&guest));
    let version = ok(&dir.path().join("home"), &["--version"]);
    assert_eq!(
        version,
        format!(
            "clambot {} (guest sha256 {})\n",
            env!("CARGO_PKG_VERSION"),
            &hash[..12]
        )
    );
}

#[test]
fn status_and_every_list_speak_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");

    let status = command(&home, &["status", "--json"])
        .output()
        .expect("status");
    let parsed: Json = serde_json::from_slice(&status.stdout).expect("status --json parses");
    assert_eq!(parsed["home"], home.display().to_string());
    let ready = parsed["ready"].as_bool().expect("ready is a bool");
    assert_eq!(status.status.code(), Some(if ready { 0 } else { 1 }));
    let checks = parsed["checks"].as_array().expect("checks");
    for name in [
        "config",
        "state",
        "provider",
        "policy",
        "workspace",
        "clams",
    ] {
        let check = checks
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check in {parsed}"));
        assert!(
            check["ok"].is_boolean() && check["detail"].is_string(),
            "{check}"
        );
    }
    assert!(
        !text(&status.stdout).contains("MISS"),
        "no human lines mixed in"
    );

    assert_eq!(
        json_of(&home, &["clams", "list", "--json"]),
        Json::Array(vec![])
    );
    assert_eq!(
        json_of(&home, &["grants", "list", "--json"]),
        Json::Array(vec![])
    );
    assert_eq!(
        json_of(&home, &["cron", "list", "--json"]),
        Json::Array(vec![])
    );
    assert_eq!(
        json_of(&home, &["secrets", "list", "--json"]),
        Json::Array(vec![])
    );
    assert!(json_of(&home, &["tools", "list", "--json"]).is_array());
    assert_eq!(
        json_of(&home, &["memory", "list", "--json"]),
        Json::Array(vec![])
    );

    ok(
        &home,
        &[
            "cron",
            "add",
            "digest",
            "--every",
            "2h",
            "--prompt",
            "summarise the news",
        ],
    );
    let jobs = json_of(&home, &["cron", "list", "--json"]);
    let job = &jobs.as_array().expect("an array")[0];
    assert_eq!(job["name"], "digest");
    assert_eq!(job["enabled"], true);
    assert_eq!(job["once"], false);
    assert_eq!(job["schedule"], serde_json::json!({"every": 7200}));
    assert_eq!(
        job["action"],
        serde_json::json!({"prompt": "summarise the news"})
    );
    assert!(job["schedule_text"].is_string(), "{job}");
    chrono::DateTime::parse_from_rfc3339(job["next_run"].as_str().expect("next_run"))
        .expect("next_run is RFC 3339");
    assert!(
        job["last_run"].is_null() && job["channel"].is_null(),
        "{job}"
    );

    let mut set = command(&home, &["secrets", "set", "github_token"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("secrets set");
    set.stdin
        .take()
        .expect("stdin")
        .write_all(b"canary-value-123\n")
        .expect("write");
    assert!(set.wait().expect("wait").success());
    let listed = ok(&home, &["secrets", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<Json>(&listed).expect("parses"),
        serde_json::json!(["github_token"])
    );
    assert!(!listed.contains("canary"), "names only, never values");
}

const AUDIT_POLICY: &str = r#"
version = 1

[[allow]]
call = "log.write"
"#;

/// Runs `source` under the audit test's policy.
fn run_script(home: &Path, dir: &Path, source: &str) -> Output {
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, AUDIT_POLICY).expect("policy");
    let file = dir.join("s.js");
    std::fs::write(&file, source).expect("script");
    clambot(
        home,
        &[
            "run",
            &file.display().to_string(),
            "--policy",
            &policy.display().to_string(),
            "--non-interactive",
        ],
    )
}

#[test]
fn audit_shows_what_real_runs_did_with_filters_combined() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let allowed = run_script(
        &home,
        dir.path(),
        "await log.write('info', 'one'); await log.write('info', 'two'); return 1",
    );
    assert_eq!(allowed.status.code(), Some(0), "{}", text(&allowed.stderr));
    let mixed = run_script(
        &home,
        dir.path(),
        "await log.write('info', 'three');\n\
         try { await fs.readText('secret.txt') } catch (e) { if (e.code !== 'denied') throw e }\n\
         return 2",
    );
    assert!(
        matches!(mixed.status.code(), Some(0 | 3)),
        "{}",
        text(&mixed.stderr)
    );

    let all = json_of(&home, &["audit", "--json"]);
    let all = all.as_array().expect("an array");
    assert_eq!(all.len(), 4, "{all:?}");
    for record in all {
        for field in ["time", "run", "function", "decision", "rule", "fingerprint"] {
            assert!(record[field].is_string(), "{field} in {record}");
        }
        assert!(record["duration_us"].is_u64(), "{record}");
    }
    let first_run = all[0]["run"].as_str().expect("run").to_owned();
    let second_run = all[3]["run"].as_str().expect("run").to_owned();
    assert_ne!(first_run, second_run);

    let denied = json_of(&home, &["audit", "--denied", "--json"]);
    let denied = denied.as_array().expect("an array");
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["function"], "fs.read-text");
    assert_eq!(denied[0]["decision"], "deny");
    assert_eq!(denied[0]["run"], second_run.as_str());

    // Filters combine: the first run had no denied call.
    assert_eq!(
        json_of(&home, &["audit", "--run", &first_run, "--denied", "--json"]),
        Json::Array(vec![])
    );
    let of_first = json_of(&home, &["audit", "--run", &first_run, "--json"]);
    assert_eq!(of_first.as_array().map(Vec::len), Some(2));
    assert_eq!(
        json_of(&home, &["audit", "--since", "1h", "--denied", "--json"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        json_of(
            &home,
            &["audit", "--since", "2999-01-01T00:00:00Z", "--json"]
        ),
        Json::Array(vec![])
    );
    let bad = clambot(&home, &["audit", "--since", "last tuesday"]);
    assert_ne!(bad.status.code(), Some(0));
    assert!(
        text(&bad.stderr).contains("--since"),
        "{}",
        text(&bad.stderr)
    );

    // The human form: one line per record, with time, run, call, verdict, rule.
    let human = ok(&home, &["audit", "--denied"]);
    let lines: Vec<_> = human.lines().collect();
    assert_eq!(lines.len(), 1, "{human}");
    let fields: Vec<_> = lines[0].split_whitespace().collect();
    assert_eq!(fields[0], denied[0]["time"].as_str().expect("time"));
    assert_eq!(fields[1], second_run);
    assert_eq!(fields[2], "fs.read-text");
    assert_eq!(fields[3], "deny");
    assert!(
        lines[0].contains(denied[0]["rule"].as_str().expect("rule")),
        "{human}"
    );
}

#[test]
fn audit_escapes_control_characters_in_the_human_form() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    // Make the database, then plant a record whose fields carry terminal controls.
    let made = run_script(&home, dir.path(), "return 0");
    assert_eq!(made.status.code(), Some(0), "{}", text(&made.stderr));
    let db = rusqlite::Connection::open(home.join("data/clambot.db")).expect("db");
    db.execute(
        "INSERT INTO audit (time, run, function, decision, rule, fingerprint, error, duration_us)
         VALUES ('2026-01-01T00:00:00.000000Z', 'run-1', ?1, 'deny', ?2, 'f', ?3, 5)",
        [
            "fs.read-text\u{1b}[2J",
            "rule\nFORGED 2026-01-01 run-2 http.fetch allow",
            "denied\u{9b}31m\u{202e}",
        ],
    )
    .expect("insert");
    drop(db);
    let human = ok(&home, &["audit", "--run", "run-1"]);
    assert_eq!(human.lines().count(), 1, "{human:?}");
    assert!(
        !human
            .trim_end_matches('\n')
            .chars()
            .any(|c| c.is_control() || c == '\u{202e}'),
        "{human:?}"
    );
    assert!(human.contains("fs.read-text\\u{1b}[2J"), "{human}");
    assert!(human.contains("rule\\u{a}FORGED"), "{human}");
    assert!(human.contains("\\u{9b}31m\\u{202e}"), "{human}");
    // JSON keeps the exact text (escaped by JSON itself).
    let json = json_of(&home, &["audit", "--run", "run-1", "--json"]);
    assert_eq!(json[0]["function"], "fs.read-text\u{1b}[2J");
}

#[test]
fn the_first_run_says_it_is_compiling_and_a_warm_cache_says_nothing() {
    use rexpect::session::spawn_command;
    let dir = tempfile::tempdir().expect("tempdir");
    // A home of its own, with no shared cache: the guest really is compiled.
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let file = dir.path().join("s.js");
    std::fs::write(&file, "return 'done'").expect("script");
    // A tool component the policy pins: loading it compiles it too, once.
    let tool = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tools/textkit/textkit.wasm"
    ))
    .expect("the committed textkit tool");
    std::fs::create_dir_all(home.join("tools/textkit")).expect("tools dir");
    std::fs::write(home.join("tools/textkit/textkit.wasm"), &tool).expect("tool");
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n[tools.textkit]\nsha256 = \"{}\"\nimports = [\"http\"]\n",
            hex::encode(Sha256::digest(&tool))
        ),
    )
    .expect("policy");
    let run = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_clambot"));
        command
            .args([
                "run",
                &file.display().to_string(),
                "--policy",
                &policy.display().to_string(),
            ])
            .env("CLAMBOT_HOME", &home)
            .env("TERM", "xterm");
        command
    };
    let mut cold = spawn_command(run(), Some(120_000)).expect("spawn in a pty");
    let cold_text = cold.exp_eof().expect("the run ends");
    assert!(cold_text.contains("\"done\""), "{cold_text}");
    for line in [
        // (rexpect reads the pty as Latin-1, so the trailing `…` is left out.)
        "clambot: compiling the sandbox (first run, once)",
        "clambot: compiling the tool `textkit` (first use, once)",
    ] {
        assert_eq!(cold_text.matches(line).count(), 1, "{line} in {cold_text}");
    }

    let mut warm = spawn_command(run(), Some(120_000)).expect("spawn in a pty");
    let all = warm.exp_eof().expect("the run ends");
    assert!(all.contains("\"done\""), "{all}");
    assert!(
        !all.contains("compiling"),
        "a warm cache prints nothing: {all}"
    );

    // Not a terminal: never printed, even when compiling (a fresh cache).
    let other = dir.path().join("other");
    let piped = Command::new(env!("CARGO_BIN_EXE_clambot"))
        .args([
            "run",
            &file.display().to_string(),
            "--policy",
            &policy.display().to_string(),
        ])
        .env("CLAMBOT_HOME", &other)
        .output()
        .expect("run");
    assert_eq!(piped.status.code(), Some(0));
    assert!(
        !text(&piped.stderr).contains("compiling"),
        "stderr stays clean for scripts: {}",
        text(&piped.stderr)
    );
}

#[test]
fn every_gateway_log_line_starts_with_its_utc_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let env = [
        ("OPENAI_API_KEY", "sk-gateway-log-test"),
        ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"),
    ];
    let mut onboard = command(&home, &["onboard"]);
    onboard.envs(env);
    let out = onboard.output().expect("onboard");
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut gateway = command(&home, &["gateway"]);
    gateway
        .envs(env)
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = gateway.spawn().expect("gateway starts");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut lines = Vec::new();
    let started = Instant::now();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read") == 0 {
            panic!("the gateway ended early: {lines:?}");
        }
        let done = line.contains("results go to this log");
        lines.push(line);
        if done {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{lines:?}");
    }
    // The signal handler is installed just after that line is written.
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    for line in stderr.lines() {
        lines.push(line.expect("read"));
    }
    assert!(child.wait().expect("wait").success(), "{lines:?}");
    assert!(
        lines.iter().any(|l| l.contains("clambot gateway: stopped")),
        "{lines:?}"
    );
    for line in &lines {
        let (stamp, rest) = line.split_once(' ').unwrap_or_default();
        let time =
            chrono::DateTime::parse_from_rfc3339(stamp).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(time.offset().local_minus_utc(), 0, "UTC: {line}");
        assert!(stamp.ends_with('Z'), "{line}");
        assert!(rest.starts_with("clambot gateway"), "{line}");
    }
}

#[test]
fn limits_in_messages_read_in_human_units() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let old = dir.path().join("old.toml");
    let new = dir.path().join("new.toml");
    std::fs::write(
        &old,
        "version = 1\n[run]\ntimeout = \"30s\"\nmemory = \"64MiB\"\nmax-egress = \"1MiB\"\n",
    )
    .expect("old");
    std::fs::write(
        &new,
        "version = 1\n[run]\ntimeout = \"10m\"\nmemory = \"512MiB\"\nmax-egress = \"512KiB\"\n",
    )
    .expect("new");
    let out = clambot(
        &home,
        &[
            "policy",
            "diff",
            &old.display().to_string(),
            &new.display().to_string(),
        ],
    );
    let shown = text(&out.stdout) + &text(&out.stderr);
    assert!(shown.contains("timeout raised from 30s to 10m"), "{shown}");
    assert!(
        shown.contains("memory raised from 64.0 MiB to 512.0 MiB"),
        "{shown}"
    );
    assert!(
        shown.contains("max-egress lowered from 1.0 MiB to 512.0 KiB"),
        "{shown}"
    );
    for raw in ["600000", "536870912", "30000", "67108864"] {
        assert!(!shown.contains(raw), "a raw number {raw}: {shown}");
    }

    // A run's limits, when reached, are named in the same units.
    let file = dir.path().join("s.js");
    std::fs::write(&file, "while (true) {}").expect("script");
    let out = clambot(
        &home,
        &["run", &file.display().to_string(), "--timeout", "1500ms"],
    );
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("timed out after 1s 500ms"),
        "{}",
        text(&out.stderr)
    );
}
