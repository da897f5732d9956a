//! The cache over a real in-process store and bus, on paused tokio time (the injected
//! [`SystemClock`] follows it), counting what reaches the backing store.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::advance;

use super::*;
use crate::memory::{MemoryEventBus, MemorySessionStore};
use crate::{auth, EventBus};

const DAY: Duration = Duration::from_secs(86_400);

/// A real store that counts the calls reaching it.
#[derive(Debug, Default)]
struct Counted {
    store: MemorySessionStore,
    gets: AtomicUsize,
    touches: AtomicUsize,
}

#[async_trait]
impl SessionStore for Counted {
    async fn put(&self, session: &Session, ttl: Duration) -> Result<()> {
        self.store.put(session, ttl).await
    }
    async fn update(&self, session: &Session, ttl: Duration) -> Result<bool> {
        self.store.update(session, ttl).await
    }
    async fn get(&self, token_hash: &str) -> Result<Option<Session>> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        self.store.get(token_hash).await
    }
    async fn touch(&self, token_hash: &str, ttl: Duration) -> Result<bool> {
        self.touches.fetch_add(1, Ordering::SeqCst);
        self.store.touch(token_hash, ttl).await
    }
    async fn remove(&self, token_hash: &str) -> Result<bool> {
        self.store.remove(token_hash).await
    }
    async fn list(&self) -> Result<Vec<Session>> {
        self.store.list().await
    }
}

fn session(token: &str) -> Session {
    Session {
        id: format!("id-{token}"),
        token_hash: auth::hash_token(token),
        user_id: "u1".into(),
        user_name: "alice".into(),
        device_id: "d1".into(),
        device_name: "Phone".into(),
        client: "test".into(),
        client_version: "1".into(),
        now_playing: None,
        created_ms: 0,
        last_activity_ms: 0,
    }
}

fn config() -> SessionCacheConfig {
    SessionCacheConfig {
        fresh_for: Duration::from_secs(2),
        touch_every: Duration::from_secs(60),
        max_entries: 1_000,
    }
}

fn replica(backing: Arc<dyn SessionStore>) -> CachedSessionStore {
    // Built inside the paused runtime, so the clock follows `advance`.
    CachedSessionStore::new(backing, SystemClock::shared(), config())
}

/// What the server does per request: validate, then touch.
async fn request(s: &dyn SessionStore, hash: &str) -> bool {
    match s.get(hash).await.unwrap() {
        Some(_) => s.touch(hash, DAY).await.unwrap(),
        None => false,
    }
}

#[tokio::test(start_paused = true)]
async fn requests_within_the_bound_reach_the_store_rarely() {
    let backing = Arc::new(Counted::default());
    let other = session("t-other");
    backing.put(&other, DAY).await.unwrap();
    let cache = replica(backing.clone());
    let hash = other.token_hash.clone();

    // One second of requests, 10 ms apart: one read and one touch reach the store, then the
    // touch's fresh last activity is read once more.
    for _ in 0..100 {
        assert!(request(&cache, &hash).await);
        advance(Duration::from_millis(10)).await;
    }
    assert_eq!(backing.touches.load(Ordering::SeqCst), 1);
    assert_eq!(backing.gets.load(Ordering::SeqCst), 2);

    // Past the freshness bound the session is read again, but not touched again before
    // `touch_every` has passed.
    advance(Duration::from_secs(2)).await;
    assert!(request(&cache, &hash).await);
    assert_eq!(backing.gets.load(Ordering::SeqCst), 3);
    assert_eq!(backing.touches.load(Ordering::SeqCst), 1);
    advance(Duration::from_secs(60)).await;
    assert!(request(&cache, &hash).await);
    assert_eq!(backing.touches.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_sign_in_elsewhere_is_seen_at_once() {
    let backing: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new());
    let a = replica(backing.clone());
    let b = replica(backing.clone());
    let s = session("t1");
    assert!(b.get(&s.token_hash).await.unwrap().is_none());
    a.put(&s, DAY).await.unwrap();
    // The miss was not cached.
    assert_eq!(b.get(&s.token_hash).await.unwrap(), Some(s));
}

#[tokio::test(start_paused = true)]
async fn a_revocation_on_one_replica_is_refused_on_the_other() {
    let bus: Arc<dyn EventBus> = Arc::new(MemoryEventBus::new());
    let backing: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new());
    let a = replica(backing.clone()).with_publisher(EventPublisher::new(bus.clone(), "a"));
    let b = replica(backing.clone()).with_publisher(EventPublisher::new(bus.clone(), "b"));
    let mut b_events = bus.subscribe().await.unwrap();

    let s = session("t1");
    a.put(&s, DAY).await.unwrap();
    assert!(request(&a, &s.token_hash).await);
    assert!(request(&b, &s.token_hash).await);
    assert!(b.get(&s.token_hash).await.unwrap().is_some(), "cached on b");

    assert!(a.remove(&s.token_hash).await.unwrap());
    // Refused at once where it was revoked…
    assert!(!request(&a, &s.token_hash).await);
    // …and on b once b has applied the event, well inside the freshness bound.
    let message = b_events.next().await.expect("the revocation event");
    b.apply(&message);
    assert!(!request(&b, &s.token_hash).await);
}

#[tokio::test(start_paused = true)]
async fn a_lost_event_is_bounded_by_fresh_for() {
    let backing: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new());
    let a = replica(backing.clone());
    let b = replica(backing.clone()); // hears nothing
    let s = session("t1");
    a.put(&s, DAY).await.unwrap();
    // The first request touches (so the next one reads the new last activity); the second
    // leaves the session cached.
    assert!(request(&b, &s.token_hash).await);
    assert!(request(&b, &s.token_hash).await);
    assert!(a.remove(&s.token_hash).await.unwrap());
    // The promise is "at most fresh_for": still served just before it…
    advance(Duration::from_millis(1_999)).await;
    assert!(b.get(&s.token_hash).await.unwrap().is_some());
    // …and refused from then on.
    advance(Duration::from_millis(1)).await;
    assert!(!request(&b, &s.token_hash).await);
}

#[tokio::test(start_paused = true)]
async fn a_gap_or_resync_drops_everything() {
    let backing: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new());
    let cache = replica(backing.clone());
    let s = session("t1");
    cache.put(&s, DAY).await.unwrap();
    assert_eq!(cache.len(), 1);
    cache.apply(&BusMessage::Resync {
        reason: "test".into(),
    });
    assert!(cache.is_empty());
    cache.get(&s.token_hash).await.unwrap();
    assert_eq!(cache.len(), 1);
    cache.apply(&BusMessage::Gap {
        origin: "x".into(),
        expected: 2,
        received: 5,
    });
    assert!(cache.is_empty());
}

#[tokio::test(start_paused = true)]
async fn follow_applies_revocations_until_the_bus_ends() {
    let bus: Arc<dyn EventBus> = Arc::new(MemoryEventBus::new());
    let backing: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new());
    let a = replica(backing.clone()).with_publisher(EventPublisher::new(bus.clone(), "a"));
    let b = Arc::new(replica(backing.clone()));
    let s = session("t1");
    a.put(&s, DAY).await.unwrap();
    assert!(request(b.as_ref(), &s.token_hash).await);

    let mut sub = bus.subscribe().await.unwrap();
    let follower = b.clone();
    let task = tokio::spawn(async move { follower.follow(&mut sub).await });
    a.remove(&s.token_hash).await.unwrap();
    // The follower runs as soon as this task yields; no wall-clock wait.
    for _ in 0..1_000 {
        if b.is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(b.is_empty(), "the follower applied the revocation");
    assert!(!request(b.as_ref(), &s.token_hash).await);
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn an_update_after_a_sign_out_elsewhere_does_not_revive_the_session() {
    let backing: Arc<dyn SessionStore> = Arc::new(Counted::default());
    let a = replica(backing.clone());
    let b = replica(backing.clone());
    let mut sess = session("t");
    a.put(&sess, DAY).await.unwrap();
    // b has verified it (as a request would), then a signs it out; b never hears of it.
    assert!(request(&b, &sess.token_hash).await);
    assert!(a.remove(&sess.token_hash).await.unwrap());
    sess.last_activity_ms = 42;
    assert!(!b.update(&sess, DAY).await.unwrap(), "the store refused it");
    assert!(backing.get(&sess.token_hash).await.unwrap().is_none());
    assert!(b.get(&sess.token_hash).await.unwrap().is_none());
    advance(Duration::from_secs(3)).await;
    assert!(!request(&a, &sess.token_hash).await);
    assert!(!request(&b, &sess.token_hash).await);
}
