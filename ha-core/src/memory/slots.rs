//! In-process [`SlotLimiter`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::lock;
use crate::{Error, Result, SharedClock, Slot, SlotLimiter, SystemClock};

#[derive(Debug)]
struct Held {
    id: String,
    holder: String,
    expires_at: Instant,
}

/// Slots in a map of pools; expired slots free themselves.
#[derive(Debug)]
pub struct MemorySlotLimiter {
    clock: SharedClock,
    pools: Mutex<HashMap<String, Vec<Held>>>,
}

impl MemorySlotLimiter {
    /// A limiter on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock::shared())
    }

    /// A limiter on `clock`.
    pub fn with_clock(clock: SharedClock) -> Self {
        Self {
            clock,
            pools: Mutex::new(HashMap::new()),
        }
    }

    fn live_pool<'a>(
        pools: &'a mut HashMap<String, Vec<Held>>,
        pool: &str,
        now: Instant,
    ) -> &'a mut Vec<Held> {
        let slots = pools.entry(pool.to_owned()).or_default();
        slots.retain(|s| s.expires_at > now);
        slots
    }
}

impl Default for MemorySlotLimiter {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl SlotLimiter for MemorySlotLimiter {
    async fn try_acquire(
        &self,
        pool: &str,
        holder: &str,
        capacity: u32,
        ttl: Duration,
    ) -> Result<Option<Slot>> {
        crate::lease::validate_name("slot pool", pool)?;
        crate::lease::validate_name("slot holder", holder)?;
        crate::lease::validate_ttl(ttl)?;
        let now = self.clock.now();
        let mut pools = lock(&self.pools);
        if pools.len() > 1024 {
            // Pool names may come from client input (e.g. a sign-in brake per address): drop
            // the pools nothing is held in, so the map stays as small as what is live.
            pools.retain(|_, slots| {
                slots.retain(|s| s.expires_at > now);
                !slots.is_empty()
            });
        }
        let slots = Self::live_pool(&mut pools, pool, now);
        if slots.len() >= capacity as usize {
            return Ok(None);
        }
        let id = crate::ids::new_id();
        let expires_at = now + ttl;
        slots.push(Held {
            id: id.clone(),
            holder: holder.to_owned(),
            expires_at,
        });
        Ok(Some(Slot {
            pool: pool.to_owned(),
            holder: holder.to_owned(),
            id,
            ttl,
            expires_at,
        }))
    }

    async fn renew(&self, slot: &Slot) -> Result<Slot> {
        let now = self.clock.now();
        let mut pools = lock(&self.pools);
        let slots = Self::live_pool(&mut pools, &slot.pool, now);
        let held = slots
            .iter_mut()
            .find(|s| s.id == slot.id && s.holder == slot.holder)
            .ok_or_else(|| Error::LeaseLost {
                key: slot.pool.clone(),
            })?;
        held.expires_at = now + slot.ttl;
        Ok(Slot {
            expires_at: held.expires_at,
            ..slot.clone()
        })
    }

    async fn release(&self, slot: &Slot) -> Result<bool> {
        let now = self.clock.now();
        let mut pools = lock(&self.pools);
        let slots = Self::live_pool(&mut pools, &slot.pool, now);
        let before = slots.len();
        slots.retain(|s| !(s.id == slot.id && s.holder == slot.holder));
        Ok(slots.len() < before)
    }

    async fn in_use(&self, pool: &str) -> Result<u32> {
        let now = self.clock.now();
        let mut pools = lock(&self.pools);
        let Some(slots) = pools.get_mut(pool) else {
            return Ok(0);
        };
        slots.retain(|s| s.expires_at > now);
        let n = slots.len() as u32;
        if n == 0 {
            pools.remove(pool);
        }
        Ok(n)
    }
}
