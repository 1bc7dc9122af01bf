//! Exit codes, shared by every subcommand and listed in `clambot run --help`.

/// The script threw, had a syntax error, or returned something that is not JSON.
pub const SCRIPT_ERROR: u8 = 1;
/// The script died of a host call the gate denied.
pub const DENIED: u8 = 3;
/// The run hit its time limit.
pub const TIMEOUT: u8 = 4;
/// The run hit its memory limit or overflowed its stack.
pub const MEMORY: u8 = 5;
/// The run's output or result was over its limit.
pub const OUTPUT: u8 = 6;
/// clambot itself failed (unreadable file, broken cache, host bug).
pub const INTERNAL: u8 = 10;
