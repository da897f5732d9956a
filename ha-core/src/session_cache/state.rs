//! The cache's bookkeeping, without I/O: which sessions this replica may answer from memory,
//! which touches it may skip, and which fetches raced an invalidation.
//!
//! Every method takes `now` from the caller's [`crate::Clock`], so the rules are tested by
//! moving an instant, not by sleeping.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::Session;

/// Limits of the cache (see [`super::SessionCacheConfig`] for what each promises).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub fresh_for: Duration,
    pub touch_every: Duration,
    pub max_entries: usize,
}

#[derive(Debug)]
struct Entry {
    /// The session as last read or written, and when the backing store last vouched for it;
    /// `None` after a touch this replica passed through (the store stamped a new last
    /// activity, so the next `get` reads it again).
    verified: Option<(Session, Instant)>,
    /// When this replica last extended the session in the backing store (put or touch).
    touched: Option<Instant>,
    /// The deadline this replica's own last write gave the session, if it wrote one: a cached
    /// copy never outlives it, so a short-lived session expires on time here too.
    expires: Option<Instant>,
}

/// Counts invalidations, so a fetch that started before one does not cache what it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Epoch(u64);

/// Sessions this replica has verified recently.
#[derive(Debug)]
pub(crate) struct CacheState {
    limits: Limits,
    entries: HashMap<String, Entry>,
    epoch: u64,
}

impl CacheState {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            entries: HashMap::new(),
            epoch: 0,
        }
    }

    /// The session, if the backing store vouched for it less than `fresh_for` ago.
    pub fn get(&self, token_hash: &str, now: Instant) -> Option<Session> {
        let entry = self.entries.get(token_hash)?;
        let (session, _) = entry.verified.as_ref()?;
        self.is_fresh(entry, now).then(|| session.clone())
    }

    fn is_fresh(&self, entry: &Entry, now: Instant) -> bool {
        let Some((_, verified)) = &entry.verified else {
            return false;
        };
        now.saturating_duration_since(*verified) < self.limits.fresh_for
            && entry.expires.is_none_or(|deadline| now < deadline)
    }

    /// The current epoch: take it *before* asking the backing store.
    pub fn epoch(&self) -> Epoch {
        Epoch(self.epoch)
    }

    /// Records what the backing store returned for a fetch begun at `since`; ignored when an
    /// invalidation happened meanwhile (the row read may be the one just revoked).
    pub fn fetched(&mut self, session: Session, since: Epoch, now: Instant) {
        if since != self.epoch() {
            return;
        }
        let (touched, expires) = self
            .entries
            .get(&session.token_hash)
            .map_or((None, None), |e| (e.touched, e.expires));
        self.insert(session, now, touched, expires);
    }

    /// Records a session this replica has just written (and so extended by `ttl`) itself.
    pub fn written(&mut self, session: Session, ttl: Duration, now: Instant) {
        self.insert(session, now, Some(now), now.checked_add(ttl));
    }

    fn insert(
        &mut self,
        session: Session,
        now: Instant,
        touched: Option<Instant>,
        expires: Option<Instant>,
    ) {
        if self.entries.len() >= self.limits.max_entries
            && !self.entries.contains_key(&session.token_hash)
        {
            self.sweep(now);
            if self.entries.len() >= self.limits.max_entries {
                // Full of live entries: start over rather than track an eviction order. A
                // cleared cache costs only round trips, never correctness.
                self.entries.clear();
            }
        }
        let key = session.token_hash.clone();
        self.entries.insert(
            key,
            Entry {
                verified: Some((session, now)),
                touched,
                expires,
            },
        );
    }

    /// Whether a touch with `ttl` may be skipped: the session is fresh here, this replica
    /// extended it less than `touch_every` ago, and `ttl` is long enough that the skipped
    /// extension cannot matter (more than twice `touch_every`).
    pub fn may_skip_touch(&self, token_hash: &str, ttl: Duration, now: Instant) -> bool {
        if ttl <= self.limits.touch_every.saturating_mul(2) {
            return false;
        }
        let Some(entry) = self.entries.get(token_hash) else {
            return false;
        };
        self.is_fresh(entry, now)
            && entry
                .touched
                .is_some_and(|t| now.saturating_duration_since(t) < self.limits.touch_every)
    }

    /// The backing store extended the session by `ttl` at `now` (and stamped its last
    /// activity, so the cached copy is out of date: the next `get` reads it again).
    pub fn touched(&mut self, token_hash: &str, ttl: Duration, now: Instant) {
        if let Some(entry) = self.entries.get_mut(token_hash) {
            entry.verified = None;
            entry.touched = Some(now);
            entry.expires = now.checked_add(ttl);
        }
    }

    /// Forgets one session found dead, without disturbing fetches of others in flight.
    pub fn forget(&mut self, token_hash: &str) {
        self.entries.remove(token_hash);
    }

    /// Forgets one session (revoked here or elsewhere, or found dead).
    pub fn invalidate(&mut self, token_hash: &str) {
        self.epoch += 1;
        self.entries.remove(token_hash);
    }

    /// Forgets everything (the event bus may have lost an invalidation).
    pub fn clear(&mut self) {
        self.epoch += 1;
        self.entries.clear();
    }

    /// Drops entries that can no longer answer a `get` nor skip a touch.
    fn sweep(&mut self, now: Instant) {
        let limits = self.limits;
        self.entries.retain(|_, e| {
            let age = |t: Instant| now.saturating_duration_since(t);
            e.verified
                .as_ref()
                .is_some_and(|(_, v)| age(*v) < limits.fresh_for)
                || e.touched.is_some_and(|t| age(t) < limits.touch_every)
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRESH: Duration = Duration::from_secs(2);
    const TOUCH: Duration = Duration::from_secs(60);
    const DAY: Duration = Duration::from_secs(86_400);

    fn session(hash: &str) -> Session {
        Session {
            id: format!("id-{hash}"),
            token_hash: hash.into(),
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

    fn state(max_entries: usize) -> CacheState {
        CacheState::new(Limits {
            fresh_for: FRESH,
            touch_every: TOUCH,
            max_entries,
        })
    }

    #[test]
    fn an_entry_answers_only_while_fresh() {
        let t0 = Instant::now();
        let mut s = state(10);
        s.fetched(session("a"), s.epoch(), t0);
        assert!(s.get("a", t0 + FRESH - Duration::from_millis(1)).is_some());
        assert!(s.get("a", t0 + FRESH).is_none());
        assert!(s.get("b", t0).is_none());
    }

    #[test]
    fn a_fetch_that_raced_an_invalidation_is_not_cached() {
        let t0 = Instant::now();
        let mut s = state(10);
        let before = s.epoch();
        s.invalidate("a");
        s.fetched(session("a"), before, t0);
        assert!(s.get("a", t0).is_none());
        let before = s.epoch();
        s.clear();
        s.fetched(session("a"), before, t0);
        assert!(s.get("a", t0).is_none());
    }

    #[test]
    fn touches_are_skipped_only_within_the_interval_and_while_fresh() {
        let t0 = Instant::now();
        let mut s = state(10);
        s.fetched(session("a"), s.epoch(), t0);
        // Never extended by this replica: the first touch goes through.
        assert!(!s.may_skip_touch("a", DAY, t0));
        s.touched("a", DAY, t0);
        // The touch stamped a new last activity: read it again before answering or skipping.
        assert!(s.get("a", t0).is_none());
        assert!(!s.may_skip_touch("a", DAY, t0));
        s.fetched(session("a"), s.epoch(), t0);
        assert!(s.may_skip_touch("a", DAY, t0 + Duration::from_secs(1)));
        // Stale entry: the caller must re-verify (and that fetch keeps the touch time).
        let t1 = t0 + FRESH;
        assert!(!s.may_skip_touch("a", DAY, t1));
        s.fetched(session("a"), s.epoch(), t1);
        assert!(s.may_skip_touch("a", DAY, t1));
        // Interval over: touch again.
        let t2 = t0 + TOUCH;
        s.fetched(session("a"), s.epoch(), t2);
        assert!(!s.may_skip_touch("a", DAY, t2));
        // A TTL too short to risk skipping.
        s.touched("a", DAY, t2);
        s.fetched(session("a"), s.epoch(), t2);
        assert!(!s.may_skip_touch("a", TOUCH * 2, t2));
    }

    #[test]
    fn a_write_counts_as_a_touch() {
        let t0 = Instant::now();
        let mut s = state(10);
        s.written(session("a"), DAY, t0);
        assert!(s.get("a", t0).is_some());
        assert!(s.may_skip_touch("a", DAY, t0));
        s.invalidate("a");
        assert!(!s.may_skip_touch("a", DAY, t0));
    }

    #[test]
    fn a_cached_copy_never_outlives_the_deadline_this_replica_wrote() {
        let t0 = Instant::now();
        let mut s = state(10);
        let short = Duration::from_millis(300);
        s.written(session("a"), short, t0);
        assert!(s.get("a", t0 + short - Duration::from_millis(1)).is_some());
        assert!(s.get("a", t0 + short).is_none());
        // A later read keeps that deadline (this replica knows of no extension).
        s.fetched(session("a"), s.epoch(), t0 + Duration::from_millis(100));
        assert!(s.get("a", t0 + short).is_none());
    }

    #[test]
    fn forgetting_does_not_void_other_fetches() {
        let t0 = Instant::now();
        let mut s = state(10);
        let before = s.epoch();
        s.forget("dead");
        s.fetched(session("a"), before, t0);
        assert!(s.get("a", t0).is_some());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let t0 = Instant::now();
        let mut s = state(2);
        s.fetched(session("a"), s.epoch(), t0);
        s.fetched(session("b"), s.epoch(), t0);
        // Full of live entries: cleared, then the new one inserted.
        s.fetched(session("c"), s.epoch(), t0);
        assert_eq!(s.len(), 1);
        assert!(s.get("c", t0).is_some());
        // Dead entries are swept first.
        let later = t0 + TOUCH;
        s.fetched(session("d"), s.epoch(), t0);
        s.fetched(session("e"), s.epoch(), later);
        assert_eq!(s.len(), 1);
        assert!(s.get("e", later).is_some());
    }
}
