//! An injectable clock.
//!
//! Lease and expiry logic never reads the OS clock directly (the quinn-proto rule): it asks a
//! [`Clock`]. [`SystemClock`] is built on `tokio::time::Instant`, so tests that call
//! `tokio::time::pause()` and `advance()` drive every deadline deterministically, and its wall
//! clock moves with the same paused time.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Where the current time comes from.
pub trait Clock: Send + Sync + Debug + 'static {
    /// A monotonic instant (tokio's, so paused time applies).
    fn now(&self) -> Instant;
    /// Microseconds since the Unix epoch. Never goes backwards for one clock value.
    fn unix_micros(&self) -> u64;
    /// Milliseconds since the Unix epoch.
    fn unix_millis(&self) -> u64 {
        self.unix_micros() / 1_000
    }
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The real clock: tokio's monotonic instant plus a wall clock anchored at construction and
/// advanced by that instant (so it never jumps backwards when NTP steps the system clock, and it
/// follows paused tokio time in tests).
#[derive(Debug, Clone)]
pub struct SystemClock {
    anchor_instant: Instant,
    anchor_unix_micros: u64,
}

impl SystemClock {
    /// A clock anchored now.
    pub fn new() -> Self {
        let anchor_unix_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_micros() as u64;
        Self {
            anchor_instant: Instant::now(),
            anchor_unix_micros,
        }
    }

    /// The same clock behind an `Arc<dyn Clock>`.
    pub fn shared() -> SharedClock {
        Arc::new(Self::new())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_micros(&self) -> u64 {
        let elapsed = Instant::now().saturating_duration_since(self.anchor_instant);
        self.anchor_unix_micros + elapsed.as_micros() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn wall_clock_follows_paused_time() {
        let clock = SystemClock::new();
        let before = clock.unix_micros();
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(clock.unix_micros() - before, 10_000_000);
    }
}
