//! Exit codes, shared by every subcommand and listed in `clambot --help` and
//! `clambot run --help`.
//!
//! A failure's code says whose problem it is: the command line (2), the input it
//! named (1), the policy (7), the script's run (1, 3–6), or clambot itself (10).
//! A subcommand marks an error with [`Exit`] (as an `anyhow` context) or returns
//! a policy's [`PolicyError`](clambot::policy::diagnostic::PolicyError); anything
//! unmarked is clambot's own failure.

use std::fmt;

/// The script threw, had a syntax error, or returned something that is not JSON;
/// also: something the command names does not exist or is not valid.
pub const SCRIPT_ERROR: u8 = 1;
/// Something the command names does not exist or is not valid (a missing
/// script, saved clam or job).
pub const NOT_FOUND: u8 = 1;
/// Bad command-line usage (clap's own code for unknown flags, bad values).
pub const USAGE: u8 = 2;
/// The script died of a host call the gate denied.
pub const DENIED: u8 = 3;
/// The run hit its time limit.
pub const TIMEOUT: u8 = 4;
/// The run hit its memory limit or overflowed its stack.
pub const MEMORY: u8 = 5;
/// The run's output or result was over its limit.
pub const OUTPUT: u8 = 6;
/// A policy file has errors, so nothing ran.
pub const POLICY: u8 = 7;
/// `clambot policy diff`: the new policy widens what is allowed.
pub const WIDENS: u8 = 3;
/// `clambot policy check`: the policy has errors.
pub const INVALID: u8 = 1;
/// clambot itself failed (unreadable state, broken cache, host bug).
pub const INTERNAL: u8 = 10;

/// The exit codes as `--help` lists them (a macro, so `concat!` can join it to
/// other help text).
macro_rules! table {
    () => {
        "Exit codes:
  0   success
  1   the script threw, had a syntax error or returned something that is not
      JSON; or a file, clam or job the command names does not exist or is invalid
  2   bad command-line usage (unknown flag, bad value, --args not JSON)
  3   the script died of a host call the gate denied (`policy diff`: widened)
  4   the time limit was reached
  5   the memory limit was reached or the stack overflowed
  6   the output or result limit was reached
  7   a policy file has errors (nothing ran)
  10  clambot itself failed
A closed output pipe (`clambot status | head -1`) ends the command quietly."
    };
}
pub(crate) use table;

/// An error with the exit code it ends the command with, attached as context:
/// `.with_context(|| Exit::not_found(...))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: USAGE,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            code: NOT_FOUND,
            message: message.into(),
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// The code a failed command exits with.
pub fn code_of(error: &anyhow::Error) -> u8 {
    if let Some(exit) = error.downcast_ref::<Exit>() {
        return exit.code;
    }
    if error
        .downcast_ref::<clambot::policy::diagnostic::PolicyError>()
        .is_some()
    {
        return POLICY;
    }
    INTERNAL
}
