//! When and how long to wait before asking a provider again.
//!
//! A request is retried on 429, on 500, 502, 503, 504 (and Anthropic's 529,
//! "overloaded"), on a connection error and on a timeout. The wait before retry
//! `n` (0-based) is a random duration between zero and
//! `min(max_delay, base_delay * 2^n)` ("full jitter"), unless the server said how
//! long to wait with `Retry-After` (in seconds, on 429, 503 and 529), which is
//! honoured up to `max_delay`. The randomness comes from the system clock's
//! nanoseconds, mixed, which is plenty to keep clients from retrying in step.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::ProviderError;

/// How often, and after how long, a failed request is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (so at most `1 + max_retries` requests).
    pub max_retries: u32,
    /// The cap of the first wait; each later cap doubles.
    pub base_delay: Duration,
    /// No wait is longer than this, a server's `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Three retries, waits capped at 0.5 s, 1 s, 2 s, and never over 8 s.
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
        }
    }
}

impl RetryPolicy {
    /// One attempt only.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// The jittered wait before retry `retry` (0 for the first retry): uniform
    /// in `[0, min(max_delay, base_delay * 2^retry)]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        let cap = self.base_delay.saturating_mul(factor).min(self.max_delay);
        cap.mul_f64(jitter_fraction())
    }

    /// The wait before retry `retry`: what the server asked for, if it did (up to
    /// `max_delay`), else [`backoff`](Self::backoff).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(asked) => asked.min(self.max_delay),
            None => self.backoff(retry),
        }
    }

    /// Runs `attempt` until it succeeds, fails in a way not worth retrying, or
    /// the retries are used up; the error is the last attempt's.
    pub(crate) async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut retries = 0;
        loop {
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(failure) if failure.retryable && retries < self.max_retries => {
                    tokio::time::sleep(self.delay(retries, failure.retry_after)).await;
                    retries += 1;
                }
                Err(failure) => return Err(failure.error),
            }
        }
    }
}

/// One attempt's failure: the error to report if it is the last, and whether
/// (and after how long, if the server said) to try again.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: ProviderError,
    pub(crate) retryable: bool,
    pub(crate) retry_after: Option<Duration>,
}

impl Failure {
    /// A failure that ends the request.
    pub(crate) fn fatal(error: ProviderError) -> Self {
        Self {
            error,
            retryable: false,
            retry_after: None,
        }
    }

    /// A failure worth another try.
    pub(crate) fn transient(error: ProviderError, retry_after: Option<Duration>) -> Self {
        Self {
            error,
            retryable: true,
            retry_after,
        }
    }
}

/// A number in `[0, 1)` that differs from call to call: the clock's nanoseconds
/// and a per-call counter, through SplitMix64's finaliser.
fn jitter_fraction() -> f64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = nanos ^ CALLS.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_the_doubling_cap() {
        let policy = RetryPolicy::default();
        for retry in 0..40 {
            let cap = Duration::from_millis(500)
                .saturating_mul(1u32.checked_shl(retry).unwrap_or(u32::MAX))
                .min(Duration::from_secs(8));
            for _ in 0..50 {
                assert!(policy.backoff(retry) <= cap, "retry {retry}");
            }
        }
    }

    #[test]
    fn backoff_is_jittered() {
        let policy = RetryPolicy::default();
        let waits: std::collections::HashSet<Duration> =
            (0..100).map(|_| policy.backoff(4)).collect();
        assert!(waits.len() > 50, "only {} distinct waits", waits.len());
    }

    #[test]
    fn retry_after_is_honoured_up_to_max_delay() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.delay(0, Some(Duration::from_secs(600))),
            Duration::from_secs(8)
        );
    }

    #[test]
    fn jitter_fraction_is_in_range() {
        for _ in 0..1000 {
            let f = jitter_fraction();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
