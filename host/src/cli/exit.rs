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
/// The policy file has errors (`clambot run --policy`), so nothing ran.
pub const POLICY: u8 = 7;
/// `clambot policy diff`: the new policy widens what is allowed.
pub const WIDENS: u8 = 3;
/// `clambot policy check`: the policy has errors.
pub const INVALID: u8 = 1;
/// clambot itself failed (unreadable file, broken cache, host bug).
pub const INTERNAL: u8 = 10;
