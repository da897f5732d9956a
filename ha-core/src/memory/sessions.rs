//! In-process [`SessionStore`], optionally persisted to a directory
//! ([`MemorySessionStore::open`]; the files are described in `session_file.rs`) so a
//! single-node server does not sign every client out when it restarts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::journal::Durable;
use super::lock;
use super::session_file::{touch_slack, Change, SessionFile, Stored};
use crate::{Result, Session, SessionStore, SharedClock, SystemClock};

#[derive(Debug)]
struct Entry {
    session: Session,
    /// When it expires (monotonic: what every check uses).
    deadline: Instant,
    /// The deadline as last written to the journal (wall clock, ms).
    persisted_ms: u64,
}

impl Entry {
    fn stored(&self) -> Stored {
        Stored {
            session: self.session.clone(),
            expires_ms: self.persisted_ms,
        }
    }
}

#[derive(Debug)]
struct Inner {
    sessions: HashMap<String, Entry>,
    file: Option<SessionFile>,
}

/// Sessions in a map, each with its own deadline; persisted when opened on a directory.
#[derive(Debug)]
pub struct MemorySessionStore {
    clock: SharedClock,
    inner: Mutex<Inner>,
}

impl MemorySessionStore {
    /// A store on the system clock that forgets everything when dropped.
    pub fn new() -> Self {
        Self::with_clock(SystemClock::shared())
    }

    /// A store on `clock` that forgets everything when dropped.
    pub fn with_clock(clock: SharedClock) -> Self {
        Self {
            clock,
            inner: Mutex::new(Inner {
                sessions: HashMap::new(),
                file: None,
            }),
        }
    }

    /// Opens (creating if needed) a store persisted under `dir`, on the system clock: the
    /// sessions of the previous run that have not expired are live again.
    ///
    /// # Errors
    /// [`Error::Backend`](crate::Error::Backend) when the directory cannot be created, read or
    /// written; [`Error::Decode`](crate::Error::Decode) when the snapshot is not valid.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with_clock(dir, SystemClock::shared())
    }

    /// [`open`](Self::open) on `clock`.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with_clock(dir: impl AsRef<Path>, clock: SharedClock) -> Result<Self> {
        let now = clock.now();
        let now_ms = clock.unix_millis();
        let (file, live) = SessionFile::open(dir.as_ref(), now_ms)?;
        let sessions = live
            .into_iter()
            .map(|stored| {
                let left = Duration::from_millis(stored.expires_ms.saturating_sub(now_ms));
                let entry = Entry {
                    deadline: now + left,
                    persisted_ms: stored.expires_ms,
                    session: stored.session,
                };
                (entry.session.token_hash.clone(), entry)
            })
            .collect();
        Ok(Self {
            clock,
            inner: Mutex::new(Inner {
                sessions,
                file: Some(file),
            }),
        })
    }
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        Self::new()
    }
}

impl Inner {
    /// Queues `change` in the journal (when persisted), compacting the journal when it has
    /// grown long; the caller awaits the [`Durable`] with the lock released.
    ///
    /// Call it *before* applying `change` to the map: the live sessions handed to a compaction
    /// are then those before it, and `change` itself is in the journal that follows.
    fn journal(&mut self, change: &Change, now: Instant) -> Result<Durable> {
        let Some(file) = self.file.as_mut() else {
            return Ok(Durable::done());
        };
        if file.wants_compaction() {
            let live: Vec<Stored> = self
                .sessions
                .values()
                .filter(|e| e.deadline > now)
                .map(Entry::stored)
                .collect();
            file.compact(live);
        }
        file.append(change)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn put(&self, session: &Session, ttl: Duration) -> Result<()> {
        crate::lease::validate_name("session token hash", &session.token_hash)?;
        crate::sessions::validate_session_ttl(ttl)?;
        let now = self.clock.now();
        let expires_ms = self.clock.unix_millis().saturating_add(millis(ttl));
        let durable = {
            let mut inner = lock(&self.inner);
            if inner.sessions.len() > 1024 {
                inner.sessions.retain(|_, e| e.deadline > now);
            }
            let entry = Entry {
                session: session.clone(),
                deadline: now + ttl,
                persisted_ms: expires_ms,
            };
            let durable = inner.journal(&Change::Put(Box::new(entry.stored())), now)?;
            inner.sessions.insert(session.token_hash.clone(), entry);
            durable
        };
        durable.wait().await
    }

    async fn update(&self, session: &Session, ttl: Duration) -> Result<bool> {
        crate::sessions::validate_session_ttl(ttl)?;
        let now = self.clock.now();
        let expires_ms = self.clock.unix_millis().saturating_add(millis(ttl));
        let durable = {
            let mut inner = lock(&self.inner);
            // The check and the write under one lock: a `remove` cannot slip in between.
            if inner
                .sessions
                .get(&session.token_hash)
                .is_none_or(|e| e.deadline <= now)
            {
                return Ok(false);
            }
            let entry = Entry {
                session: session.clone(),
                deadline: now + ttl,
                persisted_ms: expires_ms,
            };
            let durable = inner.journal(&Change::Put(Box::new(entry.stored())), now)?;
            inner.sessions.insert(session.token_hash.clone(), entry);
            durable
        };
        durable.wait().await?;
        Ok(true)
    }

    async fn get(&self, token_hash: &str) -> Result<Option<Session>> {
        let now = self.clock.now();
        Ok(lock(&self.inner)
            .sessions
            .get(token_hash)
            .filter(|e| e.deadline > now)
            .map(|e| e.session.clone()))
    }

    async fn touch(&self, token_hash: &str, ttl: Duration) -> Result<bool> {
        crate::sessions::validate_session_ttl(ttl)?;
        let now = self.clock.now();
        let now_ms = self.clock.unix_millis();
        let expires_ms = now_ms.saturating_add(millis(ttl));
        let durable = {
            let mut inner = lock(&self.inner);
            let persisted = inner.file.is_some();
            let Some(entry) = inner
                .sessions
                .get_mut(token_hash)
                .filter(|e| e.deadline > now)
            else {
                return Ok(false);
            };
            entry.deadline = now + ttl;
            entry.session.last_activity_ms = now_ms;
            // Journal only a deadline that moved far enough, or earlier (see session_file.rs).
            let moved_far =
                expires_ms > entry.persisted_ms.saturating_add(millis(touch_slack(ttl)));
            if !persisted || !(moved_far || expires_ms < entry.persisted_ms) {
                return Ok(true);
            }
            let change = Change::Touch {
                token_hash: token_hash.to_owned(),
                expires_ms,
                last_activity_ms: now_ms,
            };
            let durable = inner.journal(&change, now)?;
            if let Some(entry) = inner.sessions.get_mut(token_hash) {
                entry.persisted_ms = expires_ms;
            }
            durable
        };
        durable.wait().await?;
        Ok(true)
    }

    async fn remove(&self, token_hash: &str) -> Result<bool> {
        let now = self.clock.now();
        let change = Change::Remove {
            token_hash: token_hash.to_owned(),
        };
        let (live, durable) = {
            let mut inner = lock(&self.inner);
            if !inner.sessions.contains_key(token_hash) {
                return Ok(false);
            }
            // Not queued (journal poisoned): not signed out on disk, so not here either.
            let durable = inner.journal(&change, now)?;
            let live = inner
                .sessions
                .remove(token_hash)
                .is_some_and(|e| e.deadline > now);
            (live, durable)
        };
        // A sync that fails poisons the journal: every later write fails too, and a restart
        // brings back what is on disk. The sign-out stays in force here meanwhile (failing
        // closed), and the caller hears of the failure.
        durable.wait().await?;
        Ok(live)
    }

    async fn list(&self) -> Result<Vec<Session>> {
        let now = self.clock.now();
        let mut inner = lock(&self.inner);
        inner.sessions.retain(|_, e| e.deadline > now);
        Ok(inner.sessions.values().map(|e| e.session.clone()).collect())
    }

    async fn count(&self) -> Result<u64> {
        let now = self.clock.now();
        let inner = lock(&self.inner);
        Ok(inner.sessions.values().filter(|e| e.deadline > now).count() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth;

    fn session(token: &str) -> Session {
        Session {
            id: format!("id-{token}"),
            token_hash: auth::hash_token(token),
            user_id: "u1".into(),
            user_name: "alice".into(),
            device_id: "d1".into(),
            device_name: "Phone".into(),
            client: "Jellyfin Android".into(),
            client_version: "2.6".into(),
            now_playing: None,
            created_ms: 0,
            last_activity_ms: 0,
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn sessions_survive_a_reopen_and_expire_on_time_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let clock = SystemClock::shared();
        let store = MemorySessionStore::open_with_clock(dir.path(), clock.clone()).unwrap();
        store.put(&session("short"), MINUTE).await.unwrap();
        store.put(&session("long"), 10 * MINUTE).await.unwrap();
        store.put(&session("gone"), 10 * MINUTE).await.unwrap();
        assert!(store.remove(&auth::hash_token("gone")).await.unwrap());
        drop(store);

        tokio::time::advance(Duration::from_secs(30)).await;
        let store = MemorySessionStore::open_with_clock(dir.path(), clock.clone()).unwrap();
        let short = auth::hash_token("short");
        let long = auth::hash_token("long");
        assert_eq!(store.get(&short).await.unwrap(), Some(session("short")));
        assert!(store.get(&long).await.unwrap().is_some());
        assert!(store
            .get(&auth::hash_token("gone"))
            .await
            .unwrap()
            .is_none());
        // The reloaded deadline is the original one: 30 s left, not a fresh minute.
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(store.get(&short).await.unwrap().is_none());
        assert!(store.get(&long).await.unwrap().is_some());
        drop(store);

        // Expired while the server was down: not loaded at all.
        tokio::time::advance(10 * MINUTE).await;
        let store = MemorySessionStore::open_with_clock(dir.path(), clock).unwrap();
        assert!(store.list().await.unwrap().is_empty());
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(!files.is_empty());
        for name in files {
            let text = std::fs::read_to_string(dir.path().join(&name)).unwrap();
            assert!(!text.contains("\"short\""), "no token in {name:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn touches_are_journaled_when_they_move_the_deadline_far_enough() {
        let dir = tempfile::tempdir().unwrap();
        let clock = SystemClock::shared();
        let store = MemorySessionStore::open_with_clock(dir.path(), clock.clone()).unwrap();
        let hash = auth::hash_token("t");
        store.put(&session("t"), 10 * MINUTE).await.unwrap();
        let journal = dir.path().join("sessions.journal");
        let lines = || std::fs::read_to_string(&journal).unwrap().lines().count();
        assert_eq!(lines(), 1);
        // Slack for a 10 min TTL: 60 s. A touch 10 s later is kept in memory only.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(store.touch(&hash, 10 * MINUTE).await.unwrap());
        assert_eq!(lines(), 1);
        // 61 s after the put, the deadline moved past the slack: journaled.
        tokio::time::advance(Duration::from_secs(51)).await;
        let touched_ms = clock.unix_millis();
        assert!(store.touch(&hash, 10 * MINUTE).await.unwrap());
        assert_eq!(lines(), 2);
        // A shorter TTL moves the deadline earlier: journaled at once.
        assert!(store.touch(&hash, MINUTE).await.unwrap());
        assert_eq!(lines(), 3);
        drop(store);

        let store = MemorySessionStore::open_with_clock(dir.path(), clock).unwrap();
        let reloaded = store.get(&hash).await.unwrap().unwrap();
        assert_eq!(reloaded.last_activity_ms, touched_ms);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(
            store.get(&hash).await.unwrap().is_none(),
            "the 1 min TTL held"
        );
    }
}
