//! Per-run limits, the memory limiter and the run's deadline.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

// The run limits are the policy language's (`policy check` refuses what a run
// cannot honour), so they are defined once, there.
/// Default wall-clock budget of a run.
pub const DEFAULT_TIMEOUT: Duration = crate::policy::limits::DEFAULT_TIMEOUT;
/// Default linear-memory budget.
pub const DEFAULT_MEMORY: u64 = crate::policy::limits::DEFAULT_MEMORY;
/// Largest memory a run may be given; also the pooling allocator's slot size.
pub const MAX_MEMORY: u64 = crate::policy::limits::MAX_MEMORY;
/// Default cap on captured console and log output.
pub const DEFAULT_MAX_OUTPUT: usize = crate::policy::limits::DEFAULT_MAX_OUTPUT as usize;
/// Default cap on the result's JSON text.
pub const DEFAULT_MAX_RESULT: usize = 4 * 1024 * 1024;
/// Hostcall fuel: what the host may allocate lifting one host call's arguments
/// out of guest memory (wasmtime's guard against a guest making the host
/// allocate without bound). The gate lifts arguments as dynamic `Val`s, one per
/// list element, so a `list<u8>` costs `size_of::<Val>()` bytes of fuel per
/// byte; wasmtime's default of 128 MiB let `fs.writeBytes` take only ~3.3 MB of
/// its documented 16 MiB. This admits a list of the fs cap plus 1 MiB, so one
/// byte over the cap still reaches the fs tool and fails there with `limit`;
/// a larger list traps the run. (Strings cost one unit per byte.)
pub const HOSTCALL_FUEL: usize =
    (crate::workspace::MAX_FILE_BYTES as usize + (1 << 20)) * size_of::<wasmtime::component::Val>();

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

impl RunLimits {
    /// These limits, lowered by `policy`'s `[run]` (which are ceilings).
    pub fn lowered_by(mut self, policy: &crate::policy::Policy) -> Self {
        let ceiling = policy.run();
        if let Some(timeout) = ceiling.timeout {
            self.timeout = self.timeout.min(timeout);
        }
        if let Some(memory) = ceiling.memory {
            self.memory = self.memory.min(memory);
        }
        if let Some(max_output) = ceiling.max_output {
            self.max_output = self
                .max_output
                .min(usize::try_from(max_output).unwrap_or(usize::MAX));
        }
        self
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

/// When a run must end. Time spent waiting for a person to answer an approval
/// prompt does not count: the gate pauses the deadline while it waits, and a
/// paused deadline moves along with the clock.
///
/// A deadline can sit [`within`](Deadline::within) another (a tool call inside
/// its run): it ends at whichever comes first, and pausing it pauses both.
#[derive(Debug)]
pub struct Deadline {
    state: Mutex<DeadlineState>,
    parent: Option<std::sync::Arc<Deadline>>,
}

#[derive(Debug)]
struct DeadlineState {
    at: Instant,
    paused_since: Option<Instant>,
}

impl Deadline {
    pub fn after(timeout: Duration) -> Self {
        Self {
            state: Mutex::new(DeadlineState {
                at: Instant::now() + timeout,
                paused_since: None,
            }),
            parent: None,
        }
    }

    /// `timeout` from now, but never later than `parent`: a wall-clock limit that
    /// counts everything, host calls included, except a person's thinking time.
    pub fn within(parent: &std::sync::Arc<Deadline>, timeout: Duration) -> Self {
        Self {
            parent: Some(std::sync::Arc::clone(parent)),
            ..Self::after(timeout)
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, DeadlineState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn at(&self) -> Instant {
        let own = {
            let state = self.state();
            match state.paused_since {
                Some(since) => state.at + since.elapsed(),
                None => state.at,
            }
        };
        match &self.parent {
            Some(parent) => own.min(parent.at()),
            None => own,
        }
    }

    /// Time left, zero once passed.
    pub fn remaining(&self) -> Duration {
        self.at().saturating_duration_since(Instant::now())
    }

    /// Stops the clock (a person is being asked).
    pub fn pause(&self) {
        self.state().paused_since.get_or_insert_with(Instant::now);
        if let Some(parent) = &self.parent {
            parent.pause();
        }
    }

    /// Restarts the clock; the paused time is added to the deadline.
    pub fn resume(&self) {
        let mut state = self.state();
        if let Some(since) = state.paused_since.take() {
            state.at += since.elapsed();
        }
        drop(state);
        if let Some(parent) = &self.parent {
            parent.resume();
        }
    }
}
