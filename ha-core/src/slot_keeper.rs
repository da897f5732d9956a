//! [`SlotKeeper`]: keeps a job's slots alive, and takes back a slot the store forgot.
//!
//! # Why
//!
//! A running job renews its slots (per-user limit, hardware encoder) every few seconds. A
//! renewal can fail two ways that need different answers:
//!
//! * the store does not answer (down, cut off, frozen): nothing to do but try again next tick;
//! * the store answers that the slot is gone ([`Error::LeaseLost`]): it expired while the store
//!   was unreachable, or the store lost its data (a Redis restart without persistence). The
//!   job still runs, so it takes a new slot of the same pool, which restores the accounting:
//!   the pool counts it again and admission of further jobs stays honest.
//!
//! If the pool is full by then (other jobs of the same user were admitted while the slot was
//! missing), the job keeps running **without** a slot until it ends, and the keeper retries
//! quietly on every tick. Stopping it instead would cut off a viewer who is watching, chosen by
//! nothing better than who renewed last; the limit is an admission rule, and it is back in force
//! for new jobs at once, so the overshoot lasts at most until one of the jobs ends.
//!
//! Each slot's health is a small state machine ([`SlotHealth`], [`next`]); a tick reports only
//! *changes* ([`SlotChange`]), so the caller logs a failing store once, not every tick.

use crate::{Error, Slot, SlotLimiter};

/// How one kept slot stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotHealth {
    /// Renewed (or re-taken) at the last tick.
    Held,
    /// The store forgot the slot and the pool is full: the job runs on without one.
    OverLimit,
    /// The store did not answer at the last tick.
    Failing,
}

/// A change of a kept slot's health, reported once when it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotChange {
    /// The slot was gone from the store and has been taken again.
    Reacquired {
        /// The pool.
        pool: String,
    },
    /// The slot was gone and the pool is full: the job runs on without a slot.
    OverLimit {
        /// The pool.
        pool: String,
    },
    /// Store calls for the slot fail.
    Failing {
        /// The pool.
        pool: String,
        /// The first error.
        error: String,
    },
    /// Renewals succeed again after failing.
    Recovered {
        /// The pool.
        pool: String,
    },
}

/// What one tick's store calls came to for one slot.
#[derive(Debug)]
pub enum Attempt {
    /// The slot was renewed.
    Renewed(Slot),
    /// The slot was gone; a new one was taken.
    Reacquired(Slot),
    /// The slot was gone and the pool is full.
    Full,
    /// A store call failed.
    Failed(String),
}

/// The next health after `attempt`, and the change to report (if it is one).
pub fn next(prev: SlotHealth, pool: &str, attempt: &Attempt) -> (SlotHealth, Option<SlotChange>) {
    let pool = pool.to_owned();
    match attempt {
        Attempt::Renewed(_) => (
            SlotHealth::Held,
            (prev != SlotHealth::Held).then_some(SlotChange::Recovered { pool }),
        ),
        Attempt::Reacquired(_) => (SlotHealth::Held, Some(SlotChange::Reacquired { pool })),
        Attempt::Full => (
            SlotHealth::OverLimit,
            (prev != SlotHealth::OverLimit).then_some(SlotChange::OverLimit { pool }),
        ),
        Attempt::Failed(error) => (
            SlotHealth::Failing,
            (prev != SlotHealth::Failing).then(|| SlotChange::Failing {
                pool,
                error: error.clone(),
            }),
        ),
    }
}

/// One slot with what is needed to take it again.
#[derive(Debug, Clone)]
struct Kept {
    slot: Slot,
    capacity: u32,
    health: SlotHealth,
}

/// The slots of one job. Driven by the caller's timer ([`SlotKeeper::tick`]).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use ha_core::{memory::MemorySlotLimiter, slot_keeper::SlotKeeper, SlotLimiter};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ha_core::Result<()> {
/// let slots = MemorySlotLimiter::new();
/// let ttl = Duration::from_secs(15);
/// let slot = slots.try_acquire("user:42", "job-1", 2, ttl).await?.expect("free");
/// let mut keeper = SlotKeeper::default();
/// keeper.keep(slot, 2);
/// assert!(keeper.tick(&slots).await.is_empty()); // renewed: nothing to report
/// keeper.release_all(&slots).await;
/// assert_eq!(slots.in_use("user:42").await?, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct SlotKeeper {
    slots: Vec<Kept>,
}

impl SlotKeeper {
    /// Keeps `slot`, taken from a pool of `capacity` (a re-taken slot gets the same TTL).
    pub fn keep(&mut self, slot: Slot, capacity: u32) {
        self.slots.push(Kept {
            slot,
            capacity,
            health: SlotHealth::Held,
        });
    }

    /// Whether no slot is kept.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Each kept slot's pool and health.
    pub fn health(&self) -> Vec<(String, SlotHealth)> {
        self.slots
            .iter()
            .map(|k| (k.slot.pool.clone(), k.health))
            .collect()
    }

    /// Renews every slot (re-taking one the store forgot) and returns what changed.
    pub async fn tick(&mut self, limiter: &dyn SlotLimiter) -> Vec<SlotChange> {
        let mut changes = Vec::new();
        for kept in &mut self.slots {
            let attempt = attempt(limiter, kept).await;
            let (health, change) = next(kept.health, &kept.slot.pool, &attempt);
            if let Attempt::Renewed(slot) | Attempt::Reacquired(slot) = attempt {
                kept.slot = slot;
            }
            kept.health = health;
            changes.extend(change);
        }
        changes
    }

    /// Gives every slot back (errors ignored: an unreachable store expires them by itself).
    pub async fn release_all(&self, limiter: &dyn SlotLimiter) {
        for kept in &self.slots {
            if kept.health != SlotHealth::OverLimit {
                let _ = limiter.release(&kept.slot).await;
            }
        }
    }
}

async fn attempt(limiter: &dyn SlotLimiter, kept: &Kept) -> Attempt {
    if kept.health != SlotHealth::OverLimit {
        match limiter.renew(&kept.slot).await {
            Ok(slot) => return Attempt::Renewed(slot),
            Err(Error::LeaseLost { .. }) => {}
            Err(e) => return Attempt::Failed(e.to_string()),
        }
    }
    let slot = &kept.slot;
    match limiter
        .try_acquire(&slot.pool, &slot.holder, kept.capacity, slot.ttl)
        .await
    {
        Ok(Some(slot)) => Attempt::Reacquired(slot),
        Ok(None) => Attempt::Full,
        Err(e) => Attempt::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> Slot {
        Slot {
            pool: "user:1".into(),
            holder: "job".into(),
            id: "s".into(),
            ttl: std::time::Duration::from_secs(1),
            expires_at: tokio::time::Instant::now(),
        }
    }

    #[test]
    fn a_failing_store_is_reported_once_then_its_recovery_once() {
        let failed = Attempt::Failed("down".into());
        let (h, c) = next(SlotHealth::Held, "p", &failed);
        assert_eq!(h, SlotHealth::Failing);
        assert!(matches!(c, Some(SlotChange::Failing { .. })));
        assert_eq!(next(h, "p", &failed), (SlotHealth::Failing, None));
        let (h, c) = next(h, "p", &Attempt::Renewed(slot()));
        assert_eq!(h, SlotHealth::Held);
        assert_eq!(c, Some(SlotChange::Recovered { pool: "p".into() }));
        assert_eq!(
            next(h, "p", &Attempt::Renewed(slot())),
            (SlotHealth::Held, None)
        );
    }

    #[test]
    fn a_forgotten_slot_is_retaken_or_runs_over_the_limit_once() {
        let (h, c) = next(SlotHealth::Failing, "p", &Attempt::Reacquired(slot()));
        assert_eq!(h, SlotHealth::Held);
        assert_eq!(c, Some(SlotChange::Reacquired { pool: "p".into() }));
        let (h, c) = next(SlotHealth::Held, "p", &Attempt::Full);
        assert_eq!(h, SlotHealth::OverLimit);
        assert_eq!(c, Some(SlotChange::OverLimit { pool: "p".into() }));
        assert_eq!(next(h, "p", &Attempt::Full), (SlotHealth::OverLimit, None));
        let (h, c) = next(h, "p", &Attempt::Reacquired(slot()));
        assert_eq!(h, SlotHealth::Held);
        assert_eq!(c, Some(SlotChange::Reacquired { pool: "p".into() }));
    }
}
