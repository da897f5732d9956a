//! In-process [`LeaseManager`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::lock;
use crate::lease::{validate_name, validate_ttl};
use crate::{Error, FencingToken, Lease, LeaseManager, Result, SharedClock, SystemClock};

#[derive(Debug)]
struct Held {
    holder: String,
    token: FencingToken,
    ttl: Duration,
    expires_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    leases: HashMap<String, Held>,
    /// The last token issued for any key: tokens are `max(last + 1, wall clock µs)`, so they
    /// increase per key without remembering released keys.
    last_token: u64,
}

/// Leases in a map, judged by an injected clock.
#[derive(Debug)]
pub struct MemoryLeaseManager {
    clock: SharedClock,
    state: Mutex<State>,
}

impl MemoryLeaseManager {
    /// A manager on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock::shared())
    }

    /// A manager on `clock`.
    pub fn with_clock(clock: SharedClock) -> Self {
        Self {
            clock,
            state: Mutex::new(State::default()),
        }
    }
}

impl Default for MemoryLeaseManager {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    fn live(&self, key: &str, now: Instant) -> Option<&Held> {
        self.leases.get(key).filter(|h| h.expires_at > now)
    }

    fn is_current(&self, lease: &Lease, now: Instant) -> bool {
        self.live(&lease.key, now)
            .is_some_and(|h| h.holder == lease.holder && h.token == lease.token)
    }

    fn renew(&mut self, lease: &Lease, now: Instant) -> Option<Lease> {
        if !self.is_current(lease, now) {
            return None;
        }
        let held = self.leases.get_mut(&lease.key)?;
        held.expires_at = now + held.ttl;
        Some(Lease {
            expires_at: held.expires_at,
            ..lease.clone()
        })
    }
}

impl MemoryLeaseManager {
    /// Issues a new tenure on `key` unless a live one exists for which `blocks` is true.
    fn acquire_unless(
        &self,
        key: &str,
        holder: &str,
        ttl: Duration,
        blocks: impl Fn(&Held) -> bool,
    ) -> Result<Option<Lease>> {
        validate_name("lease key", key)?;
        validate_name("lease holder", holder)?;
        validate_ttl(ttl)?;
        let now = self.clock.now();
        let wall = self.clock.unix_micros();
        let mut state = lock(&self.state);
        if state.live(key, now).is_some_and(&blocks) {
            return Ok(None);
        }
        if state.leases.len() > 1024 {
            state.leases.retain(|_, h| h.expires_at > now);
        }
        let token = FencingToken(wall.max(state.last_token + 1));
        state.last_token = token.0;
        let expires_at = now + ttl;
        state.leases.insert(
            key.to_owned(),
            Held {
                holder: holder.to_owned(),
                token,
                ttl,
                expires_at,
            },
        );
        Ok(Some(Lease {
            key: key.to_owned(),
            holder: holder.to_owned(),
            token,
            ttl,
            expires_at,
        }))
    }
}

#[async_trait]
impl LeaseManager for MemoryLeaseManager {
    async fn try_acquire(&self, key: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        self.acquire_unless(key, holder, ttl, |_| true)
    }

    async fn take_over(&self, stale: &Lease, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        self.acquire_unless(&stale.key, holder, ttl, |live| {
            live.holder != stale.holder || live.token != stale.token
        })
    }

    async fn renew(&self, lease: &Lease) -> Result<Lease> {
        let now = self.clock.now();
        lock(&self.state)
            .renew(lease, now)
            .ok_or_else(|| Error::LeaseLost {
                key: lease.key.clone(),
            })
    }

    async fn renew_many(&self, leases: &[Lease]) -> Result<Vec<Option<Lease>>> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        Ok(leases.iter().map(|l| state.renew(l, now)).collect())
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        if !state.is_current(lease, now) {
            return Ok(false);
        }
        state.leases.remove(&lease.key);
        Ok(true)
    }

    async fn current(&self, key: &str) -> Result<Option<Lease>> {
        let now = self.clock.now();
        let state = lock(&self.state);
        Ok(state.live(key, now).map(|h| Lease {
            key: key.to_owned(),
            holder: h.holder.clone(),
            token: h.token,
            ttl: h.ttl,
            expires_at: h.expires_at,
        }))
    }
}
