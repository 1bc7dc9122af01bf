//! The `clambot` command.

mod cli;

use std::process::ExitCode;

use clambot::terminal::{self, Newlines};
use clap::Parser;

fn main() -> ExitCode {
    // A closed output pipe (`clambot status | head -1`) ends a command quietly,
    // as it does `cat`: Rust ignores SIGPIPE, so every print to a closed pipe
    // would otherwise panic with a backtrace.
    sigpipe(libc::SIG_DFL);
    let cli = cli::Cli::parse();
    if cli.is_long_running() {
        // A server outlives its terminal; a dead peer is an error it handles.
        sigpipe(libc::SIG_IGN);
    }
    clambot::sandbox::cache::announce_compiles();
    match cli::dispatch(cli) {
        Ok(code) => code,
        // A workspace overlapping clambot's own state is a configuration that
        // cannot run safely, like a policy with errors: nothing ran.
        Err(error)
            if error
                .downcast_ref::<clambot::workspace::Overlap>()
                .is_some() =>
        {
            eprintln!("clambot: {error:#}");
            ExitCode::from(cli::exit::POLICY)
        }
        Err(error) => {
            // Escaped, and indented past the first line: an error can quote text
            // a script or a model chose, which must not start a line of its own.
            let text = terminal::escape(&format!("{error:#}"), Newlines::Keep);
            eprintln!("clambot: {}", text.replace('\n', "\n  "));
            ExitCode::from(cli::exit::code_of(&error))
        }
    }
}

/// Sets what SIGPIPE does to the process.
fn sigpipe(action: libc::sighandler_t) {
    // SAFETY: `signal` with SIG_DFL or SIG_IGN installs no handler code; it runs
    // before any thread is started (or, for SIG_IGN, restores Rust's default).
    #[expect(
        unsafe_code,
        reason = "the standard library offers no way to restore SIGPIPE"
    )]
    unsafe {
        libc::signal(libc::SIGPIPE, action);
    }
}
