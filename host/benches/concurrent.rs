//! Concurrent host calls (docs/concurrency.md): `Promise.all` over 8 and 64
//! fetches to a loopback server that answers each request after 100 ms, against
//! one fetch (the slowest single call) and against the same 8 made with the
//! blocking twin; and tool component calls made concurrently against one after
//! another. The awaited-call overhead with nothing concurrent is
//! `runs`' `awaited_host_calls_1000`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clambot::components::Toolbox;
use clambot::gate::GateSetup;
use clambot::policy::Policy;
use clambot::sandbox::{RunRequest, Sandbox, SandboxConfig};
use clambot::secrets::SecretStore;
use clambot::store::Store;
use clambot::tools::http::Http;
use criterion::{Criterion, criterion_group, criterion_main};

/// How long the server takes to answer each request.
const DELAY: Duration = Duration::from_millis(100);

/// A keep-alive HTTP/1.1 server on loopback answering every request after `DELAY`.
fn serve_delayed() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut writer = stream;
                let mut line = String::new();
                loop {
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    std::thread::sleep(DELAY);
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nok\n";
                    if writer.write_all(reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn bench(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let cache = root.join("target/bench-cache");
    let port = serve_delayed();
    let url = format!("http://127.0.0.1:{port}/item");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::in_memory().expect("store"));
    let secrets = Arc::new(SecretStore::in_memory());
    let mut implementations = clambot::tools::standard(
        &dir.path().join("workspace"),
        &store,
        &secrets,
        Http::new(Arc::clone(&secrets)),
    )
    .expect("tools");
    let textkit = std::fs::read(root.join("tools/textkit/textkit.wasm")).expect("textkit");
    let policy = Policy::parse(
        "bench.toml",
        &format!(
            "version = 1\n[run]\nmax-concurrent = 64\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://127.0.0.1:{port}/**\"]\n\
             [tools.textkit]\nsha256 = \"{}\"\nimports = [\"http\"]\n[[allow]]\ncall = \"tools.textkit.*\"\n\
             [net]\nallow-private = [\"127.0.0.1:{port}\"]\n",
            clambot::sha256_hex(&textkit)
        ),
    )
    .expect("policy");
    let toolbox = Toolbox::load(
        &policy,
        &[root.join("tools")],
        &implementations,
        Some(&cache),
    )
    .expect("toolbox");
    toolbox.register(&mut implementations);
    let sandbox = Sandbox::with_implementations(
        &SandboxConfig {
            cache_dir: Some(cache),
            max_concurrent_runs: 8,
        },
        implementations,
    )
    .expect("sandbox");
    let gate = GateSetup::with_policy(policy);
    let request = |source: String| RunRequest {
        gate: gate.clone(),
        ..RunRequest::new(source)
    };
    let fetch = format!("http.fetch({{ method: 'GET', url: '{url}', headers: [] }})");
    let concurrent = |n: usize| {
        request(format!(
            "const rs = await Promise.all(Array.from({{ length: {n} }}, () => {fetch})); \
             return rs.filter((r) => r.status === 200).length"
        ))
    };
    let one = request(format!("return (await {fetch}).status === 200 ? 1 : 0"));
    let (eight, sixty_four) = (concurrent(8), concurrent(64));
    let eight_blocking = request(format!(
        "let n = 0; for (let i = 0; i < 8; i++) if (http.fetchSync({{ method: 'GET', url: '{url}', headers: [] }}).status === 200) n++; return n"
    ));
    let words = "'the cat and the hat sat on the mat '.repeat(2000)";
    let tools_concurrent = request(format!(
        "const all = await Promise.all(Array.from({{ length: 8 }}, () => tools.textkit.countWords({words}, 3))); return all.length"
    ));
    let tools_sequential = request(format!(
        "let n = 0; for (let i = 0; i < 8; i++) {{ await tools.textkit.countWords({words}, 3); n++; }} return n"
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let run = |req: &RunRequest, expected: &str| {
        let outcome = rt.block_on(sandbox.run(req));
        assert_eq!(
            outcome.result.as_deref(),
            Ok(expected),
            "{:?}",
            outcome.result
        );
    };
    let mut group = c.benchmark_group("concurrent");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("fetch_1_of_100ms", |b| b.iter(|| run(&one, "1")));
    group.bench_function("fetch_8_concurrent_of_100ms", |b| {
        b.iter(|| run(&eight, "8"))
    });
    group.bench_function("fetch_64_concurrent_of_100ms", |b| {
        b.iter(|| run(&sixty_four, "64"))
    });
    group.bench_function("fetch_8_blocking_of_100ms", |b| {
        b.iter(|| run(&eight_blocking, "8"))
    });
    group.bench_function("tools_8_concurrent", |b| {
        b.iter(|| run(&tools_concurrent, "8"))
    });
    group.bench_function("tools_8_sequential", |b| {
        b.iter(|| run(&tools_sequential, "8"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
