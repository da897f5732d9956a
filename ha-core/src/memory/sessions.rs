//! In-process [`SessionStore`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::lock;
use crate::{Result, Session, SessionStore, SharedClock, SystemClock};

/// Sessions in a map, each with its own deadline.
#[derive(Debug)]
pub struct MemorySessionStore {
    clock: SharedClock,
    sessions: Mutex<HashMap<String, (Session, Instant)>>,
}

impl MemorySessionStore {
    /// A store on the system clock.
    pub fn new() -> Self {
        Self::with_clock(SystemClock::shared())
    }

    /// A store on `clock`.
    pub fn with_clock(clock: SharedClock) -> Self {
        Self {
            clock,
            sessions: Mutex::new(HashMap::new()),
        }
    }
}

impl Default for MemorySessionStore {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn put(&self, session: &Session, ttl: Duration) -> Result<()> {
        crate::lease::validate_name("session token hash", &session.token_hash)?;
        crate::lease::validate_ttl(ttl)?;
        let now = self.clock.now();
        let mut sessions = lock(&self.sessions);
        if sessions.len() > 1024 {
            sessions.retain(|_, (_, deadline)| *deadline > now);
        }
        sessions.insert(session.token_hash.clone(), (session.clone(), now + ttl));
        Ok(())
    }

    async fn get(&self, token_hash: &str) -> Result<Option<Session>> {
        let now = self.clock.now();
        Ok(lock(&self.sessions)
            .get(token_hash)
            .filter(|(_, deadline)| *deadline > now)
            .map(|(s, _)| s.clone()))
    }

    async fn touch(&self, token_hash: &str, ttl: Duration) -> Result<bool> {
        crate::lease::validate_ttl(ttl)?;
        let now = self.clock.now();
        let now_ms = self.clock.unix_millis();
        let mut sessions = lock(&self.sessions);
        match sessions.get_mut(token_hash) {
            Some((session, deadline)) if *deadline > now => {
                *deadline = now + ttl;
                session.last_activity_ms = now_ms;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn remove(&self, token_hash: &str) -> Result<bool> {
        let now = self.clock.now();
        Ok(lock(&self.sessions)
            .remove(token_hash)
            .is_some_and(|(_, deadline)| deadline > now))
    }

    async fn list(&self) -> Result<Vec<Session>> {
        let now = self.clock.now();
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, (_, deadline)| *deadline > now);
        Ok(sessions.values().map(|(s, _)| s.clone()).collect())
    }
}
