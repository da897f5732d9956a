//! [`RedisSlotLimiter`]: a counting semaphore whose permits expire on the server clock.
//!
//! # Design
//!
//! A pool is the sorted set `{P:slots:K}` of slot ids scored by their deadline (server `TIME`,
//! ms) plus the hash `{P:slots:K}:holders` (id → holder), both in one slot. Acquire
//! (`lua/slot_acquire.lua`) prunes expired members, compares the count with the capacity and
//! adds the new id, atomically; a crashed holder's slot stops counting at its deadline without
//! anyone cleaning up. Both keys expire a second after their last deadline, so abandoned pools
//! vanish.

use std::time::Duration;

use async_trait::async_trait;
use ha_core::{Error, Result, Slot, SlotLimiter};
use tokio::time::Instant;

use crate::lease::ttl_ms;
use crate::RedisStore;

/// Leased slots on Redis. Made by [`RedisStore::slots`].
#[derive(Debug, Clone)]
pub struct RedisSlotLimiter {
    store: RedisStore,
}

impl RedisSlotLimiter {
    pub(crate) fn new(store: RedisStore) -> Self {
        Self { store }
    }
}

#[async_trait]
impl SlotLimiter for RedisSlotLimiter {
    async fn try_acquire(
        &self,
        pool: &str,
        holder: &str,
        capacity: u32,
        ttl: Duration,
    ) -> Result<Option<Slot>> {
        ha_core::lease::validate_name("slot pool", pool)?;
        ha_core::lease::validate_name("slot holder", holder)?;
        ha_core::lease::validate_ttl(ttl)?;
        let id = ha_core::ids::new_id();
        let keys = self.store.keys();
        let mut invocation = self.store.scripts().slot_acquire.prepare_invoke();
        invocation
            .key(keys.slot_pool(pool))
            .key(keys.slot_holders(pool))
            .arg(&id)
            .arg(holder)
            .arg(capacity)
            .arg(ttl_ms(ttl));
        let mut conn = self.store.conn();
        let sent = Instant::now();
        let taken: i64 = self
            .store
            .call("slot acquire", invocation.invoke_async(&mut conn))
            .await?;
        Ok((taken == 1).then(|| Slot {
            pool: pool.to_owned(),
            holder: holder.to_owned(),
            id,
            ttl,
            expires_at: sent + ttl,
        }))
    }

    async fn renew(&self, slot: &Slot) -> Result<Slot> {
        let keys = self.store.keys();
        let mut invocation = self.store.scripts().slot_renew.prepare_invoke();
        invocation
            .key(keys.slot_pool(&slot.pool))
            .key(keys.slot_holders(&slot.pool))
            .arg(&slot.id)
            .arg(&slot.holder)
            .arg(ttl_ms(slot.ttl));
        let mut conn = self.store.conn();
        let sent = Instant::now();
        let renewed: i64 = self
            .store
            .call("slot renew", invocation.invoke_async(&mut conn))
            .await?;
        if renewed != 1 {
            return Err(Error::LeaseLost {
                key: slot.pool.clone(),
            });
        }
        Ok(Slot {
            expires_at: sent + slot.ttl,
            ..slot.clone()
        })
    }

    async fn release(&self, slot: &Slot) -> Result<bool> {
        let keys = self.store.keys();
        let mut invocation = self.store.scripts().slot_release.prepare_invoke();
        invocation
            .key(keys.slot_pool(&slot.pool))
            .key(keys.slot_holders(&slot.pool))
            .arg(&slot.id)
            .arg(&slot.holder);
        let mut conn = self.store.conn();
        let released: i64 = self
            .store
            .call("slot release", invocation.invoke_async(&mut conn))
            .await?;
        Ok(released == 1)
    }

    async fn in_use(&self, pool: &str) -> Result<u32> {
        let mut invocation = self.store.scripts().slot_in_use.prepare_invoke();
        invocation.key(self.store.keys().slot_pool(pool));
        let mut conn = self.store.conn();
        let count: u32 = self
            .store
            .call("slot in use", invocation.invoke_async(&mut conn))
            .await?;
        Ok(count)
    }
}
