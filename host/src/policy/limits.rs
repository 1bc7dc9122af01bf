//! The limits a policy may set, and the defaults that stand where it sets none.
//!
//! Threat model: `[run]` and `[tools.NAME]` limits are the budgets that stop a
//! runaway or hostile script. A value the sandbox cannot honour must be refused
//! when the policy loads — by `policy check` and by every run alike, since both
//! load through this code — never discovered as a failed or panicking run. An
//! absent value is not "unlimited": it is the default named here, which is what
//! `policy diff` and `policy explain` compare and show.

use std::time::Duration;

/// Default wall-clock budget of a run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest run a policy may ask for: a run is one script answering one request;
/// a day is far beyond any real one and far below where deadline arithmetic
/// on the clock could overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// Default linear-memory budget: QuickJS with room for real data, far below what
/// a few hundred concurrent runs can afford.
pub const DEFAULT_MEMORY: u64 = 64 * 1024 * 1024;
/// Largest memory a run may be given; also the pooling allocator's slot size.
pub const MAX_MEMORY: u64 = 512 * 1024 * 1024;
/// Least memory a run may be given: the guest's pre-initialised QuickJS needs
/// more than 1 MiB before a script runs (measured: `return 1` runs out of memory
/// at 1 MiB and runs at 2 MiB), so any less fails every run.
pub const MIN_MEMORY: u64 = 2 * 1024 * 1024;
/// Default cap on captured console and log output.
pub const DEFAULT_MAX_OUTPUT: u64 = 1024 * 1024;
/// Default number of a run's host calls under way at once (`Promise.all`):
/// enough to overlap the fan-outs agents make (a few exchanges, a page of
/// results) without letting one script open dozens of connections by default.
pub const DEFAULT_MAX_CONCURRENT: u64 = 8;
/// Most host calls a policy may let one run have under way at once: each holds
/// a connection or a tool instance, and a run is one script answering one request.
pub const MAX_CONCURRENT: u64 = 256;
/// Default time one call of a tool component may take.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default memory of one tool component instance.
pub const DEFAULT_TOOL_MEMORY: u64 = 64 * 1024 * 1024;
/// Default time one MCP tool call may take, the server's start included
/// (`npx` fetching from its cache takes seconds; a hung server must not hold the run).
pub const DEFAULT_MCP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on one MCP tool result (its JSON text), as for an http body.
pub const DEFAULT_MCP_MAX_RESULT: u64 = 1024 * 1024;

/// Checks a timeout from `[run]` or `[tools.NAME]`.
pub fn check_timeout(timeout: Duration) -> Result<Duration, String> {
    if timeout.is_zero() {
        return Err("timeout must be longer than zero".into());
    }
    if timeout > MAX_TIMEOUT {
        return Err(format!(
            "timeout {} is longer than the longest run clambot allows ({})",
            humantime::format_duration(timeout),
            humantime::format_duration(MAX_TIMEOUT)
        ));
    }
    Ok(timeout)
}

/// Checks `[run] memory`: the sandbox cannot give a run more than [`MAX_MEMORY`].
pub fn check_run_memory(memory: u64) -> Result<u64, String> {
    if memory < MIN_MEMORY {
        return Err(format!(
            "memory {} is less than the sandbox needs to start a script (at least {})",
            crate::size::show_size(memory),
            crate::size::show_size(MIN_MEMORY)
        ));
    }
    if memory > MAX_MEMORY {
        return Err(format!(
            "memory {} is more than the sandbox can give a run (at most {})",
            crate::size::show_size(memory),
            crate::size::show_size(MAX_MEMORY)
        ));
    }
    Ok(memory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_within_the_maximums() {
        assert!(check_timeout(DEFAULT_TIMEOUT).is_ok());
        assert!(check_timeout(DEFAULT_TOOL_TIMEOUT).is_ok());
        assert!(check_run_memory(DEFAULT_MEMORY).is_ok());
        assert!(check_timeout(MAX_TIMEOUT + Duration::from_nanos(1)).is_err());
        assert!(check_run_memory(MAX_MEMORY + 1).is_err());
        assert!(check_run_memory(MIN_MEMORY - 1).is_err());
        assert!(check_run_memory(MIN_MEMORY).is_ok());
        assert!(std::time::Instant::now().checked_add(MAX_TIMEOUT).is_some());
    }
}
