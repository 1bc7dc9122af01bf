//! Saved clams run from QuickJS bytecode: the same results, errors and gate
//! decisions as from source, and damaged bytecode never harms the host.

mod common;

use std::time::{Duration, Instant};

use clambot::sandbox::bytecode::BytecodeCache;
use clambot::sandbox::{RunError, RunRequest};
use common::{runtime, sandbox};
use tokio_util::sync::CancellationToken;

fn both_ways(source: &str, args: &str) -> (Result<String, RunError>, Result<String, RunError>) {
    let mut request = RunRequest::new(source);
    request.args_json = args.into();
    let rt = runtime();
    let from_source = rt.block_on(sandbox().run(&request)).result;
    let bytecode = rt.block_on(sandbox().compile(source)).expect("compiles");
    let compiled = rt
        .block_on(sandbox().run_compiled(&request, &bytecode, &CancellationToken::new()))
        .result;
    (from_source, compiled)
}

#[test]
fn bytecode_runs_like_source() {
    for (source, args) in [
        ("return args.a + args.b", r#"{"a": 1, "b": 2}"#),
        (
            "async function run(args) { return { hi: args.name }; }",
            r#"{"name": "Ada"}"#,
        ),
        ("const xs = [3, 1, 2]; xs.sort(); return xs.join('-')", "{}"),
        ("x = 5; return x * 2", "{}"), // sloppy mode, as from source
        (
            "return await Promise.all([1, 2].map(async n => n * 10))",
            "{}",
        ),
        ("return 'ünïcödé ✓'.toUpperCase()", "{}"),
        ("\n\nthrow new TypeError('third line')", "{}"),
        ("null.x", "{}"),
        (
            "return http.fetchSync({method: 'GET', url: 'https://example.com', headers: []})",
            "{}",
        ),
    ] {
        let (from_source, compiled) = both_ways(source, args);
        assert_eq!(compiled, from_source, "{source}");
    }
    // Errors keep their positions and the denial its rule.
    let (_, thrown) = both_ways("\n\nthrow new TypeError('third line')", "{}");
    let Err(RunError::Script(failure)) = thrown else {
        panic!("{thrown:?}")
    };
    assert_eq!((failure.line, failure.column), (Some(3), Some(11)));
    let (_, denied) = both_ways(
        "return http.fetchSync({method: 'GET', url: 'https://example.com', headers: []})",
        "{}",
    );
    assert!(
        denied.as_ref().is_err_and(RunError::is_denial),
        "{denied:?}"
    );
}

#[test]
fn a_syntax_error_is_reported_at_compile_time() {
    let error = runtime()
        .block_on(sandbox().compile("return ("))
        .expect_err("syntax error");
    let RunError::Script(failure) = error else {
        panic!("{error:?}")
    };
    assert_eq!(failure.kind, "syntax");
}

#[test]
fn damaged_bytecode_is_an_error_and_the_host_keeps_serving() {
    let rt = runtime();
    let request = RunRequest::new("return 1");
    let good = rt
        .block_on(sandbox().compile("return 41 + 1"))
        .expect("compiles");
    let cancel = CancellationToken::new();
    let mut cases: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"not bytecode".to_vec(),
        good[..good.len() / 2].to_vec(),
    ];
    // Flip bytes through the whole buffer.
    for i in (0..good.len()).step_by(7) {
        let mut damaged = good.clone();
        damaged[i] ^= 0x5a;
        cases.push(damaged);
    }
    for bytes in &cases {
        // Whatever damaged bytecode does, it stays in its instance: an error or a
        // trap, never a crash of the host.
        let _ = rt
            .block_on(sandbox().run_compiled(&request, bytes, &cancel))
            .result;
    }
    let ok = rt
        .block_on(sandbox().run_compiled(&request, &good, &cancel))
        .result;
    assert_eq!(ok.as_deref(), Ok("42"));
    assert_eq!(
        rt.block_on(sandbox().run(&request)).result.as_deref(),
        Ok("1")
    );
}

#[test]
fn a_compiled_busy_loop_is_cancelled() {
    let rt = runtime();
    let source = "while (true) {}";
    let bytecode = rt.block_on(sandbox().compile(source)).expect("compiles");
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        trigger.cancel();
    });
    let started = Instant::now();
    let outcome = rt.block_on(sandbox().run_compiled(&RunRequest::new(source), &bytecode, &cancel));
    assert_eq!(outcome.result, Err(RunError::Cancelled));
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn the_cache_compiles_once_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = runtime();
    let source = "return 'cached'";
    let first = BytecodeCache::new(Some(dir.path().to_owned()));
    let bytecode = rt.block_on(first.get(sandbox(), source)).expect("compiles");
    let files: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(files.len(), 1);
    // A new process finds it on disk; a damaged file is compiled again.
    let second = BytecodeCache::new(Some(dir.path().to_owned()));
    assert_eq!(
        rt.block_on(second.get(sandbox(), source)).expect("cached"),
        bytecode
    );
    let path = files[0].as_ref().expect("entry").path();
    let mut damaged = std::fs::read(&path).expect("read");
    damaged[0] ^= 1;
    std::fs::write(&path, damaged).expect("damage");
    let third = BytecodeCache::new(Some(dir.path().to_owned()));
    assert_eq!(
        rt.block_on(third.get(sandbox(), source))
            .expect("recompiled"),
        bytecode
    );
}
