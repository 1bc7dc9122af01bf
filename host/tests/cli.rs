//! The `clambot` binary as a user runs it: stdout, stderr and exit codes.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn clambot(home: &Path, args: &[&str]) -> Output {
    common::cli::run(home, &[], args)
}

fn script(dir: &Path, name: &str, source: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, source).expect("write script");
    path.display().to_string()
}

use common::cli::text;

#[test]
fn run_prints_the_result_on_stdout_and_console_on_stderr() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = script(
        dir.path(),
        "s.js",
        "console.log('to stderr'); return { doubled: args.n * 2 }",
    );
    let out = clambot(
        &dir.path().join("home"),
        &["run", &file, "--args", r#"{"n": 21}"#],
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "{\"doubled\":42}\n");
    // Script lines are marked, so none can pass for one of clambot's.
    assert_eq!(text(&out.stderr), "| to stderr\n");
}

#[test]
fn each_failure_has_its_exit_code_and_a_one_line_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let cases: &[(&str, &[&str], i32, &str)] = &[
        (
            "throw new Error('bad')",
            &[],
            1,
            "uncaught at 1:11: Error: bad",
        ),
        ("let = ;", &[], 1, "syntax error at 1:7: SyntaxError"),
        ("await fs.readText('x')", &[], 3, "(rule: default-deny)"),
        (
            "while (true) {}",
            &["--timeout", "200ms"],
            4,
            "timed out after 200ms",
        ),
        (
            "const a = []; while (true) a.push(new Array(1e5).fill(0))",
            &["--memory", "16MiB"],
            5,
            "out of memory (limit 16.0 MiB)",
        ),
        (
            "while (true) console.log('flood')",
            &["--max-output", "1KiB"],
            6,
            "output limit of 1.0 KiB reached",
        ),
    ];
    for (source, flags, code, reason) in cases {
        let file = script(dir.path(), "s.js", source);
        let mut args = vec!["run", file.as_str()];
        args.extend_from_slice(flags);
        let out = clambot(&home, &args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{source}: {stderr}");
        assert!(out.stdout.is_empty(), "{source}: nothing on stdout");
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("clambot: ") && last.contains(reason),
            "{source}: last line {last:?}"
        );
    }
}

#[test]
fn bad_arguments_are_refused_before_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let file = script(dir.path(), "s.js", "return 1");
    let out = clambot(&home, &["run", &file, "--args", "{nope"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "bad usage, not clambot's failure"
    );
    assert!(text(&out.stderr).contains("--args is not valid JSON"));
    let out = clambot(&home, &["run", &file, "--timeout", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("is not a duration"));
    let out = clambot(
        &home,
        &["run", &dir.path().join("missing.js").display().to_string()],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "not found, not clambot's failure"
    );
    assert!(text(&out.stderr).contains("missing.js"));
}

#[test]
fn help_describes_every_command_flag_and_exit_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let top = text(&clambot(&home, &["--help"]).stdout);
    assert!(top.contains("run") && top.contains("CLAMBOT_HOME"), "{top}");
    let run = text(&clambot(&home, &["run", "--help"]).stdout);
    for needle in [
        "--args",
        "--timeout",
        "--memory",
        "--max-output",
        "--policy",
        "Exit codes",
        "  3   ",
    ] {
        assert!(
            run.contains(needle),
            "`clambot run --help` lacks {needle}:\n{run}"
        );
    }
}

#[test]
fn example_clams_run_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let clams = common::repo_root().join("clams");
    let hello = clams.join("hello/clam.js").display().to_string();
    let out = clambot(&home, &["run", &hello, "--args", r#"{"name":"Ada"}"#]);
    assert_eq!(text(&out.stdout), "{\"greeting\":\"Hello, Ada!\"}\n");
    let stats = clams.join("word-stats/clam.js").display().to_string();
    let out = clambot(
        &home,
        &["run", &stats, "--args", r#"{"text":"a b a","top":1}"#],
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        value["frequent"],
        serde_json::json!([{ "word": "a", "count": 2 }])
    );
    let price = clams.join("btc-price/clam.js").display().to_string();
    let out = clambot(&home, &["run", &price]);
    assert_eq!(out.status.code(), Some(3), "denied without a policy");
    // The concurrent one reports each coin's denial instead of dying of the first.
    let prices = clams.join("crypto-prices/clam.js").display().to_string();
    let out = clambot(
        &home,
        &["run", &prices, "--args", r#"{"coins":["btc","eth"]}"#],
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(value[0]["coin"], "BTC", "{value}");
    assert_eq!(value[1]["coin"], "ETH", "{value}");
    assert!(
        value[1]["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("denied"),
        "{value}"
    );
}

#[test]
fn every_clam_has_a_script_and_metadata() {
    let clams = common::repo_root().join("clams");
    let mut count = 0;
    for entry in std::fs::read_dir(&clams).expect("clams/") {
        let dir = entry.expect("entry").path();
        let meta: toml::Table =
            toml::from_str(&std::fs::read_to_string(dir.join("clam.toml")).expect("clam.toml"))
                .expect("clam.toml parses");
        assert_eq!(
            meta["name"].as_str(),
            dir.file_name().and_then(|n| n.to_str())
        );
        assert!(dir.join("clam.js").is_file());
        count += 1;
    }
    assert!(count >= 3);
}

#[test]
fn grants_are_listed_and_revoked_from_the_command_line() {
    use clambot::gate::grants::Grants;
    use clambot::policy::{Call, Decision, Policy, Usage};

    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let policy = Policy::parse("p.toml", "version = 1\n[[ask]]\ncall = \"fs.write-text\"\n")
        .expect("policy");
    let args = serde_json::json!({ "path": "notes/today.md", "content": "x" });
    let call = Call {
        interface: "fs",
        function: "write-text",
        args: &args,
    };
    let Decision::Ask { rule, scope } = policy.decide(&call, &mut Usage::default()) else {
        panic!("the ask rule matches")
    };
    let store = clambot::store::Store::open(&home.join("data/clambot.db")).expect("database");
    let grants = Grants::open(std::sync::Arc::new(store));
    let grant = grants.grant_always(&scope, &rule).expect("stored");

    let out = clambot(&home, &["grants", "list"]);
    let listed = text(&out.stdout);
    assert!(
        listed.contains(&grant.id) && listed.contains("fs.write-text notes/today.md"),
        "{listed}"
    );

    let out = clambot(&home, &["grants", "revoke", "zzzz"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a malformed id is a usage error"
    );
    let out = clambot(&home, &["grants", "revoke", "abcd1234"]);
    assert_eq!(out.status.code(), Some(1), "an unknown id is not found");
    let out = clambot(&home, &["grants", "revoke", &grant.id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&clambot(&home, &["grants", "list"]).stdout).starts_with("no grants"));
}

#[test]
fn run_with_a_policy_allows_what_it_lists_and_refuses_a_broken_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "version = 1\n[[allow]]\ncall = \"log.write\"\n").expect("policy");
    let file = script(
        dir.path(),
        "s.js",
        "await log.write('info', 'hello'); return 1",
    );
    let out = clambot(
        &home,
        &[
            "run",
            &file,
            "--policy",
            &policy.display().to_string(),
            "--non-interactive",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "| [log:info] hello\n");
    let audit =
        std::fs::read_to_string(home.join("data/audit/audit.jsonl")).expect("audit log written");
    assert!(
        audit.contains("\"function\":\"log.write\"") && audit.contains("\"decision\":\"allow\""),
        "{audit}"
    );

    std::fs::write(&policy, "version = 1\n[[allow]]\ncall = \"log.wirte\"\n").expect("policy");
    let out = clambot(
        &home,
        &["run", &file, "--policy", &policy.display().to_string()],
    );
    assert_eq!(out.status.code(), Some(7));
    assert!(
        text(&out.stderr).contains("policy.toml:3:8: `log` has no function `wirte`"),
        "{}",
        text(&out.stderr)
    );
}

fn clambot_with(home: &Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    use std::io::Write;
    let cache = common::cache_dir();
    std::fs::create_dir_all(home).expect("home");
    let _ = std::os::unix::fs::symlink(&cache, home.join("cache"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_clambot"))
        .args(args)
        .env("CLAMBOT_HOME", home)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("clambot runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("clambot finishes")
}

#[test]
fn secrets_are_set_from_stdin_listed_by_name_and_used_by_the_http_tool() {
    use common::http_server::{Reply, Server};
    const CANARY: &str = "tok-canary-31415926";
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let out = clambot_with(
        &home,
        &["secrets", "set", "api_token"],
        &[],
        &format!("{CANARY}\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(CANARY));
    let out = clambot(&home, &["secrets", "list"]);
    assert_eq!(text(&out.stdout), "api_token\n");
    let out = clambot_with(&home, &["secrets", "set", "bad name"], &[], "x\n");
    assert_ne!(out.status.code(), Some(0));

    // A proxy in the environment is ignored: the request goes straight to the server.
    let proxy = Server::start("127.0.0.1", 0, |_| {
        Reply::text(200, "text/plain", "proxied")
    });
    let server = Server::start("127.0.0.1", 0, |seen| {
        Reply::text(
            200,
            "text/plain",
            format!("auth={}", seen.header("authorization").unwrap_or("")),
        )
    });
    let policy = script(
        dir.path(),
        "policy.toml",
        &format!(
            "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://127.0.0.1:{}/**\"]\nsecrets = [\"api_token\"]\n[net]\nallow-private = [\"{}\"]\n",
            server.port(),
            server.addr
        ),
    );
    let file = script(
        dir.path(),
        "fetch.js",
        &format!(
            "const r = await http.fetch({{ method: 'GET', url: 'http://127.0.0.1:{}/x', headers: [], body: null, bearerSecret: 'api_token' }}); return r.body",
            server.port()
        ),
    );
    let proxy_url = format!("http://{}", proxy.addr);
    let out = clambot_with(
        &home,
        &["run", &file, "--policy", &policy],
        &[
            ("HTTP_PROXY", &proxy_url),
            ("http_proxy", &proxy_url),
            ("ALL_PROXY", &proxy_url),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "\"auth=Bearer [REDACTED]\"\n");
    assert_eq!(proxy.connections(), 0, "the proxy variables were ignored");
    assert_eq!(server.connections(), 1);
    let audit = std::fs::read_to_string(home.join("data/audit/audit.jsonl")).expect("audit");
    assert!(
        audit.contains("\"http.fetch\"") && !audit.contains(CANARY),
        "{audit}"
    );
}

#[test]
fn memory_export_writes_markdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let policy = script(
        dir.path(),
        "policy.toml",
        "version = 1\n[[allow]]\ncall = \"memory.remember\"\n",
    );
    let file = script(
        dir.path(),
        "m.js",
        "return await memory.remember('The user prefers tea')",
    );
    let out = clambot(&home, &["run", &file, "--policy", &policy]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = clambot(&home, &["memory", "export"]);
    let markdown = text(&out.stdout);
    assert!(
        markdown.starts_with("# What clambot remembers")
            && markdown.contains("- The user prefers tea"),
        "{markdown}"
    );
}
