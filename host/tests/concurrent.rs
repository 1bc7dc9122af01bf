//! Concurrent host calls (docs/concurrency.md): the calls a script awaits
//! together overlap on the host against a real, slow loopback server, while
//! each is still judged once at its start, budgeted, audited and asked about
//! one at a time. Time bounds are generous (the precise numbers are in
//! `benches/concurrent.rs`); overlap itself is proven by the server's own count
//! of requests it was serving at once.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clambot::gate::BoxFuture;
use clambot::gate::approver::{Approval, ApprovalRequest, Approver};
use clambot::gate::audit::Verdict;
use clambot::sandbox::{RunError, RunRequest};
use common::http_server::{Reply, Server};
use common::world::World;
use serde_json::{Value as Json, json};
use tokio_util::sync::CancellationToken;

/// A loopback server that answers every request after `delay` (paths starting
/// `/slow` after five times as long), and counts how many it served at once.
struct SlowServer {
    server: Server,
    peak: Arc<AtomicUsize>,
}

impl SlowServer {
    fn start(delay: Duration) -> Self {
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (now_in, peak_in) = (Arc::clone(&now), Arc::clone(&peak));
        let server = Server::start("127.0.0.1", 0, move |seen| {
            let serving = now_in.fetch_add(1, Ordering::SeqCst) + 1;
            peak_in.fetch_max(serving, Ordering::SeqCst);
            let wait = if seen.path.starts_with("/slow") {
                delay * 5
            } else {
                delay
            };
            std::thread::sleep(wait);
            now_in.fetch_sub(1, Ordering::SeqCst);
            Reply::text(200, "text/plain", format!("page {}", seen.path))
        });
        Self { server, peak }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.server.port())
    }

    /// The most requests the server was answering at one moment.
    fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// A policy letting scripts fetch from this server, with `extra` TOML.
    fn policy(&self, rule_extra: &str, extra: &str) -> String {
        format!(
            "version = 1\n{extra}\n[[allow]]\ncall = \"http.*\"\nurl = [\"http://127.0.0.1:{port}/**\"]\n{rule_extra}\n[net]\nallow-private = [\"{addr}\"]\n",
            port = self.server.port(),
            addr = self.server.addr,
        )
    }
}

const FETCH_EIGHT: &str = r#"
    const urls = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => args.base + "/p" + n);
    const responses = await Promise.all(
        urls.map((url) => http.fetch({ method: "GET", url, headers: [] })),
    );
    return responses.map((r) => r.status + " " + r.body);
"#;

fn run_timed(world: &World, policy: &str, source: &str, base: &str) -> (Json, Duration) {
    let started = Instant::now();
    let outcome = world.run_with_args(policy, source, &json!({ "base": base }).to_string());
    let elapsed = started.elapsed();
    let text = outcome
        .result
        .unwrap_or_else(|e| panic!("the script failed: {e}"));
    (serde_json::from_str(&text).expect("JSON"), elapsed)
}

#[test]
fn eight_awaited_fetches_to_a_400ms_server_overlap_instead_of_taking_3_2_seconds() {
    let world = World::new();
    let server = SlowServer::start(Duration::from_millis(400));
    let (out, elapsed) = run_timed(&world, &server.policy("", ""), FETCH_EIGHT, &server.url(""));
    let expected: Vec<String> = (1..=8).map(|n| format!("200 page /p{n}")).collect();
    assert_eq!(
        out,
        json!(expected),
        "each response reaches its own promise"
    );
    assert_eq!(server.peak(), 8, "the server answered all eight at once");
    assert!(
        elapsed < Duration::from_millis(1600),
        "eight 400 ms requests took {elapsed:?}"
    );
}

#[test]
fn every_async_host_function_overlaps_fetch_text_with_fetch() {
    let world = World::new();
    let server = SlowServer::start(Duration::from_millis(300));
    let source = r#"
        const [a, b, c, d] = await Promise.all([
            http.fetchText(args.base + "/t1"),
            http.fetch({ method: "GET", url: args.base + "/f1", headers: [] }),
            http.fetchText(args.base + "/t2"),
            http.fetch({ method: "GET", url: args.base + "/f2", headers: [] }),
        ]);
        return [a, b.body, c, d.body];
    "#;
    let (out, _) = run_timed(&world, &server.policy("", ""), source, &server.url(""));
    assert_eq!(out, json!(["page /t1", "page /f1", "page /t2", "page /f2"]));
    assert_eq!(server.peak(), 4);
}

#[test]
fn sync_twins_keep_blocking_the_script_one_call_at_a_time() {
    let world = World::new();
    let server = SlowServer::start(Duration::from_millis(100));
    let source = r#"
        const out = [];
        for (const p of ["/a", "/b", "/c"]) out.push(http.fetchTextSync(args.base + p));
        return out;
    "#;
    let (out, elapsed) = run_timed(&world, &server.policy("", ""), source, &server.url(""));
    assert_eq!(out, json!(["page /a", "page /b", "page /c"]));
    assert_eq!(server.peak(), 1, "a Sync call never overlaps another");
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
}

#[test]
fn a_sync_call_made_after_an_async_one_starts_after_it() {
    // The async call is queued until the script waits; a Sync call first starts
    // the calls made before it, so effects keep the order the script wrote them.
    let world = World::new();
    let source = r#"
        const written = fs.writeText("order.txt", "first");
        const read = fs.readTextSync("order.txt");
        await written;
        return read;
    "#;
    let policy = "version = 1\n[[allow]]\ncall = \"fs.*\"\npath = [\"**\"]\n";
    assert_eq!(world.ok(policy, source), json!("first"));
}

#[test]
fn promise_race_settles_with_the_first_to_finish_and_all_settled_reports_each() {
    let world = World::new();
    let server = SlowServer::start(Duration::from_millis(100));
    let source = r#"
        const fetchText = (path) => http.fetchText(args.base + path);
        const winner = await Promise.race([fetchText("/slow-one"), fetchText("/fast")]);
        const settled = await Promise.allSettled([
            fetchText("/ok"),
            http.fetchText("http://127.0.0.2:1/not-in-policy"),
            http.fetch({ method: "GET" }),
        ]);
        return {
            winner,
            settled: settled.map((s) =>
                s.status === "fulfilled" ? s.value : s.reason.name + ":" + (s.reason.code ?? s.reason.message)),
        };
    "#;
    let (out, _) = run_timed(&world, &server.policy("", ""), source, &server.url(""));
    assert_eq!(out["winner"], "page /fast");
    assert_eq!(out["settled"][0], "page /ok");
    assert_eq!(out["settled"][1], "ToolError:denied");
    let bad_arguments = out["settled"][2].as_str().expect("a reason");
    assert!(
        bad_arguments.starts_with("TypeError:http.fetch: argument `req`"),
        "{bad_arguments}"
    );
}

#[test]
fn max_calls_five_with_eight_concurrent_calls_allows_exactly_the_first_five() {
    let world = World::new();
    let server = SlowServer::start(Duration::from_millis(100));
    let source = r#"
        const settled = await Promise.allSettled(
            [1, 2, 3, 4, 5, 6, 7, 8].map((n) => http.fetchText(args.base + "/p" + n)),
        );
        return settled.map((s) => (s.status === "fulfilled" ? s.value : s.reason.code));
    "#;
    let policy = server.policy("max-calls = 5", "");
    let outcome = world.run_with_args(
        &policy,
        source,
        &json!({ "base": server.url("") }).to_string(),
    );
    let out: Json = serde_json::from_str(&outcome.result.expect("runs")).expect("JSON");
    assert_eq!(
        out,
        json!([
            "page /p1", "page /p2", "page /p3", "page /p4", "page /p5", "limit", "limit", "limit"
        ])
    );
    assert_eq!(
        server.server.seen().len(),
        5,
        "only five requests were sent"
    );
    let verdicts: Vec<Verdict> = outcome.calls.iter().map(|c| c.verdict).collect();
    assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Allow).count(), 5);
    assert_eq!(verdicts.iter().filter(|v| **v == Verdict::Limit).count(), 3);

    // The run's own budget holds the same way.
    let policy = server.policy("", "[run]\nmax-calls = 6");
    let outcome = world.run_with_args(
        &policy,
        source,
        &json!({ "base": server.url("") }).to_string(),
    );
    let out: Json = serde_json::from_str(&outcome.result.expect("runs")).expect("JSON");
    let limited = out
        .as_array()
        .expect("array")
        .iter()
        .filter(|v| *v == "limit")
        .count();
    assert_eq!(limited, 2, "{out}");
}

#[test]
fn max_egress_is_exact_under_concurrency() {
    let world = World::new();
    let server = SlowServer::start(Duration::from_millis(50));
    // Each request counts its URL; allow room for exactly three.
    let url_len = server.url("/p1").len();
    let policy = server.policy("", &format!("[run]\nmax-egress = \"{}B\"", url_len * 3));
    let source = r#"
        const settled = await Promise.allSettled(
            [1, 2, 3, 4, 5].map((n) => http.fetchText(args.base + "/p" + n)),
        );
        return settled.map((s) => (s.status === "fulfilled" ? "ok" : s.reason.code));
    "#;
    let (out, _) = run_timed(&world, &policy, source, &server.url(""));
    assert_eq!(out, json!(["ok", "ok", "ok", "limit", "limit"]));
    assert_eq!(server.server.seen().len(), 3);
}

#[test]
fn max_concurrent_bounds_the_calls_under_way_and_the_rest_wait_their_turn() {
    let world = World::new();
    let server = SlowServer::start(Duration::from_millis(200));
    let policy = server.policy("", "[run]\nmax-concurrent = 2");
    let source = r#"
        const all = await Promise.all(
            [1, 2, 3, 4, 5, 6].map((n) => http.fetchText(args.base + "/p" + n)),
        );
        return all.length;
    "#;
    let (out, elapsed) = run_timed(&world, &policy, source, &server.url(""));
    assert_eq!(out, json!(6));
    assert_eq!(server.peak(), 2, "never more than two under way");
    assert!(
        elapsed >= Duration::from_millis(600),
        "three rounds of two: {elapsed:?}"
    );
}

const FOUR_HANGING: &str = r#"
    await Promise.all([1, 2, 3, 4].map((n) => http.fetchText(args.base + "/slow" + n)));
    return "never";
"#;

/// The completions (`completed` records) in the world's audit log, by outcome.
fn completions(world: &World, outcome: &str) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(world.audit_dir()).expect("audit dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("read");
        count += text
            .lines()
            .map(|l| serde_json::from_str::<Json>(l).expect("JSON line"))
            .filter(|r| r["event"] == "completed" && r["outcome"] == outcome)
            .count();
    }
    count
}

#[test]
fn the_deadline_ends_every_call_under_way_and_each_has_its_record() {
    let world = World::new();
    // /slow answers after 5 s, far past the run's deadline.
    let server = SlowServer::start(Duration::from_secs(1));
    let source = r#"
        const settled = await Promise.allSettled(
            [1, 2, 3, 4].map((n) => http.fetchText(args.base + "/slow" + n)),
        );
        while (true) {}
    "#;
    let mut request = RunRequest::new(source);
    request.args_json = json!({ "base": server.url("") }).to_string();
    request.gate = world.gate(&server.policy("", ""));
    request.limits.timeout = Duration::from_millis(500);
    let started = Instant::now();
    let outcome = common::runtime().block_on(world.sandbox.run(&request));
    assert_eq!(
        outcome.result,
        Err(RunError::Timeout(Duration::from_millis(500)))
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Each call under way was cut off at the run's deadline: by the http tool
    // (`limit`), or, on a loaded machine, by the sandbox's backstop (`interrupted`).
    assert_eq!(outcome.calls.len(), 4, "{:?}", outcome.calls);
    assert!(
        outcome
            .calls
            .iter()
            .all(|c| matches!(c.error, Some("limit" | "interrupted"))),
        "{:?}",
        outcome.calls
    );
    assert_eq!(
        completions(&world, "limit") + completions(&world, "interrupted"),
        4
    );
}

#[test]
fn cancellation_ends_every_call_under_way_and_each_has_its_record() {
    let world = World::new();
    let server = SlowServer::start(Duration::from_secs(1));
    let mut request = RunRequest::new(FOUR_HANGING);
    request.args_json = json!({ "base": server.url("") }).to_string();
    request.gate = world.gate(&server.policy("", ""));
    let cancel = CancellationToken::new();
    let canceller = cancel.clone();
    let outcome = common::runtime().block_on(async {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            canceller.cancel();
        });
        world.sandbox.run_cancellable(&request, &cancel).await
    });
    assert_eq!(outcome.result, Err(RunError::Cancelled));
    assert_eq!(outcome.calls.len(), 4, "{:?}", outcome.calls);
    assert!(
        outcome
            .calls
            .iter()
            .all(|c| c.error == Some("interrupted") && c.verdict == Verdict::Allow),
        "{:?}",
        outcome.calls
    );
    assert_eq!(completions(&world, "interrupted"), 4);
}

#[test]
fn calls_a_script_did_not_await_are_finished_before_the_run_ends() {
    let world = World::new();
    let policy = "version = 1\n[[allow]]\ncall = \"fs.*\"\npath = [\"**\"]\n";
    let source = r#"
        fs.writeText("a.txt", "a");
        fs.writeText("b.txt", "b");
        return "returned";
    "#;
    assert_eq!(world.ok(policy, source), json!("returned"));
    assert_eq!(
        std::fs::read_to_string(world.workspace.join("a.txt")).expect("a"),
        "a"
    );
    assert_eq!(
        std::fs::read_to_string(world.workspace.join("b.txt")).expect("b"),
        "b"
    );
}

#[test]
fn results_cross_in_javascript_spelling_bytes_as_uint8array() {
    let world = World::new();
    let policy = "version = 1\n[[allow]]\ncall = \"fs.*\"\npath = [\"**\"]\n";
    let source = r#"
        await fs.writeBytes("b.bin", new Uint8Array([1, 2, 255]));
        const [bytes, meta, list] = await Promise.all([
            fs.readBytes("b.bin"),
            fs.stat("b.bin"),
            fs.list("."),
        ]);
        const sync = fs.statSync("b.bin");
        return {
            bytes: bytes instanceof Uint8Array ? Array.from(bytes) : "not bytes",
            keys: Object.keys(meta).sort(),
            same: JSON.stringify(Object.keys(meta).sort()) === JSON.stringify(Object.keys(sync).sort()),
            kind: list[0].kind,
        };
    "#;
    assert_eq!(
        world.ok(policy, source),
        json!({ "bytes": [1, 2, 255], "keys": ["kind", "modifiedMs", "size"], "same": true, "kind": "file" })
    );
}

/// Answers after `delay`, recording the order of the questions and whether two
/// were ever open at once.
#[derive(Debug, Default)]
struct Person {
    delay: Duration,
    asked: Mutex<Vec<String>>,
    open: AtomicBool,
    overlapped: AtomicBool,
}

impl Approver for Person {
    fn approve<'a>(&'a self, request: &'a ApprovalRequest) -> BoxFuture<'a, Approval> {
        Box::pin(async move {
            if self.open.swap(true, Ordering::SeqCst) {
                self.overlapped.store(true, Ordering::SeqCst);
            }
            self.asked
                .lock()
                .expect("lock")
                .push(request.args["path"].as_str().unwrap_or_default().to_owned());
            tokio::time::sleep(self.delay).await;
            self.open.store(false, Ordering::SeqCst);
            Approval::Once
        })
    }
}

#[test]
fn concurrent_asks_reach_the_person_one_at_a_time_in_call_order_and_others_go_on() {
    let world = World::new();
    let server = SlowServer::start(Duration::from_millis(400));
    let person = Arc::new(Person {
        delay: Duration::from_millis(300),
        ..Person::default()
    });
    let policy = server.policy("", "[[ask]]\ncall = \"fs.write-text\"\npath = [\"**\"]\n");
    let source = r#"
        const started = Date.now();
        const writes = ["one.txt", "two.txt", "three.txt"].map((p) => fs.writeText(p, p));
        const fetches = [1, 2].map((n) => http.fetchText(args.base + "/p" + n));
        const fetched = await Promise.all(fetches);
        const fetchedAfter = Date.now() - started;
        await Promise.all(writes);
        return { fetched, fetchedAfter };
    "#;
    let mut request = RunRequest::new(source);
    request.args_json = json!({ "base": server.url("") }).to_string();
    request.gate = world.gate(&policy);
    request.gate.approver = Arc::clone(&person) as Arc<dyn Approver>;
    // Three 300 ms questions are longer than the run may take: a person's
    // thinking time is not the script's.
    request.limits.timeout = Duration::from_millis(800);
    let outcome = common::runtime().block_on(world.sandbox.run(&request));
    let out: Json = serde_json::from_str(&outcome.result.expect("runs")).expect("JSON");
    assert_eq!(out["fetched"], json!(["page /p1", "page /p2"]));
    assert_eq!(
        *person.asked.lock().expect("lock"),
        ["one.txt", "two.txt", "three.txt"],
        "asked in the order the script made the calls"
    );
    assert!(
        !person.overlapped.load(Ordering::SeqCst),
        "two questions were open at once"
    );
    // The fetches did not wait for the 900 ms of questions.
    assert!(out["fetchedAfter"].as_u64().expect("ms") < 850, "{out}");
    for name in ["one.txt", "two.txt", "three.txt"] {
        assert!(world.workspace.join(name).is_file(), "{name} written");
    }
}
