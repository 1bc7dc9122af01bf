//! Shared by the integration tests: one sandbox per test binary, with its
//! precompiled guest cached under the target directory.

#![allow(dead_code, reason = "each test binary uses a different part")]

use std::path::PathBuf;
use std::sync::OnceLock;

use clambot::sandbox::{RunOutcome, RunRequest, Sandbox, SandboxConfig};

pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("clambot-test-cache")
}

pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        Sandbox::new(&SandboxConfig {
            cache_dir: Some(cache_dir()),
            max_concurrent_runs: 64,
        })
        .expect("the sandbox starts")
    })
}

/// A sandbox with these host implementations (tool components registered, a
/// custom http tool…), sharing the tests' precompiled guest.
pub fn sandbox_with(
    implementations: clambot::gate::Implementations,
    max_concurrent_runs: u32,
) -> Sandbox {
    Sandbox::with_implementations(
        &SandboxConfig {
            cache_dir: Some(cache_dir()),
            max_concurrent_runs,
        },
        implementations,
    )
    .expect("the sandbox starts")
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio starts")
}

/// Runs a request on a fresh runtime.
pub fn run(request: &RunRequest) -> RunOutcome {
    runtime().block_on(sandbox().run(request))
}

/// Runs `source` with default limits and no policy.
pub fn run_source(source: &str) -> RunOutcome {
    run(&RunRequest::new(source))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub mod cli;
pub mod clients;
pub mod fault_proxy;
pub mod http_server;
pub mod model_server;
pub mod telegram_emulator;
pub mod telegram_server;
pub mod world;
