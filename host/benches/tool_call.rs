//! Tool component calls through the gate: a run that calls the Rust example tool
//! (`tools/textkit`) once and 100 times, against a trivial run, so the cost of a
//! tool call (a fresh tool instance, JSON ⇄ WIT both ways, the gate) is visible.

use std::path::PathBuf;

use clambot::components::Toolbox;
use clambot::gate::{GateSetup, Implementations};
use clambot::policy::Policy;
use clambot::sandbox::{RunRequest, Sandbox, SandboxConfig};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let component = std::fs::read(root.join("tools/textkit/textkit.wasm")).expect("textkit");
    let policy = Policy::parse(
        "bench.toml",
        &format!(
            "version = 1\n[tools.textkit]\nsha256 = \"{}\"\nimports = [\"http\"]\n[[allow]]\ncall = \"tools.textkit.slugify\"\n",
            clambot::sha256_hex(&component)
        ),
    )
    .expect("policy");
    let mut implementations = Implementations::standard();
    let toolbox =
        Toolbox::load(&policy, &[root.join("tools")], &implementations, None).expect("toolbox");
    assert!(toolbox.refused.is_empty(), "{:?}", toolbox.refused);
    toolbox.register(&mut implementations);
    let sandbox = Sandbox::with_implementations(
        &SandboxConfig {
            cache_dir: Some(root.join("target/bench-cache")),
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
    let one = request("return tools.textkit.slugifySync('Hello, World', null)");
    let hundred = request(
        "let s = ''; for (let i = 0; i < 100; i++) s = tools.textkit.slugifySync('Hello ' + i, null); return s",
    );
    let mut group = c.benchmark_group("tools");
    group.bench_function("trivial_run", |b| b.iter(|| run(&trivial)));
    group.bench_function("run_with_1_tool_call", |b| b.iter(|| run(&one)));
    group.bench_function("run_with_100_tool_calls", |b| b.iter(|| run(&hundred)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
