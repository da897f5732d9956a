//! How hard and how long the load test pushes: a short run for the test command, a soak
//! behind `HA_SOAK=1`.
//!
//! Why the short run is still worth running on every test: zero errors under concurrent load
//! across two replicas is a correctness property (no 5xx from pool exhaustion, lock contention
//! or a store timeout), and a few seconds per endpoint is enough to hit it. Latencies are only
//! printed: the machine is shared, and performance figures come from the bench harness.

use std::time::Duration;

/// One load test's sizes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Each wrk phase (per endpoint).
    pub wrk_secs: Duration,
    /// wrk connections in total, split evenly across the replicas.
    pub connections: u32,
    /// Simulated HLS viewers of one transcoded item.
    pub viewers: usize,
    /// Minimum time the viewers keep replaying the item (one pass when zero).
    pub viewer_secs: Duration,
}

impl Plan {
    /// `HA_SOAK=1`: 60 s per endpoint, 32 connections, 32 viewers replaying for 60 s.
    /// Otherwise: 3 s per endpoint, 8 connections, 8 viewers, one pass.
    pub fn from_env() -> Self {
        if std::env::var("HA_SOAK").is_ok_and(|v| v == "1") {
            Self {
                wrk_secs: Duration::from_secs(60),
                connections: 32,
                viewers: 32,
                viewer_secs: Duration::from_secs(60),
            }
        } else {
            Self {
                wrk_secs: Duration::from_secs(3),
                connections: 8,
                viewers: 8,
                viewer_secs: Duration::ZERO,
            }
        }
    }
}
