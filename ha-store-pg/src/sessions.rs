//! [`SessionStore`] on PostgreSQL: one row per session, keyed by the token hash.
//!
//! Expiry is a `timestamptz` judged by the server's `clock_timestamp()`; `touch` is a single
//! `UPDATE` of the deadline and last activity (server time); `update` is a single `UPDATE … WHERE`
//! the row is live, so it can never re-create a signed-out session. Expired rows are invisible at
//! once and deleted opportunistically on `list` and every so many `put`s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ha_core::lease::validate_name;
use ha_core::sessions::validate_session_ttl;
use ha_core::{NowPlaying, Result, Session, SessionStore};
use tokio_postgres::types::Json;
use tokio_postgres::Row;

use crate::convert::{col, micros_ceil, to_i64, to_u64};
use crate::error::PgResult;
use crate::PgStore;

const PUT: &str = "\
INSERT INTO sessions (token_hash, id, user_id, user_name, device_id, device_name, client,
                      client_version, now_playing, created_ms, last_activity_ms, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
        clock_timestamp() + $12::bigint * interval '1 microsecond')
ON CONFLICT (token_hash) DO UPDATE SET
    id = EXCLUDED.id, user_id = EXCLUDED.user_id, user_name = EXCLUDED.user_name,
    device_id = EXCLUDED.device_id, device_name = EXCLUDED.device_name,
    client = EXCLUDED.client, client_version = EXCLUDED.client_version,
    now_playing = EXCLUDED.now_playing, created_ms = EXCLUDED.created_ms,
    last_activity_ms = EXCLUDED.last_activity_ms, expires_at = EXCLUDED.expires_at";

/// Replaces a live session's data and deadline; a row gone or expired is left alone (never
/// re-created), so a report racing a sign-out cannot revive the token.
const UPDATE: &str = "\
UPDATE sessions
   SET id = $2, user_id = $3, user_name = $4, device_id = $5, device_name = $6, client = $7,
       client_version = $8, now_playing = $9, created_ms = $10, last_activity_ms = $11,
       expires_at = clock_timestamp() + $12::bigint * interval '1 microsecond'
 WHERE token_hash = $1 AND expires_at > clock_timestamp()";

const COLUMNS: &str = "token_hash, id, user_id, user_name, device_id, device_name, client, \
                       client_version, now_playing, created_ms, last_activity_ms";

const TOUCH: &str = "\
UPDATE sessions
   SET expires_at = clock_timestamp() + $2::bigint * interval '1 microsecond',
       last_activity_ms = (extract(epoch FROM clock_timestamp()) * 1000)::bigint
 WHERE token_hash = $1 AND expires_at > clock_timestamp()";

const REMOVE: &str =
    "DELETE FROM sessions WHERE token_hash = $1 RETURNING expires_at > clock_timestamp() AS live";

const PURGE: &str = "DELETE FROM sessions WHERE expires_at <= clock_timestamp()";

/// Purge expired rows once every this many `put`s (and on every `list`).
const PURGE_EVERY: u64 = 256;

/// The PostgreSQL [`SessionStore`]. Make one with [`PgStore::sessions`].
#[derive(Debug)]
pub struct PgSessionStore {
    store: PgStore,
    puts: AtomicU64,
}

impl PgSessionStore {
    pub(crate) fn new(store: PgStore) -> Self {
        Self {
            store,
            puts: AtomicU64::new(0),
        }
    }

    /// Runs `sql` (PUT or UPDATE, same parameters) for `s`; the number of rows it changed.
    async fn write_session(
        &self,
        sql: &str,
        what: &'static str,
        s: &Session,
        ttl: Duration,
    ) -> PgResult<u64> {
        let created = to_i64("created_ms", s.created_ms)?;
        let last = to_i64("last_activity_ms", s.last_activity_ms)?;
        let ttl_us = micros_ceil(ttl);
        let now_playing = s.now_playing.as_ref().map(Json);
        let conn = self.store.conn(what).await?;
        if self.puts.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            if let Err(e) = conn.execute(PURGE, &[]).await {
                tracing::warn!(error = %e, "purging expired sessions failed");
            }
        }
        let changed = conn
            .execute(
                sql,
                &[
                    &s.token_hash,
                    &s.id,
                    &s.user_id,
                    &s.user_name,
                    &s.device_id,
                    &s.device_name,
                    &s.client,
                    &s.client_version,
                    &now_playing,
                    &created,
                    &last,
                    &ttl_us,
                ],
            )
            .await?;
        Ok(changed)
    }
}

fn decode(row: &Row) -> PgResult<Session> {
    let now_playing: Option<Json<NowPlaying>> = col(row, "now_playing")?;
    Ok(Session {
        id: col(row, "id")?,
        token_hash: col(row, "token_hash")?,
        user_id: col(row, "user_id")?,
        user_name: col(row, "user_name")?,
        device_id: col(row, "device_id")?,
        device_name: col(row, "device_name")?,
        client: col(row, "client")?,
        client_version: col(row, "client_version")?,
        now_playing: now_playing.map(|Json(np)| np),
        created_ms: to_u64("created_ms", col(row, "created_ms")?)?,
        last_activity_ms: to_u64("last_activity_ms", col(row, "last_activity_ms")?)?,
    })
}

#[async_trait]
impl SessionStore for PgSessionStore {
    async fn put(&self, session: &Session, ttl: Duration) -> Result<()> {
        validate_name("session token hash", &session.token_hash)?;
        validate_session_ttl(ttl)?;
        self.store
            .call("put session", async {
                self.write_session(PUT, "put session", session, ttl)
                    .await
                    .map(|_| ())
            })
            .await
    }

    async fn update(&self, session: &Session, ttl: Duration) -> Result<bool> {
        validate_session_ttl(ttl)?;
        self.store
            .call("update session", async {
                let changed = self
                    .write_session(UPDATE, "update session", session, ttl)
                    .await?;
                Ok(changed > 0)
            })
            .await
    }

    async fn get(&self, token_hash: &str) -> Result<Option<Session>> {
        self.store
            .call("get session", async {
                let conn = self.store.conn("get session").await?;
                let sql = format!(
                    "SELECT {COLUMNS} FROM sessions \
                     WHERE token_hash = $1 AND expires_at > clock_timestamp()"
                );
                conn.query_opt(&sql, &[&token_hash])
                    .await?
                    .as_ref()
                    .map(decode)
                    .transpose()
            })
            .await
    }

    async fn touch(&self, token_hash: &str, ttl: Duration) -> Result<bool> {
        validate_session_ttl(ttl)?;
        let ttl_us = micros_ceil(ttl);
        self.store
            .call("touch session", async {
                let conn = self.store.conn("touch session").await?;
                Ok(conn.execute(TOUCH, &[&token_hash, &ttl_us]).await? > 0)
            })
            .await
    }

    async fn remove(&self, token_hash: &str) -> Result<bool> {
        self.store
            .call("remove session", async {
                let conn = self.store.conn("remove session").await?;
                match conn.query_opt(REMOVE, &[&token_hash]).await? {
                    Some(row) => col(&row, "live"),
                    None => Ok(false),
                }
            })
            .await
    }

    async fn list(&self) -> Result<Vec<Session>> {
        self.store
            .call("list sessions", async {
                let conn = self.store.conn("list sessions").await?;
                if let Err(e) = conn.execute(PURGE, &[]).await {
                    tracing::warn!(error = %e, "purging expired sessions failed");
                }
                let sql = format!(
                    "SELECT {COLUMNS} FROM sessions \
                     WHERE expires_at > clock_timestamp() ORDER BY token_hash"
                );
                conn.query(&sql, &[]).await?.iter().map(decode).collect()
            })
            .await
    }

    async fn count(&self) -> Result<u64> {
        self.store
            .call("count sessions", async {
                let conn = self.store.conn("count sessions").await?;
                let row = conn
                    .query_one(
                        "SELECT count(*) FROM sessions WHERE expires_at > clock_timestamp()",
                        &[],
                    )
                    .await?;
                Ok(row.get::<_, i64>(0).max(0) as u64)
            })
            .await
    }
}
