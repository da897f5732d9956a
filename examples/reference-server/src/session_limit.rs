//! The per-user bound on signed-in devices.
//!
//! Why: sessions no longer expire by themselves (`--session-idle` defaults to none, as in
//! Jellyfin), so the idle limit no longer bounds what the session store keeps. A user who signs
//! in again and again (a script, a client that forgets its token) would add one session per
//! sign-in forever. After every sign-in the user's sessions beyond [`MAX_SESSIONS_PER_USER`]
//! are signed out, least recently used first: the device that just signed in always stays, and
//! a device in daily use is never the one dropped while the user has fewer than that many in
//! use. Users are created by administrators, so the store holds at most users × this many.
//!
//! Jellyfin also signs out an earlier session of the same device when it signs in again; that
//! is not done here (clients that share a DeviceId across profiles keep both sessions).

use media_ha::core::{Session, SessionStore};

/// Most sessions one user keeps by default ([`Config::max_sessions_per_user`]); a sign-in beyond
/// it signs out the least recently used.
///
/// [`Config::max_sessions_per_user`]: crate::config::Config::max_sessions_per_user
pub const MAX_SESSIONS_PER_USER: usize = 100;

/// The sessions of `user_id` to sign out so that at most `max` remain, never `keep` (the token
/// hash of the session just created): the least recently active first (as the store has it:
/// behind the session cache, stamped at most once a minute per replica).
pub fn over_cap<'a>(
    sessions: &'a [Session],
    user_id: &str,
    keep: &str,
    max: usize,
) -> Vec<&'a Session> {
    let mut mine: Vec<&Session> = sessions
        .iter()
        .filter(|s| s.user_id == user_id && s.token_hash != keep)
        .collect();
    let others_allowed = max.saturating_sub(1);
    if mine.len() <= others_allowed {
        return Vec::new();
    }
    // Most recent first; ties by creation, then token hash, so replicas agree.
    mine.sort_by(|a, b| {
        (b.last_activity_ms, b.created_ms, &b.token_hash).cmp(&(
            a.last_activity_ms,
            a.created_ms,
            &a.token_hash,
        ))
    });
    mine.split_off(others_allowed)
}

/// Signs out `user_id`'s sessions beyond `max` (see [`over_cap`]); how many.
///
/// # Errors
/// The store's, when it cannot list or remove.
pub async fn enforce(
    sessions: &dyn SessionStore,
    user_id: &str,
    keep: &str,
    max: usize,
) -> media_ha::core::Result<usize> {
    let all = sessions.list().await?;
    let drop = over_cap(&all, user_id, keep, max);
    for session in &drop {
        sessions.remove(&session.token_hash).await?;
    }
    Ok(drop.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(user: &str, hash: &str, last: u64) -> Session {
        Session {
            id: hash.into(),
            token_hash: hash.into(),
            user_id: user.into(),
            user_name: user.into(),
            device_id: "d".into(),
            device_name: "d".into(),
            client: "c".into(),
            client_version: "1".into(),
            now_playing: None,
            created_ms: 0,
            last_activity_ms: last,
        }
    }

    #[test]
    fn drops_the_least_recently_used_of_that_user_only() {
        let all = vec![
            session("u", "new", 0), // just created: its stamp is not what keeps it
            session("u", "old", 10),
            session("u", "recent", 30),
            session("u", "middle", 20),
            session("v", "other", 1),
        ];
        let ids = |v: Vec<&Session>| v.into_iter().map(|s| s.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(over_cap(&all, "u", "new", 3)), ["old"]);
        assert_eq!(ids(over_cap(&all, "u", "new", 2)), ["middle", "old"]);
        assert!(over_cap(&all, "u", "new", 4).is_empty());
        assert!(over_cap(&all, "v", "other", 1).is_empty());
        assert_eq!(ids(over_cap(&all, "u", "new", 1)).len(), 3);
    }
}
