//! What a script's run leaves on the host's terminal and in its exit code: text
//! only (every control, bidi and invisible character escaped, every script line
//! marked), bounded by the run's `max-output`, and an exit code that tells whose
//! failure it was. Also: a tool component's `timeout` is wall-clock, host calls
//! included, and parallel first runs on a fresh home never race the migration.
//!
//! Process-level where the behaviour is the CLI's (the real `clambot` binary,
//! real pipes); the escaper itself by table and property tests.

mod common;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clambot::gate::approver::{ApprovalRequest, NonInteractive, PROMPT_ARGS_MAX, prompt_text};
use clambot::gate::grants::Grants;
use clambot::gate::redact::Redactor;
use clambot::gate::{GateSetup, Implementations};
use clambot::net::Resolver;
use clambot::policy::Policy;
use clambot::sandbox::output::{Console, Stream};
use clambot::sandbox::{RunError, RunLimits, RunRequest};
use clambot::secrets::SecretStore;
use clambot::store::Store;
use clambot::terminal::{self, Newlines, SCRIPT_PREFIX};
use clambot::tools::http::{Http, HttpLimits};
use common::http_server::{Reply, Server};
use common::world::TableResolver;
use proptest::prelude::*;
use serde_json::{Value as Json, json};

// ---------------------------------------------------------------------------
// The escaper

/// Every character class a terminal acts on, with how each is shown.
const UNSAFE: &[(char, &str, &str)] = &[
    ('\u{0}', "\\x00", "NUL"),
    ('\u{7}', "\\x07", "BEL (ends an OSC)"),
    ('\u{8}', "\\x08", "BS"),
    ('\u{b}', "\\x0b", "VT"),
    ('\u{c}', "\\x0c", "FF"),
    ('\r', "\\r", "CR"),
    ('\u{1b}', "\\x1b", "ESC"),
    ('\u{7f}', "\\x7f", "DEL"),
    ('\u{85}', "\\x85", "NEL"),
    ('\u{90}', "\\x90", "DCS"),
    ('\u{9b}', "\\x9b", "CSI (C1)"),
    ('\u{9d}', "\\x9d", "OSC (C1)"),
    ('\u{9f}', "\\x9f", "APC"),
    ('\u{ad}', "\\xad", "soft hyphen"),
    ('\u{61c}', "\\u{61c}", "arabic letter mark"),
    ('\u{180e}', "\\u{180e}", "mongolian vowel separator"),
    ('\u{200b}', "\\u{200b}", "zero-width space"),
    ('\u{200c}', "\\u{200c}", "ZWNJ"),
    ('\u{200d}', "\\u{200d}", "ZWJ"),
    ('\u{200e}', "\\u{200e}", "LRM"),
    ('\u{200f}', "\\u{200f}", "RLM"),
    ('\u{2028}', "\\u{2028}", "line separator"),
    ('\u{2029}', "\\u{2029}", "paragraph separator"),
    ('\u{202a}', "\\u{202a}", "LRE"),
    ('\u{202b}', "\\u{202b}", "RLE"),
    ('\u{202c}', "\\u{202c}", "PDF"),
    ('\u{202d}', "\\u{202d}", "LRO"),
    ('\u{202e}', "\\u{202e}", "RLO"),
    ('\u{2060}', "\\u{2060}", "word joiner"),
    ('\u{2061}', "\\u{2061}", "function application"),
    ('\u{2066}', "\\u{2066}", "LRI"),
    ('\u{2067}', "\\u{2067}", "RLI"),
    ('\u{2068}', "\\u{2068}", "FSI"),
    ('\u{2069}', "\\u{2069}", "PDI"),
    ('\u{3164}', "\\u{3164}", "hangul filler"),
    ('\u{feff}', "\\u{feff}", "BOM / ZWNBSP"),
    ('\u{fff9}', "\\u{fff9}", "interlinear annotation"),
    ('\u{e0001}', "\\u{e0001}", "language tag"),
    ('\u{e0041}', "\\u{e0041}", "tag latin A"),
];

#[test]
fn every_terminal_control_bidi_and_invisible_character_is_shown_escaped() {
    for (c, shown, what) in UNSAFE {
        assert!(terminal::is_unsafe(*c), "{what}");
        assert_eq!(
            terminal::inline(&format!("a{c}b")),
            format!("a{shown}b"),
            "{what}"
        );
        assert_eq!(
            terminal::escape(&format!("a{c}b"), Newlines::Keep),
            format!("a{shown}b"),
            "{what}"
        );
    }
    // The whole of C0 (but TAB and LF) and C1, every bidi control, by range.
    let ranges = [
        0x00..=0x08,
        0x0b..=0x1f,
        0x7f..=0x9f,
        0x202a..=0x202e,
        0x2066..=0x2069,
    ];
    for code in ranges.into_iter().flatten() {
        let c = char::from_u32(code).expect("a char");
        let shown = terminal::inline(&c.to_string());
        assert!(
            shown.starts_with('\\') && shown.is_ascii(),
            "U+{code:04X}: {shown:?}"
        );
    }
    assert_eq!(terminal::inline("a\nb"), "a\\nb");
    assert_eq!(terminal::escape("a\nb\tc", Newlines::Keep), "a\nb\tc");
}

#[test]
fn terminal_attacks_arrive_as_inert_text() {
    let attacks = [
        "\u{1b}]52;c;ZWNobyBwd25lZA==\u{7}", // OSC 52: write the clipboard
        "\u{1b}]0;sudo password:\u{1b}\\",   // retitle the window
        "\u{1b}[2K\u{1b}[1A\u{1b}[2Kclambot: ok", // erase lines, move up, repaint
        "progress 100%\rclambot: all calls allowed", // CR: overwrite the line
        "rm -rf /\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}ls", // BS: rub out
        "\u{9b}31mred via C1 CSI\u{9b}0m",
        "\u{1b}P+q\u{1b}\\",            // DCS (terminal query)
        "user@evil\u{202e}moc.elpmaxe", // RLO: reversed display
        "\u{2067}allow\u{2069} deny",   // isolates
        "pay\u{200b}pal.com",           // zero-width
        "\u{1b}[6n",                    // cursor position report (input injection)
    ];
    for attack in attacks {
        for shown in [terminal::inline(attack), terminal::script_lines(attack)] {
            assert!(
                shown.chars().all(|c| !terminal::is_unsafe(c)),
                "{attack:?} -> {shown:?}"
            );
            assert!(!shown.contains('\u{1b}') && !shown.contains('\r'));
        }
    }
}

fn arbitrary_text() -> impl Strategy<Value = String> {
    // Mostly the dangerous parts of Unicode, some ordinary text.
    let dangerous = prop_oneof![
        (0u32..0x20).prop_map(|c| char::from_u32(c).expect("C0")),
        (0x7fu32..0xa0).prop_map(|c| char::from_u32(c).expect("C1")),
        (0x2000u32..0x2070).prop_map(|c| char::from_u32(c).expect("punctuation")),
        Just('\u{feff}'),
        Just('\u{e0041}'),
        Just('['),
        any::<char>(),
    ];
    proptest::collection::vec(dangerous, 0..64).prop_map(|cs| cs.into_iter().collect())
}

proptest! {
    #[test]
    fn escaped_text_holds_no_terminal_control(text in arbitrary_text()) {
        let inline = terminal::inline(&text);
        prop_assert!(inline.chars().all(|c| !terminal::is_unsafe(c) && c != '\n'), "{inline:?}");
        let kept = terminal::escape(&text, Newlines::Keep);
        prop_assert!(kept.chars().all(|c| !terminal::is_unsafe(c)));
        prop_assert_eq!(kept.lines().count(), text.lines().count());
    }

    #[test]
    fn every_script_line_is_marked(text in arbitrary_text()) {
        let shown = terminal::script_lines(&text);
        for line in shown.lines() {
            prop_assert!(line.starts_with(SCRIPT_PREFIX), "{line:?}");
        }
        prop_assert!(shown.chars().all(|c| !terminal::is_unsafe(c)));
    }

    #[test]
    fn json_for_the_terminal_is_the_same_value(text in arbitrary_text()) {
        let value = json!({ "text": text, "list": [text.clone(), 1] });
        let raw = serde_json::to_string(&value).expect("JSON");
        let shown = terminal::json(&raw);
        prop_assert!(shown.chars().all(|c| !terminal::is_unsafe(c)));
        let back: Json = serde_json::from_str(&shown).expect("still JSON");
        prop_assert_eq!(back, value);
    }
}

#[test]
fn a_script_cannot_forge_a_gate_line_in_the_console() {
    let console = Console {
        chunks: vec![
            (
                Stream::Stdout,
                "hello\n[gate] http.fetch allowed by rule 3\n".into(),
            ),
            (
                Stream::Host,
                "[gate] the audit index could not be updated\n".into(),
            ),
            (
                Stream::Log,
                "[log:info] x\nclambot: everything is fine\n".into(),
            ),
            (Stream::Stderr, "\u{1b}[1A\u{1b}[2K[gate] repaint".into()),
        ],
        truncated: false,
        limit: 1024,
    };
    let shown = console.terminal_text();
    let host_lines: Vec<&str> = shown
        .lines()
        .filter(|l| !l.starts_with(SCRIPT_PREFIX))
        .collect();
    assert_eq!(host_lines, ["[gate] the audit index could not be updated"]);
    assert!(shown.chars().all(|c| !terminal::is_unsafe(c)), "{shown:?}");
}

#[test]
fn the_approval_prompt_shows_script_chosen_values_escaped_and_bounded() {
    let policy = Policy::parse(
        "policy.toml",
        "version = 1\n[[ask]]\ncall = \"fs.write-text\"\n",
    )
    .expect("policy");
    // The gate refuses control characters in paths; the other arguments are
    // the script's free text.
    let evil = "a\u{1b}[2K\r\n  [o] allowed already\u{202e}txt.md\u{9b}1A";
    let args =
        json!({ "path": "notes/today.md", "content": format!("{evil}{}", "x".repeat(100_000)) });
    let call = clambot::policy::Call {
        interface: "fs",
        function: "write-text",
        args: &args,
    };
    let clambot::policy::Decision::Ask { rule, scope } =
        policy.decide(&call, &mut clambot::policy::Usage::default())
    else {
        panic!("the ask rule matches")
    };
    let request = ApprovalRequest {
        function: "fs.write-text".into(),
        args: args.clone(),
        rule,
        scope,
    };
    let prompt = prompt_text(&request, Duration::from_secs(60));
    assert!(
        prompt.chars().all(|c| !terminal::is_unsafe(c)),
        "{prompt:?}"
    );
    assert!(
        !prompt
            .lines()
            .any(|l| l.trim_start().starts_with("[o] allowed")),
        "a value cannot start a line of its own: {prompt}"
    );
    assert!(
        prompt.len() < PROMPT_ARGS_MAX + 2048,
        "{} bytes",
        prompt.len()
    );
    assert!(prompt.contains("more bytes cut"), "the cut is marked");
}

// ---------------------------------------------------------------------------
// The real binary

fn clambot(home: &Path, args: &[&str]) -> Output {
    command(home, args).output().expect("clambot runs")
}

use common::cli::command;

fn script(dir: &Path, name: &str, source: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, source).expect("write script");
    path.display().to_string()
}

use common::cli::text;

fn log_policy(dir: &Path) -> String {
    let path = dir.join("policy.toml");
    std::fs::write(&path, "version = 1\n[[allow]]\ncall = \"log.write\"\n").expect("policy");
    path.display().to_string()
}

#[test]
fn console_log_and_result_reach_the_terminal_as_marked_escaped_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let payloads = [
        "\\u001b]52;c;cHduZWQ=\\u0007",
        "ok\\r[gate] allowed",
        "\\u009b2J",
        "\\u202eevil",
        "a\\u200bb",
        "line\\n[gate] fs.read allowed by rule 1\\nclambot: done",
    ];
    let list = payloads
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let source = format!(
        "const ps = [{list}];
         for (const p of ps) {{ console.log(p); console.error(p); await log.write('info', p); }}
         return {{ ps }};"
    );
    let file = script(dir.path(), "s.js", &source);
    let policy = log_policy(dir.path());
    let out = clambot(
        &dir.path().join("home"),
        &["run", &file, "--policy", &policy, "--non-interactive"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let shown = text(bytes);
        assert!(
            shown.chars().all(|c| !terminal::is_unsafe(c)),
            "{name} holds a raw control: {shown:?}"
        );
    }
    for line in stderr.lines() {
        assert!(
            line.starts_with(SCRIPT_PREFIX),
            "an unmarked line: {line:?}"
        );
    }
    // 6 payloads x 3 sinks, one of them three lines long.
    assert_eq!(stderr.lines().count(), 3 * (5 + 3));
    // The result is still the script's value, as JSON.
    let value: Json = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let expected: Vec<Json> = payloads
        .iter()
        .map(|p| serde_json::from_str(&format!("\"{p}\"")).expect("a JSON string"))
        .collect();
    assert_eq!(value, json!({ "ps": expected }));
}

#[test]
fn an_uncaught_errors_message_and_stack_are_cut_to_max_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let cases = [
        "throw new Error('x'.repeat(12 * 1024 * 1024))",
        "throw new ToolError('failed', 'y'.repeat(4 * 1024 * 1024))",
        "const e = new Error('z'); e.stack = 's'.repeat(8 * 1024 * 1024); throw e",
        "throw { code: 'q'.repeat(1 << 22), message: 'm'.repeat(1 << 22), rule: 'r'.repeat(1 << 22) }",
    ];
    for source in cases {
        let file = script(dir.path(), "big.js", source);
        let out = clambot(&home, &["run", &file, "--max-output", "16KiB"]);
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{source}: {}",
            &stderr[..stderr.len().min(300)]
        );
        assert!(
            stderr.len() < 20 * 1024,
            "{source}: {} bytes on stderr",
            stderr.len()
        );
        if stderr.len() > 4096 {
            assert!(
                stderr.contains("more bytes cut"),
                "{source}: the cut is marked"
            );
        }
    }

    // In the library: message and stack together within the limit.
    let mut request = RunRequest::new(
        "const e = new Error('m'.repeat(3000)); e.stack = 's'.repeat(1 << 20); throw e",
    );
    request.limits = RunLimits {
        max_output: 4096,
        ..RunLimits::default()
    };
    let outcome = common::run(&request);
    let Err(RunError::Script(failure)) = outcome.result else {
        panic!("a script error: {:?}", outcome.result)
    };
    let stack = failure.stack.clone().unwrap_or_default();
    assert!(failure.message.len() <= 4096, "{}", failure.message.len());
    assert!(
        failure.message.len() + stack.len() < 4096 + 200,
        "{} + {}",
        failure.message.len(),
        stack.len()
    );
}

#[test]
fn exit_codes_say_whose_failure_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    // (script, flags, acceptable codes)
    let cases: &[(&str, &[&str], &[i32])] = &[
        ("new Array(2**31).fill(0)", &["--memory", "32MiB"], &[1, 5]),
        (
            "const a = new Array(2**32 - 1); a.fill(1); return a.length",
            &["--memory", "32MiB"],
            &[1, 5],
        ),
        ("return 'x'.repeat(2**30).length", &[], &[1, 5]),
        ("return new ArrayBuffer(2**31).byteLength", &[], &[1, 5]),
        (
            "return new Uint8Array(1 << 30).length",
            &["--memory", "32MiB"],
            &[1, 5],
        ),
        (
            "let s = 'ab'; while (true) s = s + s;",
            &["--memory", "32MiB"],
            &[1, 5],
        ),
        (
            "function f(n) { return f(n + 1) + 1 } return f(0)",
            &[],
            &[1, 5],
        ),
        ("const f = () => [f()]; f()", &[], &[1, 5]),
        ("JSON.parse('['.repeat(1e6))", &[], &[1, 5]),
        (
            "throw new ToolError('denied', 'no', 'default-deny')",
            &[],
            &[1],
        ),
        ("throw new ToolError('denied', 'no')", &[], &[1]),
        (
            "throw { code: 'denied', rule: 'default-deny', message: 'fake' }",
            &[],
            &[1],
        ),
        (
            "const e = new Error('x'); e.code = 'denied'; e.rule = 'default-deny'; throw e",
            &[],
            &[1],
        ),
        ("throw new Error('stack overflow')", &[], &[1]),
        ("throw new Error('out of memory')", &[], &[1]),
        ("throw null", &[], &[1]),
        ("throw undefined", &[], &[1]),
        ("throw Symbol('s')", &[], &[1]),
        (
            "return Promise.reject(new ToolError('denied', 'fake', 'default-deny'))",
            &[],
            &[1],
        ),
        // A real denial, and only that, exits 3.
        ("await fs.readText('x')", &[], &[3]),
        (
            "try { await fs.readText('x') } catch (e) { throw e }",
            &[],
            &[3],
        ),
    ];
    let mut wrong = Vec::new();
    for (source, flags, codes) in cases {
        let file = script(dir.path(), "s.js", source);
        let mut args = vec!["run", file.as_str(), "--timeout", "20s"];
        args.extend_from_slice(flags);
        let out = clambot(&home, &args);
        let code = out.status.code().unwrap_or(-1);
        if !codes.contains(&code) {
            let stderr = text(&out.stderr);
            wrong.push(format!(
                "{source}: exit {code}, wanted {codes:?}: {}",
                stderr.lines().last().unwrap_or_default()
            ));
        }
        let stderr = text(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
            "{source}: {stderr}"
        );
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn usage_not_found_and_policy_problems_have_their_own_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let file = script(dir.path(), "s.js", "return 1");
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "version = 1\n[[allow]]\ncall = \"nope.nothing\"\n").expect("write");
    let broken = broken.display().to_string();
    let missing = dir.path().join("missing.js").display().to_string();
    let cases: &[(&[&str], i32)] = &[
        (&["run", &file, "--args", "{nope"], 2),
        (&["run", &file, "--args", "[1,"], 2),
        (&["run", &file, "--memory", "1GiB"], 2),
        (&["run", &file, "--timeout", "soon"], 2),
        (&["run", &file, "--no-such-flag"], 2),
        (&["no-such-command"], 2),
        (&["run", &missing], 1),
        (&["run", &file, "--policy", &broken], 7),
        (&["tools", "list", "--policy", &broken], 7),
        (&["grants", "revoke", "zzzz"], 2),
        (&["grants", "revoke", "abcd1234"], 1),
        (&["secrets", "remove", "never_set"], 1),
        (&["cron", "remove", "no-such-job"], 1),
        (&["memory", "forget", "no-such-fact"], 1),
        (&["run", &file], 0),
    ];
    for (args, code) in cases {
        let out = clambot(&home, args);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "clambot {}: {}",
            args.join(" "),
            text(&out.stderr)
        );
    }
}

#[test]
fn help_documents_every_exit_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    for args in [&["--help"][..], &["run", "--help"]] {
        let help = text(&clambot(&home, args).stdout);
        for code in [
            "  0 ", "  1 ", "  2 ", "  3 ", "  4 ", "  5 ", "  6 ", "  7 ", "  10 ",
        ] {
            assert!(
                help.contains(code),
                "clambot {}: no {code:?}\n{help}",
                args.join(" ")
            );
        }
    }
}

/// Runs `clambot args` with its stdout a pipe whose reading end is already
/// closed, as `clambot … | head -c0` would leave it.
fn with_closed_stdout(home: &Path, args: &[&str]) -> (std::process::ExitStatus, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut child = command(home, args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("clambot runs");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    (child.wait().expect("clambot ends"), stderr)
}

#[test]
fn a_closed_output_pipe_ends_a_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let file = script(dir.path(), "s.js", "return 'x'.repeat(100000)");
    for args in [
        &["status"][..],
        &["run", &file],
        &["--help"],
        &["policy", "explain", "/nonexistent/policy.toml"],
        &["grants", "list"],
    ] {
        let (status, stderr) = with_closed_stdout(&home, args);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "clambot {}: {stderr}",
            args.join(" ")
        );
        assert!(
            status.signal() == Some(13) || status.code().is_some_and(|c| c != 101),
            "clambot {}: {status:?}",
            args.join(" ")
        );
    }
    // And through a real `head`, as a person types it.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' status | head -1; '{}' run '{file}' | head -c1",
            env!("CARGO_BIN_EXE_clambot"),
            env!("CARGO_BIN_EXE_clambot"),
        ))
        .env("CLAMBOT_HOME", &home)
        .output()
        .expect("sh runs");
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn parallel_first_runs_on_a_fresh_home_all_succeed() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Warm the shared precompiled guest first: the race under test is the
    // database's creation and migration, not twenty Cranelift compiles.
    let file = script(
        dir.path(),
        "s.js",
        "await log.write('info', 'hi'); return 1",
    );
    let policy = log_policy(dir.path());
    let warm = clambot(
        &dir.path().join("warm"),
        &["run", &file, "--policy", &policy, "--non-interactive"],
    );
    assert!(warm.status.success(), "{}", text(&warm.stderr));

    let home = dir.path().join("fresh");
    std::fs::create_dir_all(&home).expect("home");
    let children: Vec<_> = (0..20)
        .map(|_| {
            command(
                &home,
                &["run", &file, "--policy", &policy, "--non-interactive"],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("clambot runs")
        })
        .collect();
    let failures: Vec<String> = children
        .into_iter()
        .map(|child| child.wait_with_output().expect("clambot ends"))
        .filter(|out| !out.status.success())
        .map(|out| format!("{:?}: {}", out.status.code(), text(&out.stderr)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of 20 failed: {failures:#?}",
        failures.len()
    );
    let store = Store::open(&home.join("data/clambot.db")).expect("the database");
    assert!(store.schema_version().expect("version") > 0);
}

// ---------------------------------------------------------------------------
// A tool component's timeout

fn textkit_component() -> PathBuf {
    common::repo_root().join("tools/textkit/textkit.wasm")
}

#[test]
fn a_tools_timeout_is_wall_clock_and_includes_its_own_host_calls() {
    let state = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(&state.path().join("data/clambot.db")).expect("database"));
    let secrets = Arc::new(SecretStore::open(&state.path().join("data/secrets.json")));
    let resolver = TableResolver::new();
    let http = Http::with(
        Arc::clone(&resolver) as Arc<dyn Resolver>,
        HttpLimits::default(),
        Arc::clone(&secrets),
    );
    let host: Implementations =
        clambot::tools::standard(&state.path().join("workspace"), &store, &secrets, http)
            .expect("host tools");
    let tools = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(tools.path().join("textkit")).expect("mkdir");
    let bytes = std::fs::read(textkit_component()).expect("the committed component");
    std::fs::write(tools.path().join("textkit/textkit.wasm"), &bytes).expect("write");

    // A server that accepts, reads the request and never answers.
    let server = Server::start("127.0.0.1", 0, |_| Reply::Hang);
    resolver.answer("slow.example", &["127.0.0.1"]);
    let policy_text = format!(
        "version = 1\n[run]\ntimeout = \"30s\"\n\
         [tools.textkit]\nsha256 = \"{}\"\nimports = [\"http\"]\ntimeout = \"1s\"\n\
         [[allow]]\ncall = \"tools.textkit.page-title\"\n\
         [[allow]]\ncall = \"http.fetch\"\ncaller = \"tools.textkit\"\nurl = [\"http://slow.example:*/**\"]\n\
         [net]\nallow-private = [\"{}\"]\n",
        clambot::sha256_hex(&bytes),
        server.addr
    );
    let policy = Policy::parse("policy.toml", &policy_text).expect("the policy parses");
    let toolbox = clambot::components::Toolbox::load(
        &policy,
        &[tools.path().to_path_buf()],
        &host,
        Some(&common::cache_dir()),
    )
    .expect("toolbox");
    let mut implementations = host.clone();
    toolbox.register(&mut implementations);
    let sandbox = common::sandbox_with(implementations, 2);
    let mut request = RunRequest::new(format!(
        r#"const started = Date.now();
           try {{ await tools.textkit.pageTitle("http://slow.example:{}/"); return {{ ok: true }}; }}
           catch (e) {{ return {{ code: e.code, message: e.message, ms: Date.now() - started }}; }}"#,
        server.port()
    ));
    request.gate = GateSetup {
        policy: Arc::new(policy),
        grants: Arc::new(Grants::open(Arc::clone(&store))),
        approver: Arc::new(NonInteractive),
        audit: None,
        redactor: Arc::new(Redactor::default()),
    };
    let started = Instant::now();
    let outcome = common::runtime().block_on(sandbox.run(&request));
    let elapsed = started.elapsed();
    let value: Json =
        serde_json::from_str(outcome.result.as_ref().expect("the script returns")).expect("JSON");
    assert!(
        server.connections() >= 1,
        "the tool's request reached the server"
    );
    assert_ne!(value.get("ok"), Some(&json!(true)), "{value}");
    assert!(
        matches!(value["code"].as_str(), Some("limit" | "failed")),
        "{value}"
    );
    // One second of tool time, plus instantiation and slack for a loaded machine;
    // far from the run's 30 s or the fetch's own 30 s first-byte limit.
    assert!(
        elapsed < Duration::from_secs(6),
        "the run took {elapsed:?}: {value}"
    );
    assert!(
        elapsed >= Duration::from_millis(900),
        "{elapsed:?}: {value}"
    );
}
