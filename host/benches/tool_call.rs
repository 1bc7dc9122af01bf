//! Tool component calls through the gate: runs that call each example tool —
//! Rust (`textkit`), JavaScript (`mdkit`), Python (`csvstats`) — once, and the
//! Rust one 100 times, against a trivial run, so the cost of a tool call (a fresh
//! tool instance from its snapshot, JSON ⇄ WIT both ways, the gate) is visible.

use std::path::PathBuf;

use clambot::components::Toolbox;
use clambot::gate::{GateSetup, Implementations};
use clambot::policy::Policy;
use clambot::sandbox::{RunRequest, Sandbox, SandboxConfig};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cache = root.join("target/bench-cache");
    let mut tables = String::new();
    for (name, imports) in [
        ("textkit", "[\"http\"]"),
        ("mdkit", "[]"),
        ("csvstats", "[]"),
    ] {
        let component = std::fs::read(root.join(format!("tools/{name}/{name}.wasm")))
            .unwrap_or_else(|e| panic!("tools/{name}: {e}"));
        tables += &format!(
            "[tools.{name}]\nsha256 = \"{}\"\nimports = {imports}\n[[allow]]\ncall = \"tools.{name}.*\"\n",
            clambot::sha256_hex(&component)
        );
    }
    let policy = Policy::parse("bench.toml", &format!("version = 1\n{tables}")).expect("policy");
    let mut implementations = Implementations::standard();
    let toolbox = Toolbox::load(
        &policy,
        &[root.join("tools")],
        &implementations,
        Some(&cache),
    )
    .expect("toolbox");
    assert!(toolbox.refused.is_empty(), "{:?}", toolbox.refused);
    toolbox.register(&mut implementations);
    let sandbox = Sandbox::with_implementations(
        &SandboxConfig {
            cache_dir: Some(cache),
            max_concurrent_runs: 8,
        },
        implementations,
    )
    .expect("sandbox");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let request = |source: &str| RunRequest {
        gate: GateSetup::with_policy(policy.clone()),
        ..RunRequest::new(source)
    };
    let run = |req: &RunRequest| {
        let outcome = rt.block_on(sandbox.run(req));
        assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    };
    let trivial = request("return 1+1");
    let rust = request("return tools.textkit.slugifySync('Hello, World', null)");
    let hundred = request(
        "let s = ''; for (let i = 0; i < 100; i++) s = tools.textkit.slugifySync('Hello ' + i, null); return s",
    );
    let js = request("return tools.mdkit.headingsSync('# Title\\n\\n## Part one\\n')");
    let python = request("return tools.csvstats.summarizeSync('a,b\\n1,2\\n3,4\\n', null)");
    let mut group = c.benchmark_group("tools");
    group.bench_function("trivial_run", |b| b.iter(|| run(&trivial)));
    group.bench_function("run_with_1_tool_call", |b| b.iter(|| run(&rust)));
    group.bench_function("run_with_100_tool_calls", |b| b.iter(|| run(&hundred)));
    group.bench_function("run_with_1_js_tool_call", |b| b.iter(|| run(&js)));
    group.bench_function("run_with_1_python_tool_call", |b| b.iter(|| run(&python)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
