//! The side-by-side workloads (`scripts/compare/*.js`) in the clambot sandbox,
//! in-process: a fresh instance per run, through the gate, the same policy as
//! the whole-process runs. Checks every result, then writes medians and p99s
//! to `target/bench-output/compare_inprocess.json` for `scripts/compare.py`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clambot::gate::{GateSetup, Implementations};
use clambot::policy::Policy;
use clambot::sandbox::{RunLimits, RunRequest, Sandbox, SandboxConfig};
use serde_json::{Value as Json, json};

/// The same host function the process runs use (see scripts/compare.py).
const PRELUDE: &str = "const host = (message) => log.writeSync(\"debug\", message);\n";

/// (workload, timed runs): the heavy ones take a third of a second each.
const WORKLOADS: &[(&str, usize)] = &[
    ("trivial", 2_000),
    ("json_1mb", 30),
    ("host_calls_1000", 300),
    ("string_loop", 20),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn expected(body: &str, key: &str) -> Option<String> {
    body.lines()
        .take_while(|l| l.starts_with("// expect"))
        .find_map(|l| l.strip_prefix(&format!("// {key}:")))
        .map(|v| v.trim().to_owned())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn main() {
    // `cargo bench` passes --bench; a filter argument selects workloads.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let root = root();
    let policy_text =
        std::fs::read_to_string(root.join("scripts/compare/policy.toml")).expect("policy");
    let policy = Policy::parse("scripts/compare/policy.toml", &policy_text)
        .expect("the compare policy parses");
    let limits = RunLimits {
        max_output: policy
            .run()
            .max_output
            .map_or(RunLimits::default().max_output, |m| m as usize),
        ..RunLimits::default()
    };
    let gate = GateSetup::with_policy(policy);
    let sandbox = Arc::new(
        Sandbox::with_implementations(
            &SandboxConfig {
                cache_dir: Some(root.join("target/bench-cache")),
                max_concurrent_runs: 4,
            },
            Implementations::standard(),
        )
        .expect("sandbox"),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let mut results = serde_json::Map::new();
    for &(name, runs) in WORKLOADS {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let body = std::fs::read_to_string(root.join(format!("scripts/compare/{name}.js")))
            .expect("workload");
        let expect: Json = serde_json::from_str(&expected(&body, "expect").expect("expect header"))
            .expect("expect is JSON");
        let host_calls: usize =
            expected(&body, "expect-host-calls").map_or(0, |v| v.parse().expect("a count"));
        let request = RunRequest {
            source: format!("{PRELUDE}{body}"),
            args_json: "{}".into(),
            limits,
            gate: gate.clone(),
        };
        // Warm-up, and the correctness check every timed run repeats.
        let check = |outcome: &clambot::sandbox::RunOutcome| {
            let value: Json =
                serde_json::from_str(outcome.result.as_ref().expect("the workload runs"))
                    .expect("JSON");
            assert_eq!(value, expect, "{name}: wrong result");
            assert_eq!(
                outcome.calls.len(),
                host_calls,
                "{name}: wrong number of host calls"
            );
        };
        for _ in 0..runs.min(5) {
            check(&runtime.block_on(sandbox.run(&request)));
        }
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            let started = Instant::now();
            let outcome = runtime.block_on(sandbox.run(&request));
            samples.push(started.elapsed());
            check(&outcome);
        }
        samples.sort();
        let (median, p99) = (percentile(&samples, 0.5), percentile(&samples, 0.99));
        println!("COMPARE {name:<16} median {median:>9.3} ms  p99 {p99:>9.3} ms  ({runs} runs)");
        results.insert(
            name.to_owned(),
            json!({"median_ms": (median * 1e4).round() / 1e4, "p99_ms": (p99 * 1e4).round() / 1e4, "runs": runs, "ok": true}),
        );
    }
    let out = root.join("target/bench-output");
    std::fs::create_dir_all(&out).expect("output dir");
    let path = out.join("compare_inprocess.json");
    // Keep other workloads' numbers when a filter ran only some.
    let mut all: serde_json::Map<String, Json> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    all.extend(results);
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&all).expect("json") + "\n",
    )
    .expect("write");
    println!("wrote {}", path.display());
}
