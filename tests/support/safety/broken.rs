//! Deliberately broken stores, to show the checker is not vacuous.
//!
//! A harness that always says OK proves nothing. These wrappers break one promise each, and
//! `tests/lease_safety.rs` runs the same contenders on them and expects the checker to object:
//!
//! * [`UnfencedJobs`] accepts a stale progress write (answers `Ok` where the store said
//!   `Fenced`), as a store that forgot to compare tokens would: property (2).
//! * [`SplitBrainLeases`] now and then hands out a lease on a key somebody holds, with the
//!   holder's token + 1, as a store without mutual exclusion would: properties (1), (3), (4).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ha_core::{
    Error, FencingToken, JobClaim, JobRecord, JobState, Lease, LeaseManager, Result,
    TranscodeJobStore,
};
use tokio::time::Instant;

/// Job records that let stale progress writes through.
#[derive(Debug)]
pub struct UnfencedJobs(pub Arc<dyn TranscodeJobStore>);

#[async_trait]
impl TranscodeJobStore for UnfencedJobs {
    async fn claim(&self, claim: &JobClaim) -> Result<JobRecord> {
        self.0.claim(claim).await
    }
    async fn get(&self, key: &str) -> Result<Option<JobRecord>> {
        self.0.get(key).await
    }
    async fn record_progress(
        &self,
        key: &str,
        token: FencingToken,
        segment: u32,
    ) -> Result<JobRecord> {
        match self.0.record_progress(key, token, segment).await {
            Err(Error::Fenced { .. }) => {
                Ok(self.0.get(key).await?.expect("fenced means it exists"))
            }
            other => other,
        }
    }
    async fn set_state(
        &self,
        key: &str,
        token: FencingToken,
        state: JobState,
        failure: Option<&str>,
    ) -> Result<JobRecord> {
        self.0.set_state(key, token, state, failure).await
    }
    async fn list(&self) -> Result<Vec<JobRecord>> {
        self.0.list().await
    }
    async fn remove(&self, key: &str) -> Result<bool> {
        self.0.remove(key).await
    }
}

/// Leases that sometimes grant a held key to a second holder.
#[derive(Debug)]
pub struct SplitBrainLeases {
    /// The honest manager underneath.
    pub inner: Arc<dyn LeaseManager>,
    /// Counts refusals; every `every`-th one is turned into a grant.
    pub refusals: AtomicU64,
    /// How often to lie.
    pub every: u64,
}

#[async_trait]
impl LeaseManager for SplitBrainLeases {
    async fn try_acquire(&self, key: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        let sent = Instant::now();
        if let Some(lease) = self.inner.try_acquire(key, holder, ttl).await? {
            return Ok(Some(lease));
        }
        if !self
            .refusals
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(self.every)
        {
            return Ok(None);
        }
        Ok(self.inner.current(key).await?.map(|held| Lease {
            key: key.to_owned(),
            holder: holder.to_owned(),
            token: FencingToken(held.token.get() + 1),
            ttl,
            expires_at: sent + ttl,
        }))
    }
    async fn renew(&self, lease: &Lease) -> Result<Lease> {
        self.inner.renew(lease).await
    }
    async fn renew_many(&self, leases: &[Lease]) -> Result<Vec<Option<Lease>>> {
        self.inner.renew_many(leases).await
    }
    async fn release(&self, lease: &Lease) -> Result<bool> {
        self.inner.release(lease).await
    }
    async fn current(&self, key: &str) -> Result<Option<Lease>> {
        self.inner.current(key).await
    }
    async fn take_over(&self, stale: &Lease, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        self.inner.take_over(stale, holder, ttl).await
    }
}
