//! A cluster-wide counting semaphore whose permits are leases.
//!
//! # Why leased slots
//!
//! Transcode capacity is per device (an Intel iGPU manages roughly 10–15 concurrent QSV
//! streams) and per user (one account should not take every slot). A replica that crashes
//! while holding slots cannot give them back, so each slot expires unless renewed; capacity
//! lost to a crash comes back one TTL later on its own.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::Result;

/// One held slot of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The pool (`qsv:node-a`, `user:42`).
    pub pool: String,
    /// Who holds it.
    pub holder: String,
    /// Unique id of this slot.
    pub id: String,
    /// TTL it was acquired or renewed with.
    pub ttl: Duration,
    /// Local deadline (request sent + TTL).
    pub expires_at: Instant,
}

/// Leased slots with a capacity per pool.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use ha_core::{memory::MemorySlotLimiter, SlotLimiter};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ha_core::Result<()> {
/// let slots = MemorySlotLimiter::new();
/// let ttl = Duration::from_secs(30);
/// let a = slots.try_acquire("qsv:node-a", "job-1", 2, ttl).await?.expect("free");
/// let _b = slots.try_acquire("qsv:node-a", "job-2", 2, ttl).await?.expect("free");
/// assert!(slots.try_acquire("qsv:node-a", "job-3", 2, ttl).await?.is_none()); // full
/// slots.release(&a).await?;
/// assert!(slots.try_acquire("qsv:node-a", "job-3", 2, ttl).await?.is_some());
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait SlotLimiter: Send + Sync + fmt::Debug + 'static {
    /// Takes a slot of `pool` if fewer than `capacity` live slots are held. `None` when full.
    async fn try_acquire(
        &self,
        pool: &str,
        holder: &str,
        capacity: u32,
        ttl: Duration,
    ) -> Result<Option<Slot>>;
    /// Extends a live slot by its TTL. [`Error::LeaseLost`](crate::Error::LeaseLost) when it
    /// expired or was released.
    async fn renew(&self, slot: &Slot) -> Result<Slot>;
    /// Gives a slot back. Returns whether it was live.
    async fn release(&self, slot: &Slot) -> Result<bool>;
    /// How many live slots `pool` has.
    async fn in_use(&self, pool: &str) -> Result<u32>;
}
