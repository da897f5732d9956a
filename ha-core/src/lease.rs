//! Leases with fencing tokens: who owns a key (a transcode job, the library scan) right now.
//!
//! # Why fencing tokens
//!
//! A lease alone cannot stop a holder that paused (GC, SIGSTOP, a slow disk) past its TTL from
//! writing after somebody else took over: it does not know it lost. So every lease carries a
//! [`FencingToken`] that strictly increases per key, and every write the lease protects carries
//! the token; the store rejects writes with an older token ([`crate::Error::Fenced`]). This is
//! Kleppmann's answer to Redlock, and why media-ha uses one store with tokens rather than a
//! quorum of stores without them.
//!
//! # Whose clock
//!
//! Expiry is judged by the *store's* clock (Redis `PX`, Postgres `now()`), never by a timestamp
//! a caller sends. The caller keeps a local deadline, [`Lease::expires_at`], computed from the
//! instant the request was *sent* (not answered): the server started counting no earlier than
//! that, so the local deadline is never later than the server's.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::Result;

/// A number that strictly increases each time a key changes hands (or is re-acquired).
///
/// Tokens are never reused and never go down, also after a store restart that lost its data:
/// backends derive them from `max(last + 1, server_time_in_microseconds)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FencingToken(pub u64);

impl FencingToken {
    /// The raw value.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for FencingToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A lease held by `holder` on `key` until (at the latest) `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What is leased.
    pub key: String,
    /// Who holds it (a node id, a worker id).
    pub holder: String,
    /// The fencing token of this tenure.
    pub token: FencingToken,
    /// The TTL it was acquired or last renewed with.
    pub ttl: Duration,
    /// Local deadline: the instant the acquire/renew request was sent plus `ttl`. The server's
    /// deadline is never earlier.
    pub expires_at: Instant,
}

impl Lease {
    /// Time left before the local deadline (zero once passed).
    pub fn remaining(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }

    /// True once the local deadline has passed.
    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at
    }
}

/// Validates a lease key or holder: non-empty, at most 512 bytes, no control characters.
pub fn validate_name(kind: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(crate::Error::Invalid(format!("{kind} must not be empty")));
    }
    if value.len() > 512 {
        return Err(crate::Error::Invalid(format!(
            "{kind} is {} bytes, at most 512 allowed",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(crate::Error::Invalid(format!(
            "{kind} must not contain control characters"
        )));
    }
    Ok(())
}

/// Validates a TTL: at least 1 ms, at most one day.
pub fn validate_ttl(ttl: Duration) -> Result<()> {
    if ttl < Duration::from_millis(1) || ttl > Duration::from_secs(86_400) {
        return Err(crate::Error::Invalid(format!(
            "lease TTL {ttl:?} outside 1 ms ..= 1 day"
        )));
    }
    Ok(())
}

/// Exclusive, expiring ownership of keys, with fencing tokens.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use ha_core::{memory::MemoryLeaseManager, LeaseManager};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ha_core::Result<()> {
/// let leases = MemoryLeaseManager::new();
/// let ttl = Duration::from_secs(10);
///
/// let mine = leases.try_acquire("job:42", "node-a", ttl).await?.expect("free key");
/// // A second contender gets nothing while the lease is live.
/// assert!(leases.try_acquire("job:42", "node-b", ttl).await?.is_none());
///
/// let renewed = leases.renew(&mine).await?;
/// assert_eq!(renewed.token, mine.token); // same tenure, same token
///
/// assert!(leases.release(&renewed).await?);
/// let theirs = leases.try_acquire("job:42", "node-b", ttl).await?.expect("released");
/// assert!(theirs.token > mine.token); // a new tenure always gets a larger token
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait LeaseManager: Send + Sync + fmt::Debug + 'static {
    /// Takes the lease on `key` for `holder` if nobody holds it (or the holder's lease expired on
    /// the store's clock). Returns `None` when somebody else holds a live lease.
    ///
    /// If `holder` itself already holds a live lease on `key`, this returns `None` too: a holder
    /// keeps its tenure with [`renew`](Self::renew), so one tenure never has two tokens.
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) for an empty key or holder or a TTL outside
    /// 1 ms ..= 1 day; [`Error::Unavailable`](crate::Error::Unavailable) /
    /// [`Error::Timeout`](crate::Error::Timeout) when the store cannot answer.
    async fn try_acquire(&self, key: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>>;

    /// Extends `lease` by its TTL from now, if it is still the current tenure (same holder and
    /// token, not expired on the store's clock).
    ///
    /// # Errors
    /// [`Error::LeaseLost`](crate::Error::LeaseLost) when the lease expired, was released or was
    /// taken over; transient errors as for [`try_acquire`](Self::try_acquire).
    async fn renew(&self, lease: &Lease) -> Result<Lease>;

    /// Renews many leases in one round trip to the store. The result has one entry per input, in
    /// order: `Some(renewed)` or `None` when that lease was lost.
    ///
    /// # Errors
    /// Only transient errors: a lost lease is `None`, not an error.
    async fn renew_many(&self, leases: &[Lease]) -> Result<Vec<Option<Lease>>>;

    /// Releases `lease` if it is still the current tenure. Returns `false` (and changes nothing)
    /// when it is not: expired, already released, taken over, or a forged lease of a non-owner.
    async fn release(&self, lease: &Lease) -> Result<bool>;

    /// The live lease on `key`, if any (its `expires_at` is computed from the remaining TTL the
    /// store reports).
    async fn current(&self, key: &str) -> Result<Option<Lease>>;

    /// Replaces the tenure `stale` with a new one for `holder` *without* waiting for `stale` to
    /// expire: for a caller that knows `stale.holder` is dead because its liveness record ran
    /// out ([`crate::liveness`]), long before its leases would.
    ///
    /// Succeeds when `stale` is still the current tenure of `stale.key` (same holder and token,
    /// renewed since or not) or when the key is free; the new tenure's token is larger than
    /// `stale`'s, so the old holder's renewals, releases and fenced writes fail from then on.
    /// Returns `None` when another tenure holds the key (somebody else took over first, or the
    /// key changed hands in the meantime): compare-and-swap on the token, so of several
    /// replicas taking over at once exactly one wins.
    ///
    /// The store does not judge liveness itself: safety rests on the token, never on the
    /// suspicion being right. A holder that was only paused loses its tenure and is fenced.
    ///
    /// # Errors
    /// As for [`try_acquire`](Self::try_acquire).
    async fn take_over(&self, stale: &Lease, holder: &str, ttl: Duration) -> Result<Option<Lease>>;
}
