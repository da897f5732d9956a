//! [`RedisLeaseManager`]: leases as expiring hashes, fencing tokens from the server clock.
//!
//! # Design
//!
//! A lease is the hash `{P:lease:K}` = `{holder, token, ttl}` with `PEXPIRE ttl`; expiry is
//! judged by the Redis server's clock only. Acquire is `lua/lease_acquire.lua` (concurrent
//! acquires share one call, see `acquire_batch`): take the key only if it does not exist, and
//! issue `token = max(last + 1, TIME in µs)` where `last` lives in `{P:lease:K}:fence` (same
//! hash tag, kept [`fence_retention`](crate::RedisStoreConfig::fence_retention)).
//! Because the server clock keeps moving, a restart that lost every key still issues larger
//! tokens than before. Renew and release check holder *and* token in the script.
//!
//! # Local deadlines
//!
//! `Lease::expires_at` is the instant the request was *sent* plus the TTL: the server started
//! its countdown no earlier, so the local deadline is never later than the server's.
//!
//! # Batches and Cluster
//!
//! [`renew_many`](ha_core::LeaseManager::renew_many) renews N leases in *one* script call with
//! N keys (one round trip, atomic) on a standalone server. On Cluster a script may only touch
//! keys of one slot, and keys of different leases hash to different slots by design, so the
//! batch is split per slot and the per-slot calls run concurrently: still one round trip of
//! latency, but one call per slot touched.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use ha_core::lease::{validate_name, validate_ttl};
use ha_core::{Error, FencingToken, Lease, LeaseManager, Result};
use redis::Value;
use tokio::time::Instant;

use crate::acquire_batch::{self, AcquireRequest};
use crate::error::RedisStoreError;
use crate::keys::slot_of;
use crate::reply;
use crate::RedisStore;

/// Fenced, expiring leases on Redis. Made by [`RedisStore::leases`].
#[derive(Debug, Clone)]
pub struct RedisLeaseManager {
    store: RedisStore,
}

impl RedisLeaseManager {
    pub(crate) fn new(store: RedisStore) -> Self {
        Self { store }
    }

    /// `lua/lease_acquire.lua`, batched with concurrent acquires (`acquire_batch`): a plain
    /// acquire, or a take-over of the tenure `stale`.
    async fn acquire(
        &self,
        key: &str,
        holder: &str,
        ttl: Duration,
        stale: Option<&Lease>,
    ) -> Result<Option<Lease>> {
        validate_name("lease key", key)?;
        validate_name("lease holder", holder)?;
        validate_ttl(ttl)?;
        let keys = self.store.keys();
        let request = AcquireRequest {
            lease: keys.lease(key),
            fence: keys.lease_fence(key),
            holder: holder.to_owned(),
            ttl_ms: ttl_ms(ttl),
            keep_ms: ttl_ms(self.store.config().fence_retention.max(ttl)),
            stale: stale.map(|s| (s.holder.clone(), s.token.get().to_string())),
        };
        // Before queueing: the server starts its countdown no earlier.
        let sent = Instant::now();
        let Some(token) = acquire_batch::acquire(&self.store, request).await? else {
            return Ok(None);
        };
        let what = if stale.is_some() {
            "lease take-over"
        } else {
            "lease acquire"
        };
        Ok(Some(Lease {
            key: key.to_owned(),
            holder: holder.to_owned(),
            token: reply::parse_token(what, &token)?,
            ttl,
            expires_at: sent + ttl,
        }))
    }

    /// One renew-script call over `leases` (all in one slot on Cluster).
    async fn renew_batch(&self, leases: &[&Lease]) -> Result<Vec<Option<Lease>>> {
        let script = &self.store.scripts().lease_renew;
        let mut invocation = script.prepare_invoke();
        for lease in leases {
            invocation
                .key(self.store.keys().lease(&lease.key))
                .arg(&lease.holder)
                .arg(lease.token.get().to_string())
                .arg(ttl_ms(lease.ttl));
        }
        let mut conn = self.store.conn();
        let sent = Instant::now();
        let flags: Vec<i64> = self
            .store
            .call("lease renew", invocation.invoke_async(&mut conn))
            .await?;
        if flags.len() != leases.len() {
            return Err(RedisStoreError::protocol(
                "lease renew",
                format!("{} answers for {} leases", flags.len(), leases.len()),
            )
            .into());
        }
        Ok(leases
            .iter()
            .zip(flags)
            .map(|(lease, ok)| {
                (ok == 1).then(|| Lease {
                    expires_at: sent + lease.ttl,
                    ..(*lease).clone()
                })
            })
            .collect())
    }
}

/// A TTL in whole milliseconds, at least 1 (validated TTLs are ≥ 1 ms).
pub(crate) fn ttl_ms(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

#[async_trait]
impl LeaseManager for RedisLeaseManager {
    async fn try_acquire(&self, key: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        self.acquire(key, holder, ttl, None).await
    }

    async fn take_over(&self, stale: &Lease, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        self.acquire(&stale.key, holder, ttl, Some(stale)).await
    }

    async fn renew(&self, lease: &Lease) -> Result<Lease> {
        match self.renew_batch(&[lease]).await?.pop().flatten() {
            Some(renewed) => Ok(renewed),
            None => Err(Error::LeaseLost {
                key: lease.key.clone(),
            }),
        }
    }

    async fn renew_many(&self, leases: &[Lease]) -> Result<Vec<Option<Lease>>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        if !self.store.is_cluster() {
            return self.renew_batch(&leases.iter().collect::<Vec<_>>()).await;
        }
        // Cluster: one call per slot, concurrently, then put answers back in input order.
        let mut by_slot: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for (i, lease) in leases.iter().enumerate() {
            by_slot
                .entry(slot_of(&self.store.keys().lease(&lease.key)))
                .or_default()
                .push(i);
        }
        let calls = by_slot.into_values().map(|idx| async move {
            let batch: Vec<&Lease> = idx.iter().map(|&i| &leases[i]).collect();
            self.renew_batch(&batch).await.map(|r| (idx, r))
        });
        let mut out = vec![None; leases.len()];
        for result in futures::future::join_all(calls).await {
            let (idx, renewed) = result?;
            for (i, r) in idx.into_iter().zip(renewed) {
                out[i] = r;
            }
        }
        Ok(out)
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        let mut invocation = self.store.scripts().lease_release.prepare_invoke();
        invocation
            .key(self.store.keys().lease(&lease.key))
            .arg(&lease.holder)
            .arg(lease.token.get().to_string());
        let mut conn = self.store.conn();
        let released: i64 = self
            .store
            .call("lease release", invocation.invoke_async(&mut conn))
            .await?;
        Ok(released == 1)
    }

    async fn current(&self, key: &str) -> Result<Option<Lease>> {
        let mut invocation = self.store.scripts().lease_current.prepare_invoke();
        invocation.key(self.store.keys().lease(key));
        let mut conn = self.store.conn();
        let sent = Instant::now();
        let value: Value = self
            .store
            .call("lease current", invocation.invoke_async(&mut conn))
            .await?;
        let Some((holder, token, ttl_ms, pttl_ms)) = reply::lease_current(value)? else {
            return Ok(None);
        };
        Ok(Some(Lease {
            key: key.to_owned(),
            holder,
            token: FencingToken(token),
            ttl: Duration::from_millis(ttl_ms),
            expires_at: sent + Duration::from_millis(pttl_ms),
        }))
    }
}
