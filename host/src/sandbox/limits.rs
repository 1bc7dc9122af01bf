//! Per-run limits and the memory limiter that enforces the memory one.

use std::time::Duration;

/// Default wall-clock budget of a run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default linear-memory budget: QuickJS with room for real data, far below what
/// a few hundred concurrent runs can afford.
pub const DEFAULT_MEMORY: u64 = 64 * 1024 * 1024;
/// Largest memory a run may be given; also the pooling allocator's slot size.
pub const MAX_MEMORY: u64 = 512 * 1024 * 1024;
/// Default cap on captured console and log output.
pub const DEFAULT_MAX_OUTPUT: usize = 1024 * 1024;
/// Default cap on the result's JSON text.
pub const DEFAULT_MAX_RESULT: usize = 4 * 1024 * 1024;

/// The budgets of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLimits {
    pub timeout: Duration,
    pub memory: u64,
    pub max_output: usize,
    pub max_result: usize,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            memory: DEFAULT_MEMORY,
            max_output: DEFAULT_MAX_OUTPUT,
            max_result: DEFAULT_MAX_RESULT,
        }
    }
}

/// Refuses linear-memory growth past the run's budget (the guest sees a failed
/// `memory.grow`, so QuickJS throws "out of memory" instead of the host trapping),
/// and remembers that it did.
#[derive(Debug)]
pub struct MemoryLimiter {
    limit: u64,
    hit: bool,
}

impl MemoryLimiter {
    pub fn new(limit: u64) -> Self {
        Self { limit, hit: false }
    }

    /// Whether the run asked for more than its budget.
    pub fn was_hit(&self) -> bool {
        self.hit
    }
}

/// Table elements a run may have; QuickJS needs a few thousand.
const MAX_TABLE_ELEMENTS: usize = 100_000;
/// The pooling allocator's table slot size.
pub const MAX_TABLE_ELEMENTS_POOL: usize = MAX_TABLE_ELEMENTS;

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
