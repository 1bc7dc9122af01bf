//! Containment of the fs tool and the workspace, attacked the way a hostile
//! script (or a hostile file in the workspace) would: special files and swaps
//! between check and open, links, devices, Unicode spellings, invisible
//! characters, long names, edits that blow up, caps at their edges, and a
//! workspace that overlaps clambot's own home. Real guest, real gate, temp dirs.

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clambot::sandbox::RunRequest;
use common::world::World;
use serde_json::Value;

const MIB: usize = 1024 * 1024;

/// The 16 MiB byte paths cost the host ~120 bytes per byte while bytes cross the
/// gate as JSON (about 2 GiB at the cap), and take seconds in a debug build: one
/// at a time, with room on the clock.
static BIG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run_long(world: &World, source: &str) -> Value {
    let _one = BIG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut request = RunRequest::new(source);
    request.limits.timeout = Duration::from_secs(180);
    request.gate = world.gate(POLICY);
    let started = Instant::now();
    let outcome = common::runtime().block_on(world.sandbox.run(&request));
    eprintln!("a 16 MiB run: {:?}", started.elapsed());
    let text = outcome
        .result
        .unwrap_or_else(|e| panic!("the run failed: {e}\n{}", outcome.console.text()));
    serde_json::from_str(&text).expect("json")
}

const POLICY: &str = r#"version = 1
[[allow]]
call = "fs.*"
path = ["**"]
[[deny]]
call = "fs.*"
path = ["secrets/**", "café/**"]
"#;

/// Calls `fs.<function>(args…)` and returns `{ok}` or `{code, rule}`.
fn call(world: &World, function: &str, args: &str) -> Value {
    world.ok(
        POLICY,
        &format!(
            "try {{ return {{ ok: await fs.{function}({args}) ?? null }} }} catch (e) {{ return {{ code: e.code, rule: e.rule ?? null, message: e.message }} }}"
        ),
    )
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Every path under `dir` (directories too), to prove nothing was left behind.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        out.push(path.display().to_string());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(tree(&path));
        }
    }
    out.sort();
    out
}

#[test]
fn special_files_fail_fast_with_invalid_and_never_block() {
    let world = World::new();
    let ws = &world.workspace;
    std::fs::create_dir_all(ws).expect("workspace");
    mkfifo(&ws.join("pipe"));
    mkfifo(&ws.join("HEARTBEAT.md"));
    let _socket = std::os::unix::net::UnixListener::bind(ws.join("sock")).expect("socket");
    // A character device, where the test may make one (root): /dev/null's numbers.
    let device = Command::new("mknod")
        .arg(ws.join("null"))
        .args(["c", "1", "3"])
        .status()
        .is_ok_and(|s| s.success());
    let mut names = vec!["pipe", "HEARTBEAT.md", "sock"];
    if device {
        names.push("null");
    }
    let started = Instant::now();
    for name in names {
        for (function, args) in [
            ("readText", format!("'{name}'")),
            ("readBytes", format!("'{name}'")),
            ("appendText", format!("'{name}', 'x'")),
            ("edit", format!("'{name}', 'a', 'b'")),
            ("writeText", format!("'{name}', 'x'")),
            ("writeBytes", format!("'{name}', new Uint8Array([1])")),
        ] {
            let out = call(&world, function, &args);
            assert_eq!(out["code"], "invalid", "fs.{function}({args}): {out}");
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "special files answered at once ({:?})",
        started.elapsed()
    );
    // The FIFO is still a FIFO: nothing was written through it or over it.
    use std::os::unix::fs::FileTypeExt as _;
    assert!(
        std::fs::symlink_metadata(ws.join("pipe"))
            .expect("pipe")
            .file_type()
            .is_fifo()
    );
}

#[test]
fn a_file_swapped_for_a_fifo_between_check_and_open_never_hangs_a_run() {
    let world = World::new();
    let ws = world.workspace.clone();
    std::fs::create_dir_all(&ws).expect("workspace");
    std::fs::write(ws.join("swap"), "regular").expect("file");
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let (ws, stop) = (ws.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut swaps = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::remove_file(ws.join("swap"));
                // The script's append may have made the file again meanwhile.
                let _ = Command::new("mkfifo").arg(ws.join("swap")).status();
                std::thread::yield_now();
                let _ = std::fs::write(ws.join("swap.new"), "regular");
                let _ = std::fs::rename(ws.join("swap.new"), ws.join("swap"));
                swaps += 1;
            }
            swaps
        })
    };
    let mut request = RunRequest::new(
        r#"
        const seen = new Set();
        for (let i = 0; i < 300; i++) {
            try { seen.add(await fs.readText('swap')) } catch (e) { seen.add(e.code) }
            try { await fs.appendText('swap', ''); seen.add('appended') } catch (e) { seen.add(e.code) }
        }
        return [...seen].sort();
        "#,
    );
    request.limits.timeout = Duration::from_secs(20);
    request.gate = world.gate(POLICY);
    let started = Instant::now();
    let outcome = common::runtime().block_on(world.sandbox.run(&request));
    stop.store(true, Ordering::Relaxed);
    let swaps = racer.join().expect("racer");
    let result = outcome
        .result
        .unwrap_or_else(|e| panic!("the run failed: {e}\n{}", outcome.console.text()));
    let out: Value = serde_json::from_str(&result).expect("json");
    eprintln!("{swaps} swaps; outcomes {out}; {:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "no read blocked"
    );
    for seen in out.as_array().expect("array") {
        assert!(
            ["regular", "appended", "invalid", "not-found", ""]
                .contains(&seen.as_str().unwrap_or("?"))
                || seen.as_str().is_some_and(|s| s.starts_with("regular")),
            "unexpected outcome {seen}"
        );
    }
}

#[test]
fn links_and_devices_are_refused_as_the_boundary() {
    let world = World::new();
    let ws = &world.workspace;
    std::fs::create_dir_all(ws.join("notes")).expect("notes");
    let outside = world.dir.path().join("outside.txt");
    std::fs::write(&outside, "outside").expect("outside");
    symlink("/dev/zero", ws.join("zero")).expect("zero");
    symlink("/dev/tty", ws.join("notes/tty")).expect("tty");
    symlink("/proc/self/environ", ws.join("environ")).expect("environ");
    symlink(world.dir.path(), ws.join("up")).expect("up");
    std::fs::hard_link(&outside, ws.join("linked.txt")).expect("hard link");
    for (function, args) in [
        ("readBytes", "'zero'"),
        ("readText", "'notes/tty'"),
        ("readText", "'environ'"),
        ("readText", "'up/outside.txt'"),
        ("readBytes", "'up/data/secrets.json'"),
        ("appendText", "'zero', 'x'"),
        ("writeText", "'up/planted.txt', 'x'"),
        ("edit", "'linked.txt', 'out', 'in'"),
        ("readText", "'linked.txt'"),
        ("appendText", "'linked.txt', 'x'"),
    ] {
        let out = call(&world, function, args);
        assert_eq!(out["code"], "denied", "fs.{function}({args}): {out}");
        assert_eq!(
            out["rule"], "workspace-boundary",
            "fs.{function}({args}): {out}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&outside).expect("outside"),
        "outside"
    );
    assert!(!world.dir.path().join("planted.txt").exists());
}

#[test]
fn nfd_spellings_meet_nfc_deny_rules_and_open_the_nfc_name() {
    let world = World::new();
    let nfc = "caf\u{e9}";
    let nfd = "cafe\u{301}";
    // Both spellings (and other case spellings) of the denied directory are denied.
    for dir in [nfc, nfd, "CAF\u{c9}", "CAFE\u{301}"] {
        for (function, extra) in [("writeText", ", 'x'"), ("readText", ""), ("list", "")] {
            let out = call(&world, function, &format!("'{dir}/secret.txt'{extra}"));
            assert_eq!(out["code"], "denied", "fs.{function}({dir:?}): {out}");
        }
    }
    assert!(!world.workspace.join(nfc).exists() && !world.workspace.join(nfd).exists());
    // Elsewhere, an NFD name is written and read under its NFC spelling.
    let out = call(&world, "writeText", "'notes/re\u{301}sume\u{301}.md', 'cv'");
    assert_eq!(out["ok"], Value::Null, "{out}");
    assert!(world.workspace.join("notes/r\u{e9}sum\u{e9}.md").is_file());
    assert!(
        !world
            .workspace
            .join("notes/re\u{301}sume\u{301}.md")
            .exists()
    );
    let out = call(&world, "readText", "'notes/r\u{e9}sum\u{e9}.md'");
    assert_eq!(out["ok"], "cv", "{out}");
}

#[test]
fn invisible_bidi_and_control_characters_in_paths_are_invalid() {
    let world = World::new();
    for escape in [
        "\\u200b",
        "\\u200c",
        "\\u200d",
        "\\u2060",
        "\\ufeff",
        "\\u00ad",
        "\\u202e",
        "\\u202d",
        "\\u2066",
        "\\u2067",
        "\\u2068",
        "\\u2069",
        "\\u200e",
        "\\u200f",
        "\\u061c",
        "\\u180e",
        "\\u034f",
        "\\u115f",
        "\\u3164",
        "\\ufe0f",
        "\\u00a0",
        "\\u3000",
        "\\u2028",
        "\\u0085",
        "\\u009b",
        "\\u001b",
        "\\u007f",
        "\\udb40\\udc01",
        "\\udb40\\udc73",
    ] {
        for (function, template) in [
            ("writeText", "'secrets{c}/key', 'x'"),
            ("readText", "'notes/a{c}b.txt'"),
            ("move", "'a.txt', 'secrets/{c}key'"),
            ("mkdir", "'{c}'"),
        ] {
            let args = template.replace("{c}", escape);
            let out = call(&world, function, &args);
            assert_eq!(out["code"], "invalid", "fs.{function}({args}): {out}");
        }
    }
    assert!(
        tree(&world.workspace).is_empty(),
        "{:?}",
        tree(&world.workspace)
    );
}

#[test]
fn long_non_ascii_names_are_written_and_over_long_ones_refused_cleanly() {
    let world = World::new();
    let out = world.ok(
        POLICY,
        r#"
        const results = {};
        for (const [label, name] of [
            ['210 bytes of 3-byte characters', '日'.repeat(70)],
            ['252 bytes of 4-byte characters', '🦀'.repeat(63)],
            ['255 ASCII bytes', 'a'.repeat(255)],
            ['254 bytes of 2-byte characters', 'é'.repeat(127)],
        ]) {
            await fs.writeText(`long/${name}`, label);
            await fs.appendText(`long/${name}`, '!');
            await fs.edit(`long/${name}`, '!', '?');
            results[label] = await fs.readText(`long/${name}`);
        }
        for (const name of ['日'.repeat(86), 'a'.repeat(256), '🦀'.repeat(64)]) {
            try { await fs.writeText(`too/long/${name}`, 'x'); results[name.length] = 'written' }
            catch (e) { results[name.length] = e.code }
        }
        return results;
        "#,
    );
    assert_eq!(
        out["210 bytes of 3-byte characters"],
        "210 bytes of 3-byte characters?"
    );
    assert_eq!(
        out["252 bytes of 4-byte characters"],
        "252 bytes of 4-byte characters?"
    );
    assert_eq!(out["255 ASCII bytes"], "255 ASCII bytes?");
    assert_eq!(
        out["254 bytes of 2-byte characters"],
        "254 bytes of 2-byte characters?"
    );
    assert_eq!(out["86"], "invalid");
    assert_eq!(out["256"], "invalid");
    assert_eq!(
        out["128"], "invalid",
        "64 crabs are 128 UTF-16 units: {out}"
    );
    // No temporary file is left, and the refused writes made no directories.
    let left = tree(&world.workspace);
    assert!(!left.iter().any(|p| p.ends_with(".tmp")), "{left:?}");
    assert!(!world.workspace.join("too").exists(), "{left:?}");
}

#[test]
fn failed_writes_leave_no_directories_behind() {
    let world = World::new();
    std::fs::create_dir_all(&world.workspace).expect("workspace");
    std::fs::write(world.workspace.join("file"), "x").expect("file");
    let over = 16 * MIB + 1;
    for (function, args) in [
        ("appendText", format!("'new/a/b.txt', 'x'.repeat({over})")),
        ("writeText", format!("'new/a/b.txt', 'x'.repeat({over})")),
        ("writeText", "'file/a/b.txt', 'x'".to_owned()),
        ("mkdir", "'file/a/b'".to_owned()),
        ("writeText", "'new/a/nul.txt', 'x'".to_owned()),
    ] {
        let out = call(&world, function, &args);
        assert!(out["code"].is_string(), "fs.{function}: {out}");
    }
    assert_eq!(
        tree(&world.workspace),
        vec![world.workspace.join("file").display().to_string()],
        "only what was there before"
    );
}

#[test]
fn an_edit_that_would_blow_up_fails_with_limit_before_building_anything() {
    let world = World::new();
    std::fs::create_dir_all(&world.workspace).expect("workspace");
    let big = "a".repeat(16 * MIB);
    std::fs::write(world.workspace.join("big.txt"), &big).expect("big");
    std::fs::write(world.workspace.join("small.txt"), "ab".repeat(1024)).expect("small");
    let started = Instant::now();
    for (find, replace) in [
        ("'a'", "'b'.repeat(256)"),
        ("'a'", "'bb'"),
        ("'aa'", "'bbb'"),
        ("'a'.repeat(1024)", "'b'.repeat(1025)"),
    ] {
        let out = call(&world, "edit", &format!("'big.txt', {find}, {replace}"));
        assert_eq!(out["code"], "limit", "edit({find}, {replace}): {out}");
    }
    eprintln!(
        "four refused edits of a 16 MiB file: {:?}",
        started.elapsed()
    );
    assert_eq!(
        std::fs::metadata(world.workspace.join("big.txt"))
            .expect("big")
            .len(),
        (16 * MIB) as u64,
        "the file is untouched"
    );
    // Same size, or smaller: allowed, and exact.
    let out = call(&world, "edit", "'big.txt', 'aa', 'b'");
    assert_eq!(out["ok"], 8 * MIB, "{out}");
    assert_eq!(
        std::fs::metadata(world.workspace.join("big.txt"))
            .expect("big")
            .len(),
        (8 * MIB) as u64
    );
    let out = call(&world, "edit", "'small.txt', 'b', 'xyz'");
    assert_eq!(out["ok"], 1024, "{out}");
    assert_eq!(
        std::fs::read_to_string(world.workspace.join("small.txt")).expect("small"),
        "axyz".repeat(1024)
    );
}

#[test]
fn an_edit_is_capped_by_the_runs_memory_too() {
    let world = World::new();
    std::fs::create_dir_all(&world.workspace).expect("workspace");
    std::fs::write(world.workspace.join("f.txt"), "a".repeat(2 * MIB)).expect("file");
    let policy = format!(
        "version = 1\n[run]\nmemory = \"8MiB\"\n{}",
        &POLICY["version = 1\n".len()..]
    );
    let source = "try { return await fs.edit('f.txt', 'a', 'bbbbb') } catch (e) { return e.code }";
    let out = world.ok(&policy, source);
    assert_eq!(out, "limit", "10 MiB of result under an 8 MiB run");
    let out = world.ok(&policy, "return await fs.edit('f.txt', 'a', 'bb')");
    assert_eq!(out, 2 * MIB, "4 MiB of result fits");
}

#[test]
fn append_and_read_are_capped_at_16_mib_exactly() {
    let world = World::new();
    std::fs::create_dir_all(&world.workspace).expect("workspace");
    let exact = std::fs::File::create(world.workspace.join("exact.bin")).expect("exact");
    exact.set_len(16 * MIB as u64).expect("size");
    for (function, args, code) in [
        ("appendText", "'exact.bin', 'x'", Some("limit")),
        ("appendText", "'exact.bin', ''", None),
    ] {
        let out = call(&world, function, args);
        assert_eq!(out["code"].as_str(), code, "fs.{function}({args}): {out}");
    }
    let out = run_long(&world, "return (await fs.readBytes('exact.bin')).length");
    assert_eq!(out, 16 * MIB);
    std::fs::OpenOptions::new()
        .append(true)
        .open(world.workspace.join("exact.bin"))
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"x"))
        .expect("grow");
    let out = call(&world, "readBytes", "'exact.bin'");
    assert_eq!(out["code"], "limit", "{out}");
}

#[test]
fn write_bytes_works_up_to_its_16_mib_cap_and_not_a_byte_past() {
    let world = World::new();
    let source = |n: usize| {
        format!(
            "const b = new Uint8Array({n}); b[0] = 7; b[{last}] = 9; \
             try {{ await fs.writeBytes('blob.bin', b); return 'written' }} catch (e) {{ return e.code }}",
            last = n - 1
        )
    };
    let out = run_long(&world, &source(16 * MIB));
    assert_eq!(out, "written");
    let written = std::fs::read(world.workspace.join("blob.bin")).expect("blob");
    assert_eq!(written.len(), 16 * MIB);
    assert_eq!((written[0], written[16 * MIB - 1]), (7, 9));
    let out = run_long(&world, &source(16 * MIB + 1));
    assert_eq!(out, "limit");
    assert_eq!(
        std::fs::metadata(world.workspace.join("blob.bin"))
            .expect("blob")
            .len(),
        (16 * MIB) as u64,
        "the refused write changed nothing"
    );
}

#[test]
fn listing_a_huge_directory_is_bounded() {
    let world = World::new();
    let dir = world.workspace.join("many");
    std::fs::create_dir_all(&dir).expect("many");
    for i in 0..clambot::tools::fs::MAX_LIST_ENTRIES {
        std::fs::write(dir.join(format!("{i:05}")), "").expect("entry");
    }
    let out = world.ok(POLICY, "return (await fs.list('many')).length");
    assert_eq!(out, clambot::tools::fs::MAX_LIST_ENTRIES);
    std::fs::write(dir.join("one-more"), "").expect("entry");
    let out = call(&world, "list", "'many'");
    assert_eq!(out["code"], "limit", "{}", out["message"]);
}

// --- The workspace never overlaps clambot's own state (the real binary). ---

fn clambot(home: &Path, workspace: Option<&Path>, args: &[&str]) -> Output {
    let mut command = common::cli::command(home, args);
    if let Some(workspace) = workspace {
        command.env("CLAMBOT_WORKSPACE", workspace);
    }
    command.output().expect("clambot runs")
}

#[test]
fn a_workspace_overlapping_the_home_is_refused_at_start_and_no_script_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let user = dir.path();
    let home = user.join(".clambot");
    std::fs::create_dir_all(home.join("data")).expect("data");
    std::fs::write(
        home.join("data/secrets.json"),
        r#"{"version":1,"secrets":{"token":"hunter2-secret"}}"#,
    )
    .expect("secrets");
    {
        use std::os::unix::fs::PermissionsExt as _;
        let private =
            |p: &Path, mode| std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode));
        private(&home.join("data"), 0o700).expect("chmod");
        private(&home.join("data/secrets.json"), 0o600).expect("chmod");
    }
    // Share the precompiled guest with the other tests so each spawn is quick.
    symlink(common::cache_dir(), home.join("cache")).expect("cache");
    let elsewhere = user.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("elsewhere");
    let policy = elsewhere.join("policy.toml");
    std::fs::write(
        &policy,
        "version = 1\n[[allow]]\ncall = \"fs.*\"\npath = [\"**\"]\n",
    )
    .expect("policy");
    let script = elsewhere.join("steal.js");
    std::fs::write(
        &script,
        "return [...await fs.readBytes('.clambot/data/secrets.json')].map(b => String.fromCharCode(b)).join('')",
    )
    .expect("script");
    symlink(&home, user.join("alias")).expect("alias");
    let script_arg = script.display().to_string();
    let policy_arg = policy.display().to_string();
    let run = ["run", script_arg.as_str(), "--policy", policy_arg.as_str()];

    for workspace in [
        user.to_owned(),          // contains the home: the issue's case
        home.clone(),             // is the home
        home.join("data"),        // is the data directory
        home.join("data/notes"),  // inside it
        home.join("cache/x"),     // inside the cache of native code
        home.join("config.toml"), // is the config file
        user.join("alias"),       // a symlink to the home
        user.join("alias/../.clambot/data/../data"),
    ] {
        let out = clambot(&home, Some(&workspace), &run);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(7),
            "{}: {stderr}",
            workspace.display()
        );
        assert!(stderr.contains("the workspace"), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"));
    }
    // The policy file in use may not sit in the workspace either.
    let in_workspace = home.join("workspace");
    std::fs::create_dir_all(&in_workspace).expect("workspace");
    std::fs::copy(&policy, in_workspace.join("policy.toml")).expect("copy");
    let inner = in_workspace.join("policy.toml").display().to_string();
    let out = clambot(
        &home,
        None,
        &["run", script_arg.as_str(), "--policy", inner.as_str()],
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The default layout runs, and the secrets are not reachable from it.
    let out = clambot(&home, None, &run);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the read fails as a script error: {stderr}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2"));
    assert!(!stderr.contains("hunter2"));
    // A workspace of its own elsewhere runs too.
    let out = clambot(&home, Some(&elsewhere.join("ws")), &run);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `source` with the real binary and returns its exit code and the peak
/// resident memory (VmHWM) of the process, read while the script spins at its
/// end so the process is still there to be measured.
fn peak_memory_of(home: &Path, source: &str, policy: &Path) -> (Option<i32>, u64) {
    let script = home.join("probe.js");
    std::fs::write(
        &script,
        format!(
            "{source}\nconst until = Date.now() + 1500; while (Date.now() < until) {{}}\nreturn 0;"
        ),
    )
    .expect("script");
    let mut child = Command::new(env!("CARGO_BIN_EXE_clambot"))
        .arg("run")
        .arg(&script)
        .arg("--policy")
        .arg(policy)
        .env("CLAMBOT_HOME", home)
        .env_remove("CLAMBOT_WORKSPACE")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("clambot runs");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let code = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, peak_kib * 1024)
}

#[test]
fn an_edit_keeps_host_memory_a_small_multiple_of_the_file() {
    let _one = BIG
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("workspace")).expect("workspace");
    symlink(common::cache_dir(), home.join("cache")).expect("cache");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).expect("policy");
    std::fs::write(home.join("workspace/big.txt"), "a".repeat(16 * MIB)).expect("big");
    std::fs::write(home.join("workspace/half.txt"), "a".repeat(8 * MIB)).expect("half");

    let (code, baseline) = peak_memory_of(&home, "", &policy);
    assert_eq!(code, Some(0));
    // 16 MiB x 257 would be 4 GiB: refused from the match count alone.
    let (code, refused) = peak_memory_of(
        &home,
        "try { await fs.edit('big.txt', 'a', 'b'.repeat(256)); throw 'edited' } catch (e) { if (e.code !== 'limit') throw e }",
        &policy,
    );
    assert_eq!(code, Some(0), "the edit was refused with limit");
    // 8 MiB doubled to the 16 MiB cap: read once, built once.
    let (code, allowed) = peak_memory_of(&home, "await fs.edit('half.txt', 'a', 'aa');", &policy);
    assert_eq!(code, Some(0), "the edit to exactly the cap was made");
    assert_eq!(
        std::fs::metadata(home.join("workspace/half.txt"))
            .expect("half")
            .len(),
        (16 * MIB) as u64
    );
    let mib = |b: u64| b / MIB as u64;
    eprintln!(
        "peak RSS: baseline {} MiB, refused blow-up {} MiB, 8→16 MiB edit {} MiB",
        mib(baseline),
        mib(refused),
        mib(allowed)
    );
    assert!(
        refused < baseline + (48 * MIB) as u64,
        "refusing cost {} MiB over the baseline",
        mib(refused.saturating_sub(baseline))
    );
    assert!(
        allowed < baseline + (96 * MIB) as u64,
        "an edit to 16 MiB cost {} MiB over the baseline",
        mib(allowed.saturating_sub(baseline))
    );
}
