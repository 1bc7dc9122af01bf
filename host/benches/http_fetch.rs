//! An allowed `http.fetch` to a loopback server through guest + gate + the http
//! tool, against the same request made directly with reqwest.
//!
//! The server speaks HTTP/1.1 with keep-alive, so both sides reuse a connection:
//! what is compared is the per-request work, not TCP setup.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;

use clambot::gate::GateSetup;
use clambot::policy::Policy;
use clambot::sandbox::{RunRequest, Sandbox, SandboxConfig};
use clambot::secrets::SecretStore;
use clambot::store::Store;
use clambot::tools::http::Http;
use criterion::{Criterion, criterion_group, criterion_main};

fn serve_keep_alive() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut writer = stream;
                let mut line = String::new();
                loop {
                    // Read one request head (these requests have no body).
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 17\r\n\r\n{\"price\": 91234}\n";
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
    let port = serve_keep_alive();
    let url = format!("http://127.0.0.1:{port}/v2/price");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::in_memory().expect("store"));
    let secrets = Arc::new(SecretStore::in_memory());
    let implementations = clambot::tools::standard(
        &dir.path().join("workspace"),
        &store,
        &secrets,
        Http::new(Arc::clone(&secrets)),
    )
    .expect("tools");
    let cache = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-cache");
    let sandbox = Sandbox::with_implementations(
        &SandboxConfig {
            cache_dir: Some(cache),
            max_concurrent_runs: 4,
        },
        implementations,
    )
    .expect("sandbox");
    let policy = Policy::parse(
        "bench.toml",
        &format!(
            "version = 1\n[[allow]]\ncall = \"http.fetch\"\nurl = [\"http://127.0.0.1:{port}/v2/**\"]\n[net]\nallow-private = [\"127.0.0.1:{port}\"]\n"
        ),
    )
    .expect("policy");
    let gate = GateSetup::with_policy(policy);
    let request = |fetches: usize| {
        let mut r = RunRequest::new(format!(
            "let s = 0; for (let i = 0; i < {fetches}; i++) {{ const r = await http.fetch({{ method: 'GET', url: '{url}', headers: [], body: null, bearerSecret: null }}); s += r.status; }} return s"
        ));
        r.gate = gate.clone();
        r
    };
    let (one, ten, trivial) = (request(1), request(10), {
        let mut r = RunRequest::new("return 1");
        r.gate = gate.clone();
        r
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    // Sanity: the fetch works before it is timed.
    let check = rt.block_on(sandbox.run(&one));
    assert_eq!(check.result.as_deref(), Ok("200"), "{:?}", check.result);

    // The same client the http tool builds, without the gate and the guest.
    let client = clambot::net::client::build(&Default::default()).expect("client");
    let mut group = c.benchmark_group("http");
    group.bench_function("guest_trivial_run", |b| {
        b.iter(|| rt.block_on(sandbox.run(&trivial)))
    });
    group.bench_function("guest_gate_fetch_1", |b| {
        b.iter(|| rt.block_on(sandbox.run(&one)))
    });
    group.bench_function("guest_gate_fetch_10", |b| {
        b.iter(|| rt.block_on(sandbox.run(&ten)))
    });
    group.bench_function("direct_reqwest", |b| {
        b.iter(|| {
            rt.block_on(async {
                let response = client.get(&url).send().await.expect("send");
                response.bytes().await.expect("body")
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
