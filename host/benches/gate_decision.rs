//! The policy decision the gate makes for every call, against a 50-rule policy.

use std::time::{Duration, Instant};

use clambot::policy::{Call, Policy, Usage};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

/// 50 rules of every kind the language has, with deny and ask rules for the same
/// functions interleaved, and the matching allow rule last.
fn fifty_rules() -> String {
    let mut text = String::from("version = 1\n");
    let mut add = |rule: String| text.push_str(&rule);
    for i in 0..15 {
        add(format!(
            "[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://api{i}.example.org/v{i}/**\", \"https://*.svc{i}.example.net/**\"]\nmethod = [\"GET\", \"POST\"]\nmax-calls = 50\n"
        ));
    }
    for i in 0..15 {
        add(format!(
            "[[allow]]\ncall = \"fs.read-text\"\npath = [\"data{i}/**\", \"notes{i}/*.md\"]\n"
        ));
    }
    for i in 0..5 {
        add(format!(
            "[[allow]]\ncall = \"memory.recall\"\nwhere = {{ \"limit\" = {{ le = {} }}, \"query\" = {{ prefix = \"topic{i}\" }} }}\n",
            10 + i
        ));
        add(format!(
            "[[deny]]\ncall = \"fs.*\"\npath = [\"secret{i}/**\"]\n"
        ));
        add(format!(
            "[[deny]]\ncall = \"http.*\"\nurl = [\"https://blocked{i}.example.com/**\"]\n"
        ));
    }
    for i in 0..4 {
        add(format!(
            "[[ask]]\ncall = \"http.fetch\"\nurl = [\"https://ask{i}.example.com/**\"]\nmethod = [\"POST\"]\n"
        ));
    }
    add("[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://api.coinbase.com/v2/prices/**\"]\nmethod = [\"GET\"]\n".into());
    text
}

fn bench(c: &mut Criterion) {
    let policy = Policy::parse("bench.toml", &fifty_rules()).expect("policy");
    assert_eq!(policy.rules().len(), 50);
    let allowed = json!({ "req": { "method": "GET", "url": "https://api.coinbase.com/v2/prices/BTC-USD/spot",
        "headers": [{ "name": "accept", "value": "application/json" }], "body": null, "bearer-secret": null } });
    let denied = json!({ "path": "secret3/keys.txt" });
    let unlisted = json!({ "req": { "method": "GET", "url": "https://nowhere.example.io/x",
        "headers": [], "body": null, "bearer-secret": null } });
    let fs_allowed = json!({ "path": "notes7/today.md" });
    let allowed_call = Call {
        interface: "http",
        function: "fetch",
        args: &allowed,
    };
    let unlisted_call = Call {
        interface: "http",
        function: "fetch",
        args: &unlisted,
    };
    let denied_call = Call {
        interface: "fs",
        function: "read-text",
        args: &denied,
    };
    let fs_call = Call {
        interface: "fs",
        function: "read-text",
        args: &fs_allowed,
    };

    // One `Usage` per benchmark, as one run keeps one across its calls (the
    // matching rules have no per-rule budget to exhaust).
    let mut group = c.benchmark_group("gate");
    let mut usage = Usage::default();
    group.bench_function("decide_50_rules_http_allowed_last", |b| {
        b.iter(|| policy.decide(&allowed_call, &mut usage))
    });
    group.bench_function("decide_50_rules_fs_allowed", |b| {
        b.iter(|| policy.decide(&fs_call, &mut usage))
    });
    group.bench_function("decide_50_rules_fs_denied", |b| {
        b.iter(|| policy.decide(&denied_call, &mut usage))
    });
    group.bench_function("decide_50_rules_http_default_deny", |b| {
        b.iter(|| policy.decide(&unlisted_call, &mut usage))
    });
    group.bench_function("fingerprint", |b| {
        b.iter(|| policy.scope(&allowed_call).fingerprint())
    });
    group.finish();

    percentiles("decide_50_rules_http_allowed_last", || {
        policy.decide(&allowed_call, &mut usage)
    });
    percentiles("decide_50_rules_http_default_deny", || {
        policy.decide(&unlisted_call, &mut usage)
    });
}

/// Times 20,000 single decisions and prints p50 and p99 in microseconds.
fn percentiles<T>(name: &str, mut decide: impl FnMut() -> T) {
    let mut times: Vec<Duration> = (0..20_000)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(decide());
            start.elapsed()
        })
        .collect();
    times.sort();
    let at = |q: f64| times[(times.len() as f64 * q) as usize].as_secs_f64() * 1e6;
    println!(
        "PERCENTILES {name}: p50 {:.2} us, p99 {:.2} us",
        at(0.5),
        at(0.99)
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
