//! The agent's bandwidth budget: one token bucket shared by every transfer of every job.
//!
//! Transfers take tokens for each chunk before moving it. The bucket lends: a chunk may take it
//! below zero, and the next taker waits until the debt is repaid, so the long-run rate is exact
//! whatever the chunk size. Waiters queue fairly (a FIFO mutex is held while waiting), and a
//! waiter re-reads the rate at least every 100 ms, so a new rate takes effect within that.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// Longest a waiter sleeps before looking at the rate again.
const RECHECK: Duration = Duration::from_millis(100);
/// Idle time whose tokens may be saved up for a burst.
const BURST: Duration = Duration::from_millis(100);

/// A shared, adjustable bandwidth budget.
#[derive(Debug)]
pub struct Bandwidth {
    /// Bytes per second; 0 means unlimited.
    rate: AtomicU64,
    /// Tokens (bytes) available, negative when in debt, and when they were last counted.
    bucket: Mutex<(f64, Instant)>,
}

impl Bandwidth {
    /// A budget of `rate` bytes per second (0: unlimited).
    pub fn new(rate: u64) -> Self {
        Bandwidth {
            rate: AtomicU64::new(rate),
            bucket: Mutex::new((0.0, Instant::now())),
        }
    }

    /// The current rate in bytes per second (0: unlimited).
    pub fn rate(&self) -> u64 {
        self.rate.load(Ordering::Relaxed)
    }

    /// Changes the rate; waiting transfers see it within 100 ms.
    pub fn set_rate(&self, rate: u64) {
        self.rate.store(rate, Ordering::Relaxed);
        metrics::gauge!("cairn_agent_bandwidth_limit_bytes").set(rate as f64);
    }

    /// Waits until `bytes` may be moved under the budget.
    pub async fn acquire(&self, bytes: u64) {
        if self.rate() == 0 {
            return;
        }
        let mut bucket = self.bucket.lock().await;
        loop {
            let rate = self.rate();
            if rate == 0 {
                return;
            }
            let now = Instant::now();
            let (tokens, last) = &mut *bucket;
            let burst = rate as f64 * BURST.as_secs_f64();
            *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate as f64).min(burst);
            *last = now;
            if *tokens >= 0.0 {
                *tokens -= bytes as f64;
                return;
            }
            let wait = Duration::from_secs_f64(-*tokens / rate as f64).min(RECHECK);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unlimited_never_waits_and_a_rate_paces_takers() {
        let bw = Bandwidth::new(0);
        let start = Instant::now();
        for _ in 0..1000 {
            bw.acquire(1 << 20).await;
        }
        assert!(start.elapsed() < Duration::from_millis(50));

        // 4 MiB/s: taking 1 MiB chunks, the 3rd chunk onward must wait for the first two.
        bw.set_rate(4 << 20);
        let start = Instant::now();
        for _ in 0..3 {
            bw.acquire(1 << 20).await;
        }
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(400),
            "3 MiB at 4 MiB/s with the first MiB free: {took:?}"
        );
    }
}
