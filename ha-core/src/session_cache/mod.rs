//! A per-replica cache in front of any [`SessionStore`]: validated sessions answered from memory
//! for a short, bounded time, touches coalesced, revocations spread on the [`EventBus`].
//!
//! # Why
//!
//! Every API request names its session by token; validating it in a shared store is one round
//! trip, and keeping the session alive (`touch`) is a *write* (on PostgreSQL a committed,
//! WAL-flushed `UPDATE`). With two replicas on Redis + PostgreSQL that was most of the cost of a
//! cheap endpoint (docs/BENCHMARKS.md, item 7). But a session lives for hours and a client
//! sends many requests a second: the store need not be asked every time.
//!
//! # What it promises (the staleness bound)
//!
//! * **Sign-in** is visible at once on every replica: a token this replica has not seen is
//!   always looked up in the backing store (misses are never cached).
//! * **Sign-out / revocation through this wrapper** ([`SessionStore::remove`]) takes effect at
//!   once on the replica that did it, and on the others as soon as they receive the
//!   [`SESSION_REVOKED`] event the wrapper publishes (a replica that learns it may have missed
//!   events — a gap or a resync on its [`Subscription`] — drops its whole cache). If the event
//!   is lost without either being reported (or nobody calls [`CachedSessionStore::follow`]), a
//!   replica still accepts the revoked token for at most
//!   [`fresh_for`](SessionCacheConfig::fresh_for) after it last read it from the store.
//! * **A session deleted behind the wrapper's back** (expired, removed by another tool) is
//!   likewise accepted for at most `fresh_for` after this replica last read it, and never past
//!   a deadline this replica itself wrote (put or touch).
//! * **Touches** reach the backing store at most once per
//!   [`touch_every`](SessionCacheConfig::touch_every) per session and replica, and only for
//!   TTLs longer than twice that interval (so a session in use can never expire because a touch
//!   was skipped). The stored last-activity time is therefore up to `touch_every` old.
//! * **Updates** ([`SessionStore::update`]) go to the backing store, which writes only a session
//!   still live there: a report racing a sign-out on any replica cannot revive the token, and
//!   an update that raced a revocation seen here is not cached.
//! * **Session data** written on another replica (e.g. what is playing) may be seen here up to
//!   `fresh_for` late. `list` always reads the backing store.
//!
//! The bookkeeping is in `state.rs` (pure, clock injected); this file only does the I/O.

mod state;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;

use crate::{
    BusMessage, EventPublisher, Result, Session, SessionStore, SharedClock, Subscription,
    SystemClock,
};
use state::{CacheState, Limits};

/// The topic of the event a revocation publishes; the payload is `{"token_hash": "…"}` (the
/// store key, not a credential: see [`crate::auth::hash_token`]).
pub const SESSION_REVOKED: &str = "session.revoked";

/// How long a replica may trust what it read.
#[derive(Debug, Clone, Copy)]
pub struct SessionCacheConfig {
    /// How long a session read from (or written to) the backing store is answered from memory.
    /// The bound on how late a revocation whose event was lost takes effect. Default 2 s.
    pub fresh_for: Duration,
    /// A session is extended in the backing store at most this often per replica. Default
    /// 60 s; touches with a TTL of at most twice this always go through.
    pub touch_every: Duration,
    /// At most this many sessions are kept (the cache is cleared when full of live ones).
    /// Default 100,000.
    pub max_entries: usize,
}

impl Default for SessionCacheConfig {
    fn default() -> Self {
        Self {
            fresh_for: Duration::from_secs(2),
            touch_every: Duration::from_secs(60),
            max_entries: 100_000,
        }
    }
}

/// A [`SessionStore`] that answers recently validated sessions from memory (see the module
/// docs for the staleness bound).
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use ha_core::memory::{MemoryEventBus, MemorySessionStore};
/// use ha_core::session_cache::{CachedSessionStore, SessionCacheConfig};
/// use ha_core::{EventBus, EventPublisher, SessionStore, SystemClock};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ha_core::Result<()> {
/// let bus: Arc<dyn EventBus> = Arc::new(MemoryEventBus::new());
/// let backing: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new());
/// let cache = Arc::new(
///     CachedSessionStore::new(backing, SystemClock::shared(), SessionCacheConfig::default())
///         .with_publisher(EventPublisher::new(bus.clone(), "node-a")),
/// );
/// // Apply other replicas' revocations (a server runs this until shutdown).
/// let mut sub = bus.subscribe().await?;
/// let follower = cache.clone();
/// tokio::spawn(async move { follower.follow(&mut sub).await });
/// let sessions: Arc<dyn SessionStore> = cache;
/// assert!(sessions.get("no-such-hash").await?.is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct CachedSessionStore {
    inner: Arc<dyn SessionStore>,
    clock: SharedClock,
    state: Mutex<CacheState>,
    publisher: Option<EventPublisher>,
}

impl CachedSessionStore {
    /// A cache over `inner` on `clock`, publishing nothing (add
    /// [`with_publisher`](Self::with_publisher) when other replicas share `inner`).
    pub fn new(
        inner: Arc<dyn SessionStore>,
        clock: SharedClock,
        config: SessionCacheConfig,
    ) -> Self {
        Self {
            inner,
            clock,
            state: Mutex::new(CacheState::new(Limits {
                fresh_for: config.fresh_for,
                touch_every: config.touch_every,
                max_entries: config.max_entries.max(1),
            })),
            publisher: None,
        }
    }

    /// A cache over `inner` on the system clock with the default limits.
    pub fn with_defaults(inner: Arc<dyn SessionStore>) -> Self {
        Self::new(inner, SystemClock::shared(), SessionCacheConfig::default())
    }

    /// Publishes [`SESSION_REVOKED`] with `publisher` on every `remove`.
    pub fn with_publisher(mut self, publisher: EventPublisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CacheState> {
        // Every critical section leaves the map consistent before anything can panic.
        crate::sync::lock(&self.state)
    }

    /// Applies one message of an event-bus subscription: drops a revoked session, or the whole
    /// cache when events may have been missed. Other topics are ignored.
    pub fn apply(&self, message: &BusMessage) {
        match message {
            BusMessage::Event(event) if event.topic == SESSION_REVOKED => {
                match event.payload.get("token_hash").and_then(|h| h.as_str()) {
                    Some(hash) => self.state().invalidate(hash),
                    // Malformed: safer to forget everything than to keep a revoked session.
                    None => self.state().clear(),
                }
            }
            BusMessage::Event(_) => {}
            BusMessage::Gap { .. } | BusMessage::Resync { .. } => self.state().clear(),
        }
    }

    /// Applies `subscription` until it ends. Run it for as long as the cache is used; subscribe
    /// before serving requests (what was cached before the subscription existed could miss a
    /// revocation for up to `fresh_for`).
    pub async fn follow(&self, subscription: &mut Subscription) {
        while let Some(message) = subscription.next().await {
            self.apply(&message);
        }
        // The bus is gone: drop what may already be stale; from now on only `fresh_for` bounds
        // how late a revocation elsewhere is seen here.
        self.state().clear();
    }

    /// How many sessions are cached (for metrics and tests).
    pub fn len(&self) -> usize {
        self.state().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl SessionStore for CachedSessionStore {
    async fn put(&self, session: &Session, ttl: Duration) -> Result<()> {
        self.inner.put(session, ttl).await?;
        let now = self.clock.now();
        self.state().written(session.clone(), ttl, now);
        Ok(())
    }

    async fn update(&self, session: &Session, ttl: Duration) -> Result<bool> {
        let epoch = self.state().epoch();
        let live = self.inner.update(session, ttl).await?;
        let now = self.clock.now();
        let mut state = self.state();
        if !live {
            state.forget(&session.token_hash);
        } else if state.epoch() == epoch {
            state.written(session.clone(), ttl, now);
        }
        // Else a revocation was seen meanwhile: cache nothing (the next `get` asks the store).
        Ok(live)
    }

    async fn get(&self, token_hash: &str) -> Result<Option<Session>> {
        let epoch = {
            let state = self.state();
            if let Some(session) = state.get(token_hash, self.clock.now()) {
                return Ok(Some(session));
            }
            state.epoch()
        };
        let found = self.inner.get(token_hash).await?;
        let now = self.clock.now();
        let mut state = self.state();
        match &found {
            Some(session) => state.fetched(session.clone(), epoch, now),
            None => state.forget(token_hash),
        }
        Ok(found)
    }

    async fn touch(&self, token_hash: &str, ttl: Duration) -> Result<bool> {
        // A skipped touch must refuse what the store would have refused.
        crate::sessions::validate_session_ttl(ttl)?;
        if self
            .state()
            .may_skip_touch(token_hash, ttl, self.clock.now())
        {
            return Ok(true);
        }
        let live = self.inner.touch(token_hash, ttl).await?;
        let now = self.clock.now();
        let mut state = self.state();
        if live {
            state.touched(token_hash, ttl, now);
        } else {
            state.forget(token_hash);
        }
        Ok(live)
    }

    async fn remove(&self, token_hash: &str) -> Result<bool> {
        self.state().invalidate(token_hash);
        let was_live = self.inner.remove(token_hash).await;
        // Again: a `get` that read the row before it went may have finished meanwhile.
        self.state().invalidate(token_hash);
        let was_live = was_live?;
        if let Some(publisher) = &self.publisher {
            let payload = json!({ "token_hash": token_hash });
            if let Err(err) = publisher.publish(SESSION_REVOKED, payload).await {
                // The session is gone from the store; other replicas fall back to `fresh_for`.
                tracing::warn!(error = %err, "could not announce a revoked session");
            }
        }
        Ok(was_live)
    }

    async fn list(&self) -> Result<Vec<Session>> {
        self.inner.list().await
    }

    async fn count(&self) -> Result<u64> {
        self.inner.count().await
    }
}

#[cfg(test)]
mod tests;
