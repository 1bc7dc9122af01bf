//! Properties of the sandbox that need more than one run, the import list, or
//! timing: tested against the real guest in a real wasmtime instance.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use clambot::gate::audit::Verdict;
use clambot::gate::{GateSetup, Implementations};
use clambot::policy::Policy;
use clambot::sandbox::{CacheStatus, RunError, RunLimits, RunRequest, Sandbox, SandboxConfig};
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

/// The WASI interfaces the guest may import: streams, clocks, stdio, exit and the
/// insecure seed. Environment and terminal are linked empty by the host.
const ALLOWED_WASI: &[&str] = &[
    "wasi:io/error@0.2.4",
    "wasi:io/poll@0.2.4",
    "wasi:io/streams@0.2.4",
    "wasi:clocks/monotonic-clock@0.2.4",
    "wasi:clocks/wall-clock@0.2.4",
    "wasi:cli/environment@0.2.4",
    "wasi:cli/exit@0.2.4",
    "wasi:cli/stdin@0.2.4",
    "wasi:cli/stdout@0.2.4",
    "wasi:cli/stderr@0.2.4",
    "wasi:cli/terminal-input@0.2.4",
    "wasi:cli/terminal-output@0.2.4",
    "wasi:cli/terminal-stdin@0.2.4",
    "wasi:cli/terminal-stdout@0.2.4",
    "wasi:cli/terminal-stderr@0.2.4",
    "wasi:random/insecure-seed@0.2.4",
];

/// The `sandbox` world's interfaces, read from `wit/sandbox.wit`.
fn world_imports() -> BTreeSet<String> {
    let wit = std::fs::read_to_string(common::repo_root().join("wit/sandbox.wit"))
        .expect("wit/sandbox.wit");
    wit.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("import ")?
                .strip_suffix(';')
                .map(str::to_owned)
        })
        .map(|name| format!("clambot:host/{name}@0.1.0"))
        .collect()
}

fn guest_imports() -> Vec<(String, ComponentItem)> {
    let engine = common::sandbox().engine();
    let component = Component::new(engine, clambot::GUEST_COMPONENT).expect("the guest compiles");
    component
        .component_type()
        .imports(engine)
        .map(|(name, item)| (name.to_owned(), item.ty))
        .collect()
}

#[test]
fn guest_imports_exactly_the_sandbox_world_and_minimal_wasi() {
    let imports: BTreeSet<String> = guest_imports().into_iter().map(|(name, _)| name).collect();
    let mut expected = world_imports();
    assert_eq!(
        expected.len(),
        9,
        "the sandbox world imports http, fs, cron, memory, secrets, log, components, mcp, calls"
    );
    // Pulled in by `use types.{error}`; it has types only, no functions.
    expected.insert("clambot:host/types@0.1.0".into());
    expected.extend(ALLOWED_WASI.iter().map(|s| (*s).to_owned()));
    assert_eq!(imports, expected);
    for forbidden in [
        "wasi:filesystem",
        "wasi:sockets",
        "wasi:http",
        "wasi:random/random",
    ] {
        assert!(
            !imports.iter().any(|i| i.starts_with(forbidden)),
            "{forbidden} must not be imported"
        );
    }
}

#[test]
fn scripts_see_no_process_environment_or_arguments() {
    // The environment interface is imported by Rust's std; the host links it empty.
    let outcome =
        common::run_source("return typeof globalThis.process + ':' + typeof globalThis.scriptArgs");
    assert_eq!(outcome.result.expect("runs"), "\"undefined:undefined\"");
}

/// Every function of every host interface, as `(interface, wit-name)`.
fn host_functions() -> Vec<(String, String)> {
    let engine = common::sandbox().engine();
    let mut functions = Vec::new();
    for (name, item) in guest_imports() {
        let Some(rest) = name.strip_prefix("clambot:host/") else {
            continue;
        };
        let interface = rest.split('@').next().expect("name").to_owned();
        // Reached only through the `tools` and `mcp` globals, and tested in
        // tests/components.rs and tests/mcp_client.rs; `calls` is how the guest
        // overlaps the others (tests/concurrent.rs).
        if interface == "components" || interface == "mcp" || interface == "calls" {
            continue;
        }
        let ComponentItem::ComponentInstance(instance) = item else {
            panic!("{name} is an interface")
        };
        for (function, item) in instance.exports(engine) {
            if matches!(item.ty, ComponentItem::ComponentFunc(_)) {
                functions.push((interface.clone(), function.to_owned()));
            }
        }
    }
    functions
}

/// Arguments that pass the guest's type checks for each function, so the call
/// reaches the gate.
fn sample_args(interface: &str, function: &str) -> &'static str {
    match (interface, function) {
        ("http", "fetch") => r#"{method: "GET", url: "https://example.org/", headers: []}"#,
        ("fs", "write-text" | "append-text") => r#""a.txt", "x""#,
        ("fs", "write-bytes") => r#""a.bin", new Uint8Array([1, 2])"#,
        ("fs", "edit") => r#""a.txt", "x", "y""#,
        ("fs", "move") => r#""a.txt", "b.txt""#,
        ("cron", "add") => {
            r#"{name: "j", schedule: {every: 60}, action: {prompt: "hi"}, once: false}"#
        }
        ("cron", "list") | ("secrets", "list") => "",
        ("memory", "recall" | "search-history") => r#""q", 5"#,
        ("log", "write") => r#""info", "hello""#,
        _ => r#""x""#,
    }
}

#[test]
fn every_host_import_is_denied_by_default_with_a_catchable_tool_error() {
    let functions = host_functions();
    assert!(
        functions.len() >= 25,
        "found only {} host functions",
        functions.len()
    );
    for sync in [false, true] {
        let mut script = String::from("const seen = [];\n");
        for (interface, function) in &functions {
            let method = clambot::components::camel_case(function) + if sync { "Sync" } else { "" };
            let args = sample_args(interface, function);
            let call = if sync {
                format!("{interface}.{method}({args})")
            } else {
                format!("await {interface}.{method}({args})")
            };
            script.push_str(&format!(
                "try {{ {call}; seen.push('{interface}.{function}: allowed'); }} \
                 catch (e) {{ seen.push(`{interface}.{function}: ${{e instanceof ToolError}} ${{e.code}} ${{e.rule}}`); }}\n"
            ));
        }
        script.push_str("return seen;");
        let outcome = common::run_source(&script);
        let seen: Vec<String> =
            serde_json::from_str(&outcome.result.expect("the script runs")).expect("json");
        let expected: Vec<String> = functions
            .iter()
            .map(|(i, f)| format!("{i}.{f}: true denied default-deny"))
            .collect();
        assert_eq!(seen, expected);
        assert_eq!(
            outcome.calls.len(),
            functions.len(),
            "every call reached the gate"
        );
        assert!(
            outcome
                .calls
                .iter()
                .all(|c| c.verdict == Verdict::Deny && c.error == Some("denied"))
        );
    }
}

#[test]
fn infinite_loop_stops_within_100ms_of_its_deadline_and_the_host_serves_the_next_run() {
    let timeout = Duration::from_millis(300);
    let mut request = RunRequest::new("while (true) {}");
    request.limits.timeout = timeout;
    let started = Instant::now();
    let outcome = common::run(&request);
    let elapsed = started.elapsed();
    assert_eq!(outcome.result, Err(RunError::Timeout(timeout)));
    assert!(
        elapsed < timeout + Duration::from_millis(100),
        "stopped after {elapsed:?}"
    );
    assert_eq!(
        common::run_source("return 'next'")
            .result
            .expect("next run"),
        "\"next\""
    );
}

#[test]
fn memory_bomb_is_a_clean_error_and_the_host_survives() {
    let mut request = RunRequest::new("const a = []; while (true) a.push(new Array(1e5).fill(1));");
    request.limits.memory = 32 * 1024 * 1024;
    let outcome = common::run(&request);
    assert_eq!(outcome.result, Err(RunError::OutOfMemory(32 * 1024 * 1024)));
    assert_eq!(
        common::run_source("return [1,2,3].length")
            .result
            .expect("next run"),
        "3"
    );
}

#[test]
fn deep_recursion_is_a_clean_error_and_the_host_survives() {
    let outcome = common::run_source("function f(n) { return f(n + 1) + 1 } return f(0)");
    assert_eq!(outcome.result, Err(RunError::StackOverflow));
    assert_eq!(
        common::run_source("return 'alive'")
            .result
            .expect("next run"),
        "\"alive\""
    );
}

#[test]
fn a_global_set_in_one_run_is_absent_in_the_next() {
    let first = common::run_source(
        "globalThis.leak = 'secret'; Array.prototype.polluted = 1; Object.prototype.evil = 2; return typeof leak",
    );
    assert_eq!(first.result.expect("first run"), "\"string\"");
    let second =
        common::run_source("return [typeof globalThis.leak, typeof [].polluted, typeof ({}).evil]");
    assert_eq!(
        second.result.expect("second run"),
        r#"["undefined","undefined","undefined"]"#
    );
}

#[test]
fn output_flood_is_truncated_with_a_marker_and_bounded() {
    let mut request = RunRequest::new("while (true) console.log('x'.repeat(1000))");
    request.limits.max_output = 64 * 1024;
    let outcome = common::run(&request);
    assert_eq!(outcome.result, Err(RunError::OutputLimit(64 * 1024)));
    assert!(outcome.console.truncated);
    let text = outcome.console.text();
    assert!(
        text.len() <= 64 * 1024 + 200,
        "captured {} bytes",
        text.len()
    );
    assert!(text.ends_with("…[output truncated: the run's limit of 64.0 KiB was reached]\n"));
}

#[test]
fn result_over_its_limit_is_refused() {
    let mut request = RunRequest::new("return 'x'.repeat(10000)");
    request.limits.max_result = 1000;
    let outcome = common::run(&request);
    assert_eq!(
        outcome.result,
        Err(RunError::ResultTooLarge {
            size: 10002,
            limit: 1000
        })
    );
}

#[test]
fn concurrent_runs_are_isolated() {
    let runtime = common::runtime();
    let outcomes = runtime.block_on(async {
        let runs = (0..40).map(|i| {
            let mut request = RunRequest::new(
                "globalThis.mine = args.i; await Promise.resolve(); \
                 let s = 0; for (let k = 0; k < 20000; k++) s += k; return [mine, s]",
            );
            request.args_json = format!("{{\"i\": {i}}}");
            async move { common::sandbox().run(&request).await }
        });
        futures_join_all(runs).await
    });
    for (i, outcome) in outcomes.into_iter().enumerate() {
        assert_eq!(outcome.result.expect("runs"), format!("[{i},199990000]"));
    }
}

async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("task"));
    }
    outputs
}

fn with_policy(source: &str, policy: &str) -> RunRequest {
    let mut request = RunRequest::new(source);
    request.gate =
        GateSetup::with_policy(Policy::parse("test.toml", policy).expect("test policy parses"));
    request
}

#[test]
fn an_allowed_call_reaches_its_implementation_and_a_denied_one_does_not() {
    let request = with_policy(
        "await log.write('warn', 'careful'); log.writeSync('info', 'done'); \
         try { await fs.readText('x') } catch (e) { return [e.code, e.rule] }",
        "version = 1\n[[allow]]\ncall = \"log.*\"\n",
    );
    let outcome = common::run(&request);
    assert_eq!(
        outcome.result.expect("runs"),
        r#"["denied","default-deny"]"#
    );
    assert_eq!(
        outcome.console.text(),
        "[log:warn] careful\n[log:info] done\n"
    );
    let decisions: Vec<_> = outcome
        .calls
        .iter()
        .map(|c| (c.function.as_str(), c.allowed()))
        .collect();
    assert_eq!(
        decisions,
        [
            ("log.write", true),
            ("log.write", true),
            ("fs.read-text", false)
        ]
    );
}

#[test]
fn an_allowed_call_without_an_implementation_fails_instead_of_succeeding() {
    let request = with_policy(
        "try { await secrets.list() } catch (e) { return [e.code, e.message] }",
        "version = 1\n[[allow]]\ncall = \"secrets.list\"\n",
    );
    let outcome = common::run(&request);
    let value: serde_json::Value =
        serde_json::from_str(&outcome.result.expect("runs")).expect("json");
    assert_eq!(value[0], "failed");
    assert!(
        value[1]
            .as_str()
            .expect("message")
            .contains("no implementation of the `secrets` interface")
    );
}

#[test]
fn precompiled_guest_is_cached_and_a_corrupt_entry_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SandboxConfig {
        cache_dir: Some(dir.path().to_owned()),
        max_concurrent_runs: 2,
    };
    let first =
        Sandbox::with_implementations(&config, Implementations::default()).expect("first load");
    let CacheStatus::Stored(path) = first.cache_status().clone() else {
        panic!("expected a new cache entry, got {:?}", first.cache_status())
    };
    let second =
        Sandbox::with_implementations(&config, Implementations::default()).expect("second load");
    assert_eq!(second.cache_status(), &CacheStatus::Hit(path.clone()));

    std::fs::write(&path, b"not a precompiled component").expect("corrupt the entry");
    let third =
        Sandbox::with_implementations(&config, Implementations::default()).expect("third load");
    assert_eq!(third.cache_status(), &CacheStatus::Stored(path));
    let outcome = common::runtime().block_on(third.run(&RunRequest::new("return 7")));
    assert_eq!(outcome.result.expect("runs"), "7");
}

#[test]
fn bad_args_json_is_reported_not_guessed() {
    let mut request = RunRequest::new("return args");
    request.args_json = "{not json".into();
    let outcome = common::run(&request);
    let Err(RunError::Script(failure)) = outcome.result else {
        panic!("expected a script error")
    };
    assert_eq!(failure.kind, "args");
}

#[test]
fn limits_default_to_the_documented_values() {
    let limits = RunLimits::default();
    assert_eq!(limits.timeout, Duration::from_secs(30));
    assert_eq!(limits.memory, 64 * 1024 * 1024);
}

#[test]
fn the_build_time_guest_hash_is_the_embedded_component_s() {
    assert_eq!(
        clambot::GUEST_SHA256,
        clambot::sha256_hex(clambot::GUEST_COMPONENT)
    );
}
