//! [`SessionStore`] semantics every backend must show.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::sleep;

use super::unique;
use crate::{auth, NowPlaying, Session, SessionStore};

fn session(user: &str) -> Session {
    Session {
        id: unique("sess"),
        token_hash: auth::hash_token(&unique("token")),
        user_id: user.to_owned(),
        user_name: "Zoë 'admin'".into(),
        device_id: "device-1".into(),
        device_name: "Pixel 8".into(),
        client: "Jellyfin Android".into(),
        client_version: "2.6.1".into(),
        now_playing: None,
        created_ms: 1_700_000_000_000,
        last_activity_ms: 1_700_000_000_000,
    }
}

const HOUR: Duration = Duration::from_secs(3600);

/// What is put is what is got, field for field.
pub async fn sessions_put_get_round_trip(s: Arc<dyn SessionStore>) {
    let mut sess = session("u1");
    sess.now_playing = Some(NowPlaying {
        item_id: "item-9".into(),
        play_session_id: Some("ps-1".into()),
        media_source_id: None,
        position_ticks: 123_456_789,
        is_paused: true,
    });
    s.put(&sess, HOUR).await.unwrap();
    assert_eq!(s.get(&sess.token_hash).await.unwrap(), Some(sess.clone()));
    assert!(s.get(&auth::hash_token("nope")).await.unwrap().is_none());
}

/// A session is gone once its TTL passed without a touch.
pub async fn sessions_expire_after_ttl(s: Arc<dyn SessionStore>) {
    let sess = session("u1");
    s.put(&sess, Duration::from_millis(300)).await.unwrap();
    sleep(Duration::from_millis(1_300)).await;
    assert!(s.get(&sess.token_hash).await.unwrap().is_none());
    assert!(!s.touch(&sess.token_hash, HOUR).await.unwrap());
    assert!(!s.list().await.unwrap().iter().any(|x| x.id == sess.id));
}

/// A touch extends the TTL and stamps the last activity.
pub async fn sessions_touch_extends_ttl(s: Arc<dyn SessionStore>) {
    let sess = session("u1");
    s.put(&sess, Duration::from_millis(1_000)).await.unwrap();
    sleep(Duration::from_millis(300)).await;
    assert!(s
        .touch(&sess.token_hash, Duration::from_secs(5))
        .await
        .unwrap());
    sleep(Duration::from_millis(1_500)).await; // past the first TTL, well inside the second
    let got = s
        .get(&sess.token_hash)
        .await
        .unwrap()
        .expect("touch kept it alive");
    assert!(got.last_activity_ms > sess.last_activity_ms);
    assert_eq!(got.user_id, sess.user_id);
}

/// A session may live far longer than a lease (a device signed in for months): TTLs up to
/// [`MAX_SESSION_TTL`](crate::sessions::MAX_SESSION_TTL) are taken by put, touch and update;
/// longer ones are refused.
pub async fn sessions_take_long_ttls(s: Arc<dyn SessionStore>) {
    let year = Duration::from_secs(365 * 24 * 3600);
    let max = crate::sessions::MAX_SESSION_TTL;
    let sess = session("u1");
    s.put(&sess, year).await.unwrap();
    assert!(s.touch(&sess.token_hash, max).await.unwrap());
    assert!(s.update(&sess, 2 * year).await.unwrap());
    assert_eq!(
        s.get(&sess.token_hash).await.unwrap().map(|x| x.id),
        Some(sess.id.clone())
    );
    assert!(s.list().await.unwrap().iter().any(|x| x.id == sess.id));
    let too_long = max + Duration::from_secs(1);
    assert!(matches!(
        s.put(&session("u1"), too_long).await,
        Err(crate::Error::Invalid(_))
    ));
    assert!(matches!(
        s.touch(&sess.token_hash, too_long).await,
        Err(crate::Error::Invalid(_))
    ));
    assert!(s.remove(&sess.token_hash).await.unwrap());
}

/// Logout removes the session at once.
pub async fn sessions_remove_ends_session(s: Arc<dyn SessionStore>) {
    let sess = session("u1");
    s.put(&sess, HOUR).await.unwrap();
    assert!(s.remove(&sess.token_hash).await.unwrap());
    assert!(s.get(&sess.token_hash).await.unwrap().is_none());
    assert!(!s.remove(&sess.token_hash).await.unwrap());
}

/// A second put replaces the first; list shows every live session.
pub async fn sessions_put_replaces_and_list_shows_live(s: Arc<dyn SessionStore>) {
    let mut a = session("u1");
    let b = session("u2");
    s.put(&a, HOUR).await.unwrap();
    s.put(&b, HOUR).await.unwrap();
    a.now_playing = Some(NowPlaying {
        item_id: "item-1".into(),
        play_session_id: None,
        media_source_id: Some("ms".into()),
        position_ticks: 42,
        is_paused: false,
    });
    s.put(&a, HOUR).await.unwrap();
    assert_eq!(s.get(&a.token_hash).await.unwrap(), Some(a.clone()));
    let listed = s.list().await.unwrap();
    let mine: Vec<_> = listed
        .iter()
        .filter(|x| x.id == a.id || x.id == b.id)
        .collect();
    assert_eq!(
        mine.len(),
        2,
        "one entry per session, replaced not duplicated"
    );
    assert!(mine.iter().any(|x| x == &&a));
}

/// `count` counts what `list` lists: live sessions, once each, none expired or removed.
pub async fn sessions_count_counts_live_sessions(s: Arc<dyn SessionStore>) {
    assert_eq!(
        s.count().await.unwrap(),
        0,
        "a fresh store holds no session"
    );
    let (a, b, brief) = (session("u1"), session("u2"), session("u3"));
    s.put(&a, HOUR).await.unwrap();
    s.put(&a, HOUR).await.unwrap();
    s.put(&b, HOUR).await.unwrap();
    s.put(&brief, Duration::from_millis(300)).await.unwrap();
    assert_eq!(s.count().await.unwrap(), 3);
    sleep(Duration::from_millis(1_300)).await;
    assert!(s.remove(&b.token_hash).await.unwrap());
    assert_eq!(s.count().await.unwrap(), 1, "one expired, one removed");
    assert_eq!(
        s.count().await.unwrap(),
        s.list().await.unwrap().len() as u64
    );
}

/// `update` replaces a live session (data, TTL) and reports `true`; it never creates one: not
/// for an unknown token, not after a sign-out, not after expiry.
pub async fn sessions_update_only_replaces_a_live_session(s: Arc<dyn SessionStore>) {
    let mut sess = session("u1");
    assert!(
        !s.update(&sess, HOUR).await.unwrap(),
        "an unknown session is not created"
    );
    assert!(s.get(&sess.token_hash).await.unwrap().is_none());

    s.put(&sess, Duration::from_millis(1_000)).await.unwrap();
    sess.now_playing = Some(NowPlaying {
        item_id: "item-2".into(),
        play_session_id: Some("ps-2".into()),
        media_source_id: None,
        position_ticks: 7,
        is_paused: false,
    });
    sess.last_activity_ms += 5_000;
    assert!(s.update(&sess, Duration::from_secs(5)).await.unwrap());
    sleep(Duration::from_millis(1_500)).await; // past the put's TTL, inside the update's
    assert_eq!(s.get(&sess.token_hash).await.unwrap(), Some(sess.clone()));

    assert!(s.remove(&sess.token_hash).await.unwrap());
    assert!(
        !s.update(&sess, HOUR).await.unwrap(),
        "a signed-out session stays signed out"
    );
    assert!(s.get(&sess.token_hash).await.unwrap().is_none());
    assert!(!s.touch(&sess.token_hash, HOUR).await.unwrap());

    let short = session("u2");
    s.put(&short, Duration::from_millis(300)).await.unwrap();
    sleep(Duration::from_millis(1_300)).await;
    assert!(
        !s.update(&short, HOUR).await.unwrap(),
        "an expired session is not revived"
    );
    assert!(s.get(&short.token_hash).await.unwrap().is_none());
}

/// Updates racing a sign-out never revive the session: once `remove` returned, the session is
/// gone for good, however many updates were in flight.
pub async fn sessions_update_racing_remove_never_revives(s: Arc<dyn SessionStore>) {
    for _ in 0..5 {
        let sess = session("u1");
        s.put(&sess, HOUR).await.unwrap();
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                let mut sess = sess.clone();
                tokio::spawn(async move {
                    for j in 0..10 {
                        sess.last_activity_ms += i * 100 + j;
                        if !s.update(&sess, HOUR).await.unwrap() {
                            break;
                        }
                    }
                })
            })
            .collect();
        tokio::task::yield_now().await;
        s.remove(&sess.token_hash).await.unwrap();
        for w in writers {
            w.await.unwrap();
        }
        assert!(
            s.get(&sess.token_hash).await.unwrap().is_none(),
            "an update in flight revived a signed-out session"
        );
    }
}
