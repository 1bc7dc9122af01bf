//! Sandbox benchmarks: a fresh instance per run, host calls through the gate.
//!
//! Besides criterion's estimates, `percentiles` prints p50/p99 over 2,000 single
//! runs for the headline numbers (targets in docs/performance.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use clambot::gate::GateSetup;
use clambot::policy::Policy;
use clambot::sandbox::{RunLimits, RunRequest, Sandbox, SandboxConfig};
use criterion::{Criterion, criterion_group, criterion_main};

fn sandbox() -> Sandbox {
    let cache = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-cache");
    Sandbox::new(&SandboxConfig {
        cache_dir: Some(cache),
        max_concurrent_runs: 128,
    })
    .expect("sandbox")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio")
}

fn allow_log() -> GateSetup {
    GateSetup::with_policy(
        Policy::parse(
            "bench.toml",
            "version = 1\n[[allow]]\ncall = \"log.write\"\n",
        )
        .expect("policy"),
    )
}

fn request(source: &str, gate: GateSetup) -> RunRequest {
    RunRequest {
        source: source.to_owned(),
        args_json: "{}".into(),
        limits: RunLimits {
            max_output: 64 * 1024 * 1024,
            ..RunLimits::default()
        },
        gate,
    }
}

const SYNC_CALLS: &str = "for (let i = 0; i < 1000; i++) log.writeSync('debug', 'x'); return 1";
const AWAITED_CALLS: &str =
    "for (let i = 0; i < 1000; i++) await log.write('debug', 'x'); return 1";
const DENIED_CALLS: &str = "let n = 0; for (let i = 0; i < 1000; i++) { try { fs.readTextSync('a') } catch (e) { n++ } } return n";

fn bench(c: &mut Criterion) {
    let sandbox = sandbox();
    let rt = runtime();
    let run = |req: &RunRequest| {
        let outcome = rt.block_on(sandbox.run(req));
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    };
    let empty = request("", GateSetup::deny_all());
    let trivial = request("return 1+1", GateSetup::deny_all());
    let sync_calls = request(SYNC_CALLS, allow_log());
    let awaited_calls = request(AWAITED_CALLS, allow_log());
    let denied_calls = request(DENIED_CALLS, GateSetup::deny_all());
    // The same calls with the audit trail `clambot run` keeps: a JSONL line and
    // an index row in the state database per call.
    let audit_home = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        clambot::store::Store::open(&audit_home.path().join("data/clambot.db")).expect("store"),
    );
    let mut audited = allow_log();
    audited.audit = Some(Arc::new(
        clambot::gate::audit::AuditLog::open(&audit_home.path().join("data/audit"))
            .expect("audit")
            .with_index(store),
    ));
    let audited_calls = request(SYNC_CALLS, audited);

    let mut group = c.benchmark_group("sandbox");
    group.bench_function("instantiate", |b| {
        b.iter(|| rt.block_on(sandbox.probe()).expect("probe"))
    });
    group.bench_function("instantiate_empty_run", |b| b.iter(|| run(&empty)));
    group.bench_function("trivial_run", |b| b.iter(|| run(&trivial)));
    group.sample_size(30);
    group.bench_function("sync_host_calls_1000", |b| b.iter(|| run(&sync_calls)));
    group.bench_function("sync_host_calls_1000_audited", |b| {
        b.iter(|| run(&audited_calls))
    });
    group.bench_function("awaited_host_calls_1000", |b| {
        b.iter(|| run(&awaited_calls))
    });
    group.bench_function("denied_host_calls_1000", |b| b.iter(|| run(&denied_calls)));
    group.bench_function("parallel_trivial_runs_64", |b| {
        let sandbox = Arc::new(self::sandbox());
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..64)
                    .map(|_| {
                        let (sandbox, req) = (Arc::clone(&sandbox), trivial.clone());
                        tokio::spawn(async move { sandbox.run(&req).await.result.is_ok() })
                    })
                    .collect();
                for task in tasks {
                    assert!(task.await.expect("task"));
                }
            })
        })
    });
    group.finish();

    percentiles("instantiate", 2000, || {
        rt.block_on(sandbox.probe()).expect("probe")
    });
    percentiles("instantiate_empty_run", 2000, || run(&empty));
    percentiles("trivial_run", 2000, || run(&trivial));
}

/// Times `n` single calls and prints p50 and p99 in microseconds.
fn percentiles(name: &str, n: usize, mut f: impl FnMut()) {
    for _ in 0..100 {
        f();
    }
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    let at = |q: f64| times[((n as f64 * q) as usize).min(n - 1)].as_secs_f64() * 1e6;
    println!(
        "PERCENTILES {name}: p50 {:.1} us, p99 {:.1} us",
        at(0.50),
        at(0.99)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
