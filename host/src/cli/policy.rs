//! `clambot policy check|explain|diff`: the reviewer's tools.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use super::exit;
use clambot::policy::{Policy, diff};

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Load a policy and report every problem with file:line:col (exit 1 if any).
    Check {
        /// The policy file.
        #[arg(default_value = "policy.toml")]
        file: PathBuf,
    },
    /// Say in plain words what a policy allows, asks about and denies, one line per rule.
    Explain {
        /// The policy file.
        #[arg(default_value = "policy.toml")]
        file: PathBuf,
    },
    /// List the capabilities a change adds, removes, widens or narrows.
    /// Exit 0: nothing widened; 3: something widened (ask for review); 1: a file has errors.
    Diff {
        /// The policy before the change.
        old: PathBuf,
        /// The policy after the change.
        new: PathBuf,
    },
}

pub fn run(command: PolicyCommand) -> Result<ExitCode> {
    match command {
        PolicyCommand::Check { file } => Ok(match Policy::load(&file) {
            Ok(policy) => {
                println!("{}: ok ({} rules)", file.display(), policy.rules().len());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{error}");
                ExitCode::from(exit::INVALID)
            }
        }),
        PolicyCommand::Explain { file } => Ok(match Policy::load(&file) {
            Ok(policy) => {
                print!("{}", policy.explain());
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("{error}");
                ExitCode::from(exit::INVALID)
            }
        }),
        PolicyCommand::Diff { old, new } => {
            let (old, new) = match (Policy::load(&old), Policy::load(&new)) {
                (Ok(old), Ok(new)) => (old, new),
                (old, new) => {
                    for error in [old.err(), new.err()].into_iter().flatten() {
                        eprintln!("{error}");
                    }
                    return Ok(ExitCode::from(exit::INVALID));
                }
            };
            let changes = diff::diff(&old, &new);
            if changes.is_empty() {
                println!("no capability changes");
            }
            for change in &changes {
                println!("{change}");
            }
            Ok(if diff::widens(&changes) {
                eprintln!(
                    "clambot: the new policy widens what scripts may do; it needs a reviewer"
                );
                ExitCode::from(exit::WIDENS)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
