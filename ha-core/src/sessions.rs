//! Client sessions that any replica can read, so a client needs no sticky load balancer.
//!
//! Sessions are keyed by the *hash* of the access token ([`crate::auth::hash_token`]): a copy of
//! the store (a Redis dump, a backup) does not hand out working tokens.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;

/// The longest TTL a session may be given: ten years (of 365.25 days, humantime's `10y`), which
/// servers use for "no idle limit".
///
/// Why not [`crate::lease::validate_ttl`]'s one day: a lease is held by a process that renews
/// it, a session by a person who may leave a TV alone for a month. Jellyfin never expires a
/// signed-in device by itself (only a sign-out or an administrator does), and a client signed
/// out over a weekend is a defect, not a safety margin. Every backend takes TTLs up to this
/// bound (Redis `PEXPIRE` and PostgreSQL intervals hold it easily).
pub const MAX_SESSION_TTL: Duration = Duration::from_secs(315_576_000);

/// Validates a session TTL: at least 1 ms, at most [`MAX_SESSION_TTL`].
///
/// # Errors
/// [`Error::Invalid`](crate::Error::Invalid) outside that range.
pub fn validate_session_ttl(ttl: Duration) -> Result<()> {
    if ttl < Duration::from_millis(1) || ttl > MAX_SESSION_TTL {
        return Err(crate::Error::Invalid(format!(
            "session TTL {ttl:?} outside 1 ms ..= 10 years"
        )));
    }
    Ok(())
}

/// What a session is playing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NowPlaying {
    /// The item played.
    pub item_id: String,
    /// The play session (one per playback start).
    pub play_session_id: Option<String>,
    /// The media source chosen.
    pub media_source_id: Option<String>,
    /// Position in 100 ns ticks (Jellyfin's unit).
    pub position_ticks: i64,
    /// Paused?
    pub is_paused: bool,
}

/// A client session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Public session id (shown by `/Sessions`).
    pub id: String,
    /// Hash of the access token; the store key.
    pub token_hash: String,
    /// The signed-in user.
    pub user_id: String,
    /// The user's name, for listings.
    pub user_name: String,
    /// Client-chosen device id.
    pub device_id: String,
    /// Device name.
    pub device_name: String,
    /// Client application name.
    pub client: String,
    /// Client application version.
    pub client_version: String,
    /// What is playing, if anything.
    pub now_playing: Option<NowPlaying>,
    /// Created, ms since the Unix epoch.
    pub created_ms: u64,
    /// Last activity, ms since the Unix epoch.
    pub last_activity_ms: u64,
}

/// Expiring client sessions. TTLs go up to [`MAX_SESSION_TTL`] ([`validate_session_ttl`]).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use ha_core::{auth, memory::MemorySessionStore, Session, SessionStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ha_core::Result<()> {
/// let sessions = MemorySessionStore::new();
/// let token = auth::generate_token();
/// let session = Session {
///     id: "s1".into(), token_hash: auth::hash_token(&token), user_id: "u1".into(),
///     user_name: "alice".into(), device_id: "d1".into(), device_name: "Phone".into(),
///     client: "Jellyfin Android".into(), client_version: "2.6".into(), now_playing: None,
///     created_ms: 0, last_activity_ms: 0,
/// };
/// sessions.put(&session, Duration::from_secs(3600)).await?;
/// let found = sessions.get(&auth::hash_token(&token)).await?.expect("live");
/// assert_eq!(found.user_id, "u1");
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// Stores (creates or replaces) `session`, live for `ttl` from now.
    async fn put(&self, session: &Session, ttl: Duration) -> Result<()>;
    /// Replaces a session that is still live (same token hash) with `session`, live for `ttl`
    /// from now; never creates one. Returns `false`, changing nothing, when no live session has
    /// this token hash (signed out, revoked or expired).
    ///
    /// Why not `put`: a request that read its session before a sign-out and writes it back
    /// afterwards (a playback report racing `POST /Sessions/Logout`) must not bring the signed-out
    /// token back to life. The check and the write are one atomic step in every backend.
    async fn update(&self, session: &Session, ttl: Duration) -> Result<bool>;
    /// The live session with this token hash.
    async fn get(&self, token_hash: &str) -> Result<Option<Session>>;
    /// Extends a live session by `ttl` from now and stamps its last activity. Returns `false`
    /// when no live session has this token hash.
    async fn touch(&self, token_hash: &str, ttl: Duration) -> Result<bool>;
    /// Ends a session (logout). Returns whether one was live.
    async fn remove(&self, token_hash: &str) -> Result<bool>;
    /// Every live session.
    async fn list(&self) -> Result<Vec<Session>>;
    /// How many sessions are live: what [`list`](Self::list) would return, counted. The default
    /// counts `list`; a backend that can count without reading the sessions overrides it (the
    /// PostgreSQL one asks for `count(*)`).
    async fn count(&self) -> Result<u64> {
        Ok(self.list().await?.len() as u64)
    }
}
