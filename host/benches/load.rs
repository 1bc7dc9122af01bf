//! Load and soak (not criterion): 1,000 concurrent runs, throughput of fresh
//! runs on this machine, RSS per live instance, and RSS over 100,000 sequential
//! runs. Prints `LOAD name value unit` lines that `scripts/performance_report.py`
//! reads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clambot::gate::{BoxFuture, GateSetup, HostInterface, Implementations, RunContext, ToolError};
use clambot::policy::Policy;
use clambot::sandbox::{RunRequest, Sandbox, SandboxConfig};
use serde_json::Value as Json;

/// A `log` that takes its time, so runs stay alive together while it waits.
#[derive(Debug)]
struct SlowLog(Duration);

impl HostInterface for SlowLog {
    fn call<'a>(
        &'a self,
        _function: &'a str,
        _args: Json,
        _run: &'a RunContext,
    ) -> BoxFuture<'a, Result<Json, ToolError>> {
        Box::pin(async move {
            tokio::time::sleep(self.0).await;
            Ok(Json::Null)
        })
    }
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn sandbox(concurrent: u32, implementations: Implementations) -> Arc<Sandbox> {
    let cache = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-cache");
    Arc::new(
        Sandbox::with_implementations(
            &SandboxConfig {
                cache_dir: Some(cache),
                max_concurrent_runs: concurrent,
            },
            implementations,
        )
        .expect("sandbox"),
    )
}

fn request(source: &str, gate: &GateSetup) -> RunRequest {
    let mut r = RunRequest::new(source);
    r.gate = gate.clone();
    r
}

async fn run_all(sandbox: &Arc<Sandbox>, request: &RunRequest, n: usize) -> usize {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (sandbox, request) = (Arc::clone(sandbox), request.clone());
            tokio::spawn(async move { sandbox.run(&request).await.result.is_ok() })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        ok += usize::from(task.await.expect("task"));
    }
    ok
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let allow_log = GateSetup::with_policy(
        Policy::parse(
            "load.toml",
            "version = 1\n[[allow]]\ncall = \"log.write\"\n",
        )
        .expect("policy"),
    );

    // 1,000 concurrent runs, each waiting on a host call, all live at once.
    let mut slow = Implementations::standard();
    slow.insert("log", Arc::new(SlowLog(Duration::from_millis(1500))));
    let live = sandbox(1000, slow);
    let waiting = request("await log.write('info', 'x'); return 1", &allow_log);
    rt.block_on(run_all(&live, &waiting, 4)); // warm
    let before = rss_kib();
    let started = Instant::now();
    let (ok, during) = rt.block_on(async {
        let runs = tokio::spawn({
            let (live, waiting) = (Arc::clone(&live), waiting.clone());
            async move { run_all(&live, &waiting, 1000).await }
        });
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let during = rss_kib();
        (runs.await.expect("runs"), during)
    });
    println!("LOAD concurrent_1000_ok {ok} runs");
    println!(
        "LOAD concurrent_1000_elapsed {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "LOAD rss_per_live_instance {:.0} KiB",
        during.saturating_sub(before) as f64 / 1000.0
    );
    drop(live);

    // Throughput: fresh trivial runs, 64 in flight, on this machine's cores.
    let fast = sandbox(128, Implementations::standard());
    let trivial = request("return 1+1", &GateSetup::deny_all());
    rt.block_on(run_all(&fast, &trivial, 1000));
    let n = 20_000;
    let started = Instant::now();
    let ok = rt.block_on(async {
        let mut ok = 0;
        for _ in 0..n / 64 {
            ok += run_all(&fast, &trivial, 64).await;
        }
        ok
    });
    let secs = started.elapsed().as_secs_f64();
    println!("LOAD throughput_ok {ok} runs");
    println!("LOAD throughput {:.0} runs/s", ok as f64 / secs);

    // Soak: 100,000 sequential runs; RSS must stay flat.
    let soak = 100_000;
    let mut marks = Vec::new();
    rt.block_on(async {
        for i in 0..soak {
            if i == 1_000 || i == soak / 2 {
                marks.push(rss_kib());
            }
            let outcome = fast.run(&trivial).await;
            assert!(outcome.result.is_ok(), "run {i}: {:?}", outcome.result);
        }
    });
    marks.push(rss_kib());
    println!("LOAD soak_rss_start {} KiB", marks[0]);
    println!("LOAD soak_rss_middle {} KiB", marks[1]);
    println!("LOAD soak_rss_end {} KiB", marks[2]);
}
