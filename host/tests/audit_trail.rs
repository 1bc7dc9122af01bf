//! The audit trail against a script that wants it gone: through the real guest,
//! the real host tools, real files and a real SQLite index, a run cannot make
//! one record large, make the log large, or rotate the records of earlier runs
//! away; host-side refusals are on record as refusals, and a call cut short by
//! cancellation is on record too.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use clambot::components::Toolbox;
use clambot::gate::GateSetup;
use clambot::gate::audit::{AUDIT_VOLUME_RULE, AuditLimits, AuditLog, Retention};
use clambot::policy::Policy;
use clambot::sandbox::{RunOutcome, RunRequest, Sandbox};
use clambot::store::audit::{AuditQuery, AuditRow};
use clambot::tools::http::{Http, HttpLimits};
use common::http_server::{Reply, Server};
use common::world::World;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

/// Every audit file's text, oldest segment first, the active file last.
fn audit_text(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("audit dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort_by_key(|p| {
        (
            p.file_name().is_some_and(|n| n == "audit.jsonl"),
            std::fs::metadata(p).and_then(|m| m.modified()).ok(),
        )
    });
    files
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect()
}

fn records(dir: &Path) -> Vec<Json> {
    audit_text(dir)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

fn audit_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("audit dir")
        .map(|e| e.expect("entry").metadata().expect("stat").len())
        .sum()
}

fn run_records<'a>(records: &'a [Json], run: &str) -> Vec<&'a Json> {
    records.iter().filter(|r| r["run"] == run).collect()
}

fn index_of_run(world: &World, run: &str) -> Vec<AuditRow> {
    clambot::store::audit::calls_of_run(&world.store, run).expect("index")
}

/// The run id of the one run `outcome` is, from the audit files.
fn last_run(dir: &Path) -> String {
    let all = records(dir);
    all.last().expect("a record")["run"]
        .as_str()
        .expect("run")
        .to_owned()
}

const WRITE_ANYWHERE: &str =
    "version = 1\n[[allow]]\ncall = \"fs.*\"\npath = [\"**\"]\n[[allow]]\ncall = \"log.write\"\n";

/// Small limits, so a test reaches them quickly: 64 KiB per run, 2 KiB per
/// record, 64 KiB segments, a 2 MiB ceiling (about 30 such runs).
fn small_limits() -> AuditLimits {
    AuditLimits {
        record_bytes: 2 * 1024,
        run_bytes: 64 * 1024,
        retention: Retention {
            segment_bytes: 64 * 1024,
            max_age: Duration::from_secs(3600),
            max_total_bytes: 2 * 1024 * 1024,
        },
    }
}

fn gate_with(world: &World, policy: &str, limits: AuditLimits) -> GateSetup {
    let mut gate = world.gate(policy);
    gate.audit = Some(Arc::new(
        AuditLog::with_limits(&world.audit_dir(), limits)
            .expect("audit")
            .with_index(Arc::clone(&world.store)),
    ));
    gate
}

fn run_with(sandbox: &Sandbox, gate: GateSetup, source: &str) -> RunOutcome {
    let mut request = RunRequest::new(source);
    request.gate = gate;
    common::runtime().block_on(sandbox.run(&request))
}

/// Calls `log.write` until a call fails; returns the codes seen.
const LOG_FLOOD: &str = "const message = 'm'.repeat(150); let ok = 0, codes = [];
    for (let i = 0; i < 100000; i++) {
        try { log.writeSync('debug', message); ok++ } catch (e) { codes.push(e.code); if (codes.length > 50) break }
    }
    return { ok, codes: [...new Set(codes)], refused: codes.length }";

#[test]
fn a_large_argument_is_recorded_as_its_size_hash_and_prefix() {
    let world = World::new();
    let before = audit_bytes_or_zero(&world.audit_dir());
    let out = world.ok(
        WRITE_ANYWHERE,
        "const b = new Uint8Array(1 << 20); for (let i = 0; i < b.length; i++) b[i] = i % 251;
         fs.writeBytesSync('one.bin', b);
         fs.writeTextSync('big.txt', 'x'.repeat(4 << 20));
         return 1",
    );
    assert_eq!(out, 1);
    let written = audit_bytes(&world.audit_dir()) - before;
    // Was 2–3.5 MB for the byte list alone (one JSON number per byte).
    assert!(
        written < 8 * 1024,
        "{written} bytes of audit for two large writes"
    );
    eprintln!("MEASURED audit bytes for a 1 MiB writeBytes and a 4 MiB writeText: {written}");
    let all = records(&world.audit_dir());
    let decided = all
        .iter()
        .find(|r| r["event"] == "decided" && r["function"] == "fs.write-bytes")
        .expect("the decided record");
    let content = &decided["args"]["content"];
    let expected: Vec<u8> = (0..1u32 << 20).map(|i| (i % 251) as u8).collect();
    assert_eq!(content["kind"], "bytes");
    assert_eq!(content["size"], 1 << 20);
    assert_eq!(content["sha256"], hex::encode(Sha256::digest(&expected)));
    assert_eq!(content["prefix"], "000102030405060708090a0b0c0d0e0f");
    let text = all
        .iter()
        .find(|r| r["event"] == "decided" && r["function"] == "fs.write-text")
        .expect("the text write");
    assert_eq!(text["args"]["content"]["kind"], "text");
    assert_eq!(text["args"]["content"]["size"], 4 << 20);
    assert_eq!(
        text["args"]["path"], "big.txt",
        "small arguments stay readable"
    );
}

fn audit_bytes_or_zero(dir: &Path) -> u64 {
    if dir.exists() { audit_bytes(dir) } else { 0 }
}

#[test]
fn ten_allowed_3_mb_writes_leave_the_earlier_runs_records_in_place() {
    // Issue 21's report: these rotated the whole audit history away.
    let world = World::new();
    let first = world.run(
        WRITE_ANYWHERE,
        "log.writeSync('info', 'first run'); return 1",
    );
    assert!(first.result.is_ok(), "{:?}", first.result);
    let first_run = last_run(&world.audit_dir());
    let before = audit_bytes(&world.audit_dir());
    let ten = world.run(
        WRITE_ANYWHERE,
        "const b = new Uint8Array(3 << 20).fill(9); for (let i = 0; i < 10; i++) fs.writeBytesSync('t' + i + '.bin', b); return 1",
    );
    assert!(ten.result.is_ok(), "{:?}", ten.result);
    let written = audit_bytes(&world.audit_dir()) - before;
    assert!(written < 20 * 1024, "{written}");
    let all = records(&world.audit_dir());
    assert_eq!(run_records(&all, &first_run).len(), 2);
    eprintln!("MEASURED audit bytes for ten 3 MiB writeBytes: {written}");
}

#[test]
fn a_flood_of_calls_is_stopped_with_limit_at_the_runs_audit_volume_and_that_is_on_record() {
    let world = World::new();
    let limits = small_limits();
    let outcome = run_with(
        &world.sandbox,
        gate_with(&world, WRITE_ANYWHERE, limits),
        LOG_FLOOD,
    );
    let out: Json = serde_json::from_str(&outcome.result.expect("runs")).expect("json");
    assert_eq!(out["codes"], serde_json::json!(["limit"]), "{out}");
    assert!(out["ok"].as_u64().expect("ok") > 50, "{out}");
    let written = audit_bytes(&world.audit_dir());
    assert!(
        written <= limits.run_bytes + 2 * limits.record_bytes as u64,
        "{written} bytes for a run allowed {}",
        limits.run_bytes
    );
    let run = last_run(&world.audit_dir());
    let all = records(&world.audit_dir());
    let refusal = all
        .iter()
        .find(|r| r["rule"] == AUDIT_VOLUME_RULE && r["event"] == "decided")
        .expect("the first refusal is on record");
    assert_eq!(refusal["decision"], "limit");
    assert_eq!(refusal["outcome"], "limit");
    let suppressed = all
        .iter()
        .find(|r| r["event"] == "suppressed")
        .expect("the later refusals are counted");
    assert_eq!(suppressed["calls"], out["refused"].as_u64().expect("n") - 1);
    // The script was told: every refused call is in its record as `limit`.
    let limited = outcome
        .calls
        .iter()
        .filter(|c| c.rule == AUDIT_VOLUME_RULE)
        .count();
    assert_eq!(limited as u64, out["refused"].as_u64().expect("n"));
    let index = index_of_run(&world, &run);
    assert!(
        index
            .iter()
            .any(|r| r.rule == AUDIT_VOLUME_RULE && r.decision == "limit")
    );
    assert_eq!(
        index.iter().filter(|r| r.decision == "allow").count() as u64,
        out["ok"].as_u64().expect("ok"),
        "one index row per call that went ahead"
    );
}

#[test]
fn many_small_calls_meet_the_default_volume_and_stop() {
    let world = World::new();
    let outcome = world.run(
        WRITE_ANYWHERE,
        "let ok = 0; for (let i = 0; i < 40000; i++) { try { log.writeSync('debug', 'x'); ok++ } catch (e) { return { ok, code: e.code, rule: e.message } } } return { ok }",
    );
    let out: Json = serde_json::from_str(&outcome.result.expect("runs")).expect("json");
    assert_eq!(out["code"], "limit", "{out}");
    let written = audit_bytes(&world.audit_dir());
    let limits = AuditLimits::default();
    assert!(
        written <= limits.run_bytes + 2 * limits.record_bytes as u64,
        "{written}"
    );
    eprintln!(
        "MEASURED default volume: {} small calls, {written} bytes",
        out["ok"]
    );
}

#[test]
fn n_runs_at_their_maximum_volume_leave_the_first_runs_records_in_place() {
    let world = World::new();
    let limits = small_limits();
    let first = run_with(
        &world.sandbox,
        gate_with(&world, WRITE_ANYWHERE, limits),
        "log.writeSync('info', 'the first run'); return 1",
    );
    assert!(first.result.is_ok());
    let first_run = last_run(&world.audit_dir());
    // As many maximal runs as the ceiling holds with a segment to spare.
    let runs = (limits.retention.max_total_bytes - limits.retention.segment_bytes)
        / (limits.run_bytes + 2 * limits.record_bytes as u64)
        - 1;
    assert!(runs >= 16, "{runs}");
    for _ in 0..runs {
        let outcome = run_with(
            &world.sandbox,
            gate_with(&world, WRITE_ANYWHERE, limits),
            LOG_FLOOD,
        );
        assert!(outcome.result.expect("runs").contains("limit"));
    }
    let all = records(&world.audit_dir());
    let kept = run_records(&all, &first_run);
    assert_eq!(
        kept.len(),
        2,
        "the first run's decided and completed records: {kept:?}"
    );
    assert!(audit_bytes(&world.audit_dir()) <= limits.retention.max_total_bytes);
    // Segments did rotate: the log is many files, each at most a segment.
    let files = std::fs::read_dir(world.audit_dir()).expect("dir").count();
    assert!(files > 10, "{files} files");

    // Past the ceiling the oldest files go, but the index (what `clambot
    // audit` shows) keeps every run.
    for _ in 0..runs {
        run_with(
            &world.sandbox,
            gate_with(&world, WRITE_ANYWHERE, limits),
            LOG_FLOOD,
        );
    }
    assert!(audit_bytes(&world.audit_dir()) <= limits.retention.max_total_bytes);
    assert_eq!(index_of_run(&world, &first_run).len(), 1);
}

#[test]
fn the_default_ceiling_holds_hundreds_of_runs_at_their_maximum_volume() {
    let limits = AuditLimits::default();
    limits.check().expect("the defaults are consistent");
    let per_run = limits.run_bytes + 2 * limits.record_bytes as u64;
    assert!(limits.retention.max_total_bytes / per_run >= 250);
    // And limits that would let one run rotate its predecessors away are refused.
    let mut tight = small_limits();
    tight.retention.max_total_bytes = 4 * tight.run_bytes;
    assert!(AuditLimits::check(&tight).is_err());
}

#[test]
fn host_refusals_after_the_gate_are_recorded_as_refusals_not_as_allow() {
    use std::os::unix::fs::symlink;
    let world = World::new();
    let big = Server::start("127.0.0.1", 0, |_| {
        Reply::text(200, "text/plain", vec![b'a'; 2 * 1024 * 1024])
    });
    world.resolver.answer("inside.example", &["10.1.2.3"]);
    world.resolver.answer("big.example", &["127.0.0.1"]);
    std::fs::create_dir_all(&world.workspace).expect("workspace");
    let outside = world.dir.path().join("outside");
    std::fs::create_dir_all(&outside).expect("outside");
    std::fs::write(outside.join("x"), "secret").expect("outside file");
    symlink(&outside, world.workspace.join("link")).expect("symlink");
    let status = Command::new("mkfifo")
        .arg(world.workspace.join("fifo"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let policy = format!(
        "{WRITE_ANYWHERE}[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://*.example:*/**\"]\n[net]\nallow-private = [\"{}\"]\n",
        big.addr
    );
    let out = world.ok(
        &policy,
        &format!(
            "const codes = [];
             for (const f of [
                 () => http.fetch({{ method: 'GET', url: 'http://inside.example:80/', headers: [], body: null }}),
                 () => fs.readText('link/x'),
                 () => fs.readText('fifo'),
                 () => http.fetch({{ method: 'GET', url: 'http://big.example:{}/', headers: [], body: null }}),
             ]) {{ try {{ await f(); codes.push('ok') }} catch (e) {{ codes.push(e.code) }} }}
             return codes",
            big.port()
        ),
    );
    assert_eq!(
        out,
        serde_json::json!(["denied", "denied", "invalid", "limit"])
    );
    let all = records(&world.audit_dir());
    let completed: Vec<(&str, &str, &str)> = all
        .iter()
        .filter(|r| r["event"] == "completed")
        .map(|r| {
            (
                r["decision"].as_str().expect("decision"),
                r["rule"].as_str().expect("rule"),
                r["outcome"].as_str().expect("outcome"),
            )
        })
        .collect();
    assert_eq!(completed[0].0, "deny");
    assert!(completed[0].1.starts_with("ssrf:"), "{completed:?}");
    assert_eq!(completed[1], ("deny", "workspace-boundary", "denied"));
    assert_eq!(completed[2].0, "invalid");
    assert_eq!(completed[3].0, "limit");
    for record in all.iter().filter(|r| r["event"] == "completed") {
        assert!(
            record["allowed_by"]
                .as_str()
                .is_some_and(|r| r.contains("[[allow]]")),
            "the gate's rule is kept beside the host's: {record}"
        );
    }
    // What `clambot audit --denied` reads: every one of them.
    let denied = clambot::store::audit::query(
        &world.store,
        &AuditQuery {
            denied: true,
            ..AuditQuery::default()
        },
    )
    .expect("query");
    assert_eq!(denied.len(), 4, "{denied:?}");
}

#[test]
fn a_call_cut_short_by_cancellation_or_the_deadline_is_on_record() {
    let world = World::new();
    let hang = Server::start("127.0.0.1", 0, |_| Reply::Hang);
    world.resolver.answer("slow.example", &["127.0.0.1"]);
    let policy = format!(
        "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://slow.example:*/**\"]\n[net]\nallow-private = [\"{}\"]\n",
        hang.addr
    );
    let source = format!(
        "await http.fetch({{ method: 'GET', url: 'http://slow.example:{}/', headers: [], body: null }}); return 1",
        hang.port()
    );
    let mut request = RunRequest::new(source.clone());
    request.gate = world.gate(&policy);
    let cancel = tokio_util::sync::CancellationToken::new();
    let outcome = common::runtime().block_on(async {
        let canceller = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            canceller.cancel();
        });
        world.sandbox.run_cancellable(&request, &cancel).await
    });
    assert_eq!(
        outcome.result,
        Err(clambot::sandbox::RunError::Cancelled),
        "{:?}",
        outcome.result
    );
    let all = records(&world.audit_dir());
    let run = last_run(&world.audit_dir());
    let events: Vec<(&str, &str)> = run_records(&all, &run)
        .iter()
        .map(|r| {
            (
                r["event"].as_str().expect("event"),
                r["outcome"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(events, [("decided", "-"), ("completed", "interrupted")]);
    let index = index_of_run(&world, &run);
    assert_eq!(index.len(), 1);
    assert_eq!(index[0].error.as_deref(), Some("interrupted"));

    // The run's deadline, reached inside the call: on record the same way.
    let mut request = RunRequest::new(source);
    request.gate = world.gate(&policy);
    request.limits.timeout = Duration::from_millis(300);
    let outcome = common::runtime().block_on(world.sandbox.run(&request));
    assert!(outcome.result.is_err());
    let all = records(&world.audit_dir());
    let run = last_run(&world.audit_dir());
    let ended = run_records(&all, &run)
        .into_iter()
        .find(|r| r["event"] == "completed")
        .expect("the call's completion is on record");
    assert!(
        ["interrupted", "limit"].contains(&ended["outcome"].as_str().expect("outcome")),
        "{ended}"
    );
}

fn textkit_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("textkit")).expect("mkdir");
    std::fs::copy(
        common::repo_root().join("tools/textkit/textkit.wasm"),
        dir.path().join("textkit/textkit.wasm"),
    )
    .expect("copy");
    dir
}

#[test]
fn a_tool_components_own_calls_draw_on_the_runs_audit_volume() {
    let world = World::new();
    let server = Server::start("127.0.0.1", 0, |_| {
        Reply::text(200, "text/html", "<title>t</title>")
    });
    world.resolver.answer("tides.example", &["127.0.0.1"]);
    let tools = textkit_dir();
    let sha = clambot::sha256_hex(
        &std::fs::read(tools.path().join("textkit/textkit.wasm")).expect("component"),
    );
    let policy_text = format!(
        "version = 1\n[tools.textkit]\nsha256 = \"{sha}\"\nimports = [\"http\"]\ntimeout = \"5s\"\n\
         [[allow]]\ncall = \"tools.textkit.page-title\"\n\
         [[allow]]\ncall = \"http.fetch\"\ncaller = \"tools.textkit\"\nurl = [\"http://tides.example:*/**\"]\n\
         [net]\nallow-private = [\"{}\"]\n",
        server.addr
    );
    let policy = Policy::parse("policy.toml", &policy_text).expect("policy");
    let http = Http::with(
        Arc::clone(&world.resolver) as Arc<dyn clambot::net::Resolver>,
        HttpLimits::default(),
        Arc::clone(&world.secrets),
    );
    let mut implementations =
        clambot::tools::standard(&world.workspace, &world.store, &world.secrets, http)
            .expect("tools");
    let toolbox = Toolbox::load(
        &policy,
        &[tools.path().to_path_buf()],
        &implementations,
        Some(&common::cache_dir()),
    )
    .expect("toolbox");
    toolbox.register(&mut implementations);
    let sandbox = common::sandbox_with(implementations, 2);
    let limits = small_limits();
    let outcome = run_with(
        &sandbox,
        gate_with(&world, &policy_text, limits),
        &format!(
            "let ok = 0; for (let i = 0; i < 10000; i++) {{
                 try {{ await tools.textkit.pageTitle('http://tides.example:{}/' + 'p'.repeat(150)); ok++ }}
                 catch (e) {{ return {{ ok, code: e.code, message: e.message }} }}
             }} return {{ ok }}",
            server.port()
        ),
    );
    let out: Json = serde_json::from_str(&outcome.result.expect("runs")).expect("json");
    assert!(out["ok"].as_u64().expect("ok") > 5, "{out}");
    // The tool's fetch or the script's next tool call met the volume.
    assert!(
        ["limit", "failed"].contains(&out["code"].as_str().expect("code")),
        "{out}"
    );
    let written = audit_bytes(&world.audit_dir());
    assert!(
        written <= limits.run_bytes + 2 * limits.record_bytes as u64,
        "{written}"
    );
    let all = records(&world.audit_dir());
    let by_tool = all
        .iter()
        .filter(|r| r["event"] == "decided" && r["function"] == "http.fetch")
        .count();
    let by_script = all
        .iter()
        .filter(|r| r["event"] == "decided" && r["function"] == "tools.textkit.page-title")
        .count();
    assert!(by_tool > 5 && by_script > 5, "{by_tool} {by_script}");
    assert!(all.iter().any(|r| r["rule"] == AUDIT_VOLUME_RULE));
}

#[test]
fn clambot_audit_still_shows_the_first_run_after_a_flooding_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let _ = std::os::unix::fs::symlink(common::cache_dir(), home.join("cache"));
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, WRITE_ANYWHERE).expect("policy");
    let clambot = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_clambot"))
            .args(args)
            .env("CLAMBOT_HOME", &home)
            .output()
            .expect("clambot runs")
    };
    let first = dir.path().join("first.js");
    std::fs::write(&first, "log.writeSync('info', 'the first run'); return 1").expect("script");
    let flood = dir.path().join("flood.js");
    std::fs::write(
        &flood,
        "const b = new Uint8Array(3 << 20).fill(9); for (let i = 0; i < 3; i++) fs.writeBytesSync('t' + i + '.bin', b);
         for (let i = 0; i < 100000; i++) { try { log.writeSync('debug', 'x') } catch (e) { return e.code } }",
    )
    .expect("script");
    let policy = policy.display().to_string();
    let out = clambot(&["run", &first.display().to_string(), "--policy", &policy]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = clambot(&["run", &flood.display().to_string(), "--policy", &policy]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "\"limit\"");
    let out = clambot(&["audit", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let rows: Vec<Json> = serde_json::from_slice(&out.stdout).expect("json");
    let runs: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["run"].as_str().expect("run"))
        .collect();
    assert_eq!(runs.len(), 2, "both runs are listed");
    assert_eq!(
        rows[0]["function"], "log.write",
        "the first run comes first"
    );
    let text = audit_text(&home.join("data/audit"));
    assert!(
        text.contains(rows[0]["run"].as_str().expect("run")),
        "its full records too"
    );
}
