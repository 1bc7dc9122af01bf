//! The `clambot` command.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cli::dispatch(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("clambot: {error:#}");
            ExitCode::from(cli::exit::INTERNAL)
        }
    }
}
