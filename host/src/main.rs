//! The `clambot` command.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
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
            eprintln!("clambot: {error:#}");
            ExitCode::from(cli::exit::INTERNAL)
        }
    }
}
