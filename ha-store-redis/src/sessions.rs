//! [`RedisSessionStore`]: sessions as expiring hashes keyed by the token hash.
//!
//! # Design
//!
//! A session is the hash `{P:session:H}` with the session as JSON in `json` and, once touched,
//! the server-clock time of the last touch in `touched_ms` (so a touch is a tiny script that
//! never has to re-encode JSON); `PEXPIRE ttl` on every put, update and touch. `update` is a
//! script that writes only if the hash exists, so it never re-creates a signed-out session.
//! `list` reads the loose index `{P:sessions}` (see [`crate::index`]).

use std::time::Duration;

use async_trait::async_trait;
use ha_core::{Result, Session, SessionStore};
use redis::Value;

use crate::error::RedisStoreError;
use crate::lease::ttl_ms;
use crate::RedisStore;

/// Expiring client sessions on Redis. Made by [`RedisStore::sessions`].
#[derive(Debug, Clone)]
pub struct RedisSessionStore {
    store: RedisStore,
}

impl RedisSessionStore {
    pub(crate) fn new(store: RedisStore) -> Self {
        Self { store }
    }
}

/// Decodes a session hash (`json`, optional `touched_ms`); `None` when the hash is empty.
fn decode(json: Option<String>, touched_ms: Option<String>) -> Result<Option<Session>> {
    let Some(json) = json else {
        return Ok(None);
    };
    let mut session: Session = serde_json::from_str(&json).map_err(|source| {
        ha_core::Error::from(RedisStoreError::Decode {
            what: "session",
            source,
        })
    })?;
    if let Some(ms) = touched_ms.and_then(|s| s.parse::<u64>().ok()) {
        session.last_activity_ms = ms;
    }
    Ok(Some(session))
}

#[async_trait]
impl SessionStore for RedisSessionStore {
    async fn put(&self, session: &Session, ttl: Duration) -> Result<()> {
        ha_core::lease::validate_name("session token hash", &session.token_hash)?;
        ha_core::sessions::validate_session_ttl(ttl)?;
        let json =
            serde_json::to_string(session).map_err(|e| ha_core::Error::encode("session", e))?;
        let keys = self.store.keys();
        let mut invocation = self.store.scripts().session_put.prepare_invoke();
        invocation
            .key(keys.session(&session.token_hash))
            .arg(json)
            .arg(ttl_ms(ttl));
        let mut conn = self.store.conn();
        self.store
            .call("session put", invocation.invoke_async::<i64>(&mut conn))
            .await?;
        // The score only tells `list` whether a member was re-added since it looked (see
        // `index_prune.lua`), so the local wall clock is good enough.
        let score = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.store
            .call(
                "session index",
                redis::cmd("ZADD")
                    .arg(keys.session_index())
                    .arg(score)
                    .arg(&session.token_hash)
                    .query_async::<i64>(&mut conn),
            )
            .await?;
        Ok(())
    }

    async fn update(&self, session: &Session, ttl: Duration) -> Result<bool> {
        ha_core::sessions::validate_session_ttl(ttl)?;
        let json =
            serde_json::to_string(session).map_err(|e| ha_core::Error::encode("session", e))?;
        let mut invocation = self.store.scripts().session_update.prepare_invoke();
        invocation
            .key(self.store.keys().session(&session.token_hash))
            .arg(json)
            .arg(ttl_ms(ttl));
        let mut conn = self.store.conn();
        let updated: i64 = self
            .store
            .call("session update", invocation.invoke_async(&mut conn))
            .await?;
        // Live, hence already in the index: no ZADD needed.
        Ok(updated == 1)
    }

    async fn get(&self, token_hash: &str) -> Result<Option<Session>> {
        let mut conn = self.store.conn();
        let (json, touched): (Option<String>, Option<String>) = self
            .store
            .call(
                "session get",
                redis::cmd("HMGET")
                    .arg(self.store.keys().session(token_hash))
                    .arg("json")
                    .arg("touched_ms")
                    .query_async(&mut conn),
            )
            .await?;
        decode(json, touched)
    }

    async fn touch(&self, token_hash: &str, ttl: Duration) -> Result<bool> {
        ha_core::sessions::validate_session_ttl(ttl)?;
        let mut invocation = self.store.scripts().session_touch.prepare_invoke();
        invocation
            .key(self.store.keys().session(token_hash))
            .arg(ttl_ms(ttl));
        let mut conn = self.store.conn();
        let touched: i64 = self
            .store
            .call("session touch", invocation.invoke_async(&mut conn))
            .await?;
        Ok(touched == 1)
    }

    async fn remove(&self, token_hash: &str) -> Result<bool> {
        let keys = self.store.keys();
        Ok(crate::index::remove(
            &self.store,
            ("session remove", "session index"),
            &keys.session(token_hash),
            &keys.session_index(),
            token_hash,
        )
        .await?)
    }

    async fn list(&self) -> Result<Vec<Session>> {
        let keys = self.store.keys();
        crate::index::list(
            &self.store,
            ("session list", "session index prune"),
            &keys.session_index(),
            |member| {
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(keys.session(member)).arg("json").arg("touched_ms");
                cmd
            },
            |row| {
                let field = |i: usize| -> Option<String> {
                    match row.get(i) {
                        Some(Value::BulkString(b)) => String::from_utf8(b.clone()).ok(),
                        _ => None,
                    }
                };
                decode(field(0), field(1))
            },
        )
        .await
    }
}
