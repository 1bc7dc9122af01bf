//! How fast a saved clam starts: the same script run from source (parsed and
//! compiled by QuickJS on every run) and from the bytecode saved with the clam.
//! Prints `CLAMSTART name median_us p99_us` lines.

use std::time::{Duration, Instant};

use clambot::sandbox::{RunRequest, Sandbox, SandboxConfig};

/// A clam of the size models write: helpers, parsing, formatting (about 3 KB).
fn typical_clam() -> String {
    let mut source = String::from("async function run(args) {\n  const rows = [];\n");
    for i in 0..12 {
        source.push_str(&format!(
            "  function step{i}(value, options = {{}}) {{\n    const scale = options.scale ?? {i} + 1;\n    if (typeof value !== 'number') {{ throw new TypeError('step{i}: ' + typeof value); }}\n    return Math.round((value * scale + {i}) * 100) / 100;\n  }}\n  rows.push(step{i}(args.n ?? 1));\n"
        ));
    }
    source.push_str("  return { rows, total: rows.reduce((a, b) => a + b, 0) };\n}\n");
    source
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e6
}

fn main() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let sandbox = Sandbox::new(&SandboxConfig {
        cache_dir: Some(root.join("target/bench-cache")),
        max_concurrent_runs: 4,
    })
    .expect("sandbox");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let word_stats = std::fs::read_to_string(root.join("clams/word-stats/clam.js")).expect("clam");
    let cases = [
        ("trivial", "return 1".to_owned()),
        ("word-stats (745 B)", word_stats),
        ("typical clam (3 KB)", typical_clam()),
        (
            "typical, parse only",
            format!("{}\nreturn 1;", typical_clam()),
        ),
    ];
    for (name, source) in cases {
        let mut request = RunRequest::new(source);
        request.args_json = r#"{"text": "a b a", "n": 2}"#.into();
        for _ in 0..200 {
            runtime
                .block_on(sandbox.run(&request))
                .result
                .expect("runs");
        }
        let mut samples: Vec<Duration> = (0..3_000)
            .map(|_| {
                let started = Instant::now();
                runtime
                    .block_on(sandbox.run(&request))
                    .result
                    .expect("runs");
                started.elapsed()
            })
            .collect();
        samples.sort();
        println!(
            "CLAMSTART {name:<24} source   median {:>7.1} µs  p99 {:>7.1} µs",
            percentile(&samples, 0.5),
            percentile(&samples, 0.99)
        );
        let bytecode = runtime
            .block_on(sandbox.compile(&request.source))
            .expect("compiles");
        let cancel = tokio_util::sync::CancellationToken::new();
        let from_source = runtime
            .block_on(sandbox.run(&request))
            .result
            .expect("runs");
        let compiled = runtime
            .block_on(sandbox.run_compiled(&request, &bytecode, &cancel))
            .result
            .expect("runs");
        assert_eq!(
            compiled, from_source,
            "{name}: bytecode and source disagree"
        );
        let mut samples: Vec<Duration> = (0..3_000)
            .map(|_| {
                let started = Instant::now();
                runtime
                    .block_on(sandbox.run_compiled(&request, &bytecode, &cancel))
                    .result
                    .expect("runs");
                started.elapsed()
            })
            .collect();
        samples.sort();
        println!(
            "CLAMSTART {name:<24} bytecode median {:>7.1} µs  p99 {:>7.1} µs  ({} bytes)",
            percentile(&samples, 0.5),
            percentile(&samples, 0.99),
            bytecode.len()
        );
    }
}
