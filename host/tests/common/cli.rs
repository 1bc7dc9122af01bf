//! The `clambot` binary as a test runs it: a clean environment (nothing from
//! the developer's shell: no API keys, proxies or `CLAMBOT_*` settings), the
//! given home, the precompiled guest shared with the other tests (so each
//! spawn is quick), no Ollama probe that could reach a real server, and no
//! terminal on stdin.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `clambot ARGS` with `home` as `CLAMBOT_HOME` and `HOME`.
pub fn command(home: &Path, args: &[&str]) -> Command {
    std::fs::create_dir_all(home).expect("home");
    let _ = std::os::unix::fs::symlink(super::cache_dir(), home.join("cache"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_clambot"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("CLAMBOT_HOME", home)
        .env("HOME", home)
        .env("OLLAMA_HOST", "http://127.0.0.1:9")
        .stdin(Stdio::null());
    command
}

/// [`command`] with extra environment variables, run to completion.
pub fn run(home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = command(home, args);
    command.envs(env.iter().copied());
    command.output().expect("clambot runs")
}

/// Output bytes as text (lossy: tests print what they got).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
