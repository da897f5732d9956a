//! [`LeaseManager`] semantics every backend must show.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep, Instant};

use super::{unique, within};
use crate::{Error, FencingToken, Lease, LeaseManager};

const LONG: Duration = Duration::from_secs(30);
const SHORT: Duration = Duration::from_millis(300);
/// Sleeping this long after a [`SHORT`] lease leaves a wide margin for a busy machine.
const PAST_SHORT: Duration = Duration::from_millis(1_300);

async fn acquire(m: &Arc<dyn LeaseManager>, key: &str, holder: &str, ttl: Duration) -> Lease {
    within(10, "try_acquire", m.try_acquire(key, holder, ttl))
        .await
        .expect("try_acquire failed")
        .unwrap_or_else(|| panic!("{key} should be free for {holder}"))
}

/// A live lease keeps every other holder (and a second acquire by its own holder) out.
pub async fn lease_acquire_excludes_other_holders(m: Arc<dyn LeaseManager>) {
    let key = unique("lease");
    let a = acquire(&m, &key, "node-a", LONG).await;
    assert_eq!(
        (a.key.as_str(), a.holder.as_str()),
        (key.as_str(), "node-a")
    );
    assert!(m.try_acquire(&key, "node-b", LONG).await.unwrap().is_none());
    assert!(
        m.try_acquire(&key, "node-a", LONG).await.unwrap().is_none(),
        "a holder renews; it never gets a second token for a live tenure"
    );
    let other = acquire(&m, &unique("lease"), "node-b", LONG).await;
    assert_eq!(other.holder, "node-b");
}

/// Renewal keeps the token and moves the deadline forward.
pub async fn lease_renew_keeps_token_and_extends(m: Arc<dyn LeaseManager>) {
    let key = unique("lease");
    let a = acquire(&m, &key, "node-a", LONG).await;
    sleep(Duration::from_millis(50)).await;
    let renewed = m.renew(&a).await.expect("renew");
    assert_eq!(renewed.token, a.token);
    assert_eq!(renewed.holder, a.holder);
    assert!(renewed.expires_at > a.expires_at);
    let again = m.renew(&renewed).await.expect("renew of the renewed lease");
    assert_eq!(again.token, a.token);
}

/// Release frees the key; the next tenure gets a larger token.
pub async fn lease_release_frees_key_and_next_token_is_larger(m: Arc<dyn LeaseManager>) {
    let key = unique("lease");
    let a = acquire(&m, &key, "node-a", LONG).await;
    assert!(m.release(&a).await.unwrap());
    assert!(m.current(&key).await.unwrap().is_none());
    assert!(!m.release(&a).await.unwrap(), "second release is a no-op");
    assert!(matches!(m.renew(&a).await, Err(Error::LeaseLost { .. })));
    let b = acquire(&m, &key, "node-b", LONG).await;
    assert!(b.token > a.token, "{} > {}", b.token, a.token);
}

/// A lease presented by someone who is not the current tenure releases nothing.
pub async fn lease_release_by_non_owner_is_refused(m: Arc<dyn LeaseManager>) {
    let key = unique("lease");
    let a = acquire(&m, &key, "node-a", LONG).await;
    let forged_holder = Lease {
        holder: "node-b".into(),
        ..a.clone()
    };
    let forged_token = Lease {
        token: FencingToken(a.token.0 + 1),
        ..a.clone()
    };
    assert!(!m.release(&forged_holder).await.unwrap());
    assert!(!m.release(&forged_token).await.unwrap());
    assert!(matches!(
        m.renew(&forged_holder).await,
        Err(Error::LeaseLost { .. })
    ));
    assert!(matches!(
        m.renew(&forged_token).await,
        Err(Error::LeaseLost { .. })
    ));
    let current = m.current(&key).await.unwrap().expect("still held");
    assert_eq!(
        (current.holder.as_str(), current.token),
        ("node-a", a.token)
    );
}

/// After expiry another holder takes over with a larger token, and the old holder can neither
/// renew nor release.
pub async fn lease_expiry_allows_takeover_and_fences_old_holder(m: Arc<dyn LeaseManager>) {
    let key = unique("lease");
    let a = acquire(&m, &key, "node-a", SHORT).await;
    sleep(PAST_SHORT).await;
    assert!(
        m.current(&key).await.unwrap().is_none(),
        "expired on the store's clock"
    );
    let b = acquire(&m, &key, "node-b", LONG).await;
    assert!(b.token > a.token);
    assert!(matches!(m.renew(&a).await, Err(Error::LeaseLost { .. })));
    assert!(!m.release(&a).await.unwrap());
    assert_eq!(m.current(&key).await.unwrap().unwrap().holder, "node-b");
}

/// A batch renewal answers per lease, in order, in one call.
pub async fn lease_renew_many_reports_each_lease(m: Arc<dyn LeaseManager>) {
    assert!(m.renew_many(&[]).await.unwrap().is_empty());
    let live1 = acquire(&m, &unique("lease"), "node-a", LONG).await;
    let released = acquire(&m, &unique("lease"), "node-a", LONG).await;
    let expired = acquire(&m, &unique("lease"), "node-a", SHORT).await;
    let live2 = acquire(&m, &unique("lease"), "node-a", LONG).await;
    assert!(m.release(&released).await.unwrap());
    sleep(PAST_SHORT).await;
    let out = m
        .renew_many(&[live1.clone(), released, expired, live2.clone()])
        .await
        .unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(out[0].as_ref().map(|l| l.token), Some(live1.token));
    assert!(out[1].is_none());
    assert!(out[2].is_none());
    assert_eq!(out[3].as_ref().map(|l| l.token), Some(live2.token));
    assert!(out[0].as_ref().unwrap().expires_at > live1.expires_at);

    let many: Vec<Lease> = {
        let mut v = Vec::new();
        for _ in 0..50 {
            v.push(acquire(&m, &unique("lease"), "node-a", LONG).await);
        }
        v
    };
    let renewed = m.renew_many(&many).await.unwrap();
    assert!(renewed.iter().all(Option::is_some));
}

/// Many contenders at once: exactly one wins.
pub async fn lease_concurrent_contenders_have_one_winner(m: Arc<dyn LeaseManager>) {
    for _round in 0..3 {
        let key = unique("lease");
        let attempts = (0..16).map(|i| {
            let m = m.clone();
            let key = key.clone();
            tokio::spawn(async move { m.try_acquire(&key, &format!("node-{i}"), LONG).await })
        });
        let mut winners = Vec::new();
        for attempt in attempts {
            if let Some(lease) = attempt.await.unwrap().unwrap() {
                winners.push(lease);
            }
        }
        assert_eq!(winners.len(), 1, "exactly one winner, got {winners:?}");
        let current = m.current(&key).await.unwrap().unwrap();
        assert_eq!(current.holder, winners[0].holder);
        assert_eq!(current.token, winners[0].token);
    }
}

/// `current` reports the holder, token and a deadline no later than the TTL allows.
pub async fn lease_current_reports_holder_and_deadline(m: Arc<dyn LeaseManager>) {
    let key = unique("lease");
    assert!(m.current(&key).await.unwrap().is_none());
    let a = acquire(&m, &key, "node-a", LONG).await;
    let asked = Instant::now();
    let current = m.current(&key).await.unwrap().expect("held");
    assert_eq!(current.holder, "node-a");
    assert_eq!(current.token, a.token);
    assert!(current.expires_at <= Instant::now() + LONG);
    assert!(current.expires_at > asked, "a live lease has time left");
}

/// The local deadline is the instant the request was sent plus the TTL.
pub async fn lease_local_deadline_is_counted_from_send(m: Arc<dyn LeaseManager>) {
    let key = unique("lease");
    let before = Instant::now();
    let a = acquire(&m, &key, "node-a", LONG).await;
    let after = Instant::now();
    assert!(a.expires_at >= before + LONG && a.expires_at <= after + LONG);
    let before = Instant::now();
    let r = m.renew(&a).await.unwrap();
    let after = Instant::now();
    assert!(r.expires_at >= before + LONG && r.expires_at <= after + LONG);
}

/// Tokens strictly increase across many tenures of one key.
pub async fn lease_tokens_increase_over_tenures(m: Arc<dyn LeaseManager>) {
    let key = unique("lease");
    let mut last = FencingToken(0);
    for i in 0..8 {
        let lease = acquire(&m, &key, &format!("node-{}", i % 3), LONG).await;
        assert!(lease.token > last, "{} > {}", lease.token, last);
        last = lease.token;
        assert!(m.release(&lease).await.unwrap());
    }
}

/// Empty names and absurd TTLs are `Invalid`, not a panic or a store error.
pub async fn lease_invalid_arguments_are_rejected(m: Arc<dyn LeaseManager>) {
    let key = unique("lease");
    for (k, h, ttl) in [
        ("", "node-a", LONG),
        (key.as_str(), "", LONG),
        (key.as_str(), "node-a", Duration::ZERO),
        (key.as_str(), "node-a", Duration::from_secs(10 * 86_400)),
    ] {
        let r = m.try_acquire(k, h, ttl).await;
        assert!(
            matches!(r, Err(Error::Invalid(_))),
            "{k:?}/{h:?}/{ttl:?}: {r:?}"
        );
    }
    // Odd but valid names work.
    let odd = format!("{key}/ünïcode {{tag}} 'quote' \"dq\" ;--");
    let lease = acquire(&m, &odd, "node 'a'", LONG).await;
    assert!(m.release(&lease).await.unwrap());
}

/// A take-over replaces a live tenure at once (no waiting for its TTL) with a larger token; the
/// old holder can neither renew nor release, and its tenure cannot be taken over twice.
pub async fn lease_take_over_replaces_live_tenure_and_fences_it(m: Arc<dyn LeaseManager>) {
    let key = unique("lease");
    let a = acquire(&m, &key, "node-a", LONG).await;
    let renewed = m.renew(&a).await.expect("renew");
    // The tenure as another replica saw it (renewals do not change it).
    let seen = m.current(&key).await.unwrap().expect("held");
    let b = within(10, "take_over", m.take_over(&seen, "node-b", LONG))
        .await
        .expect("take_over failed")
        .expect("the tenure seen is current: the take-over wins");
    assert_eq!(
        (b.key.as_str(), b.holder.as_str()),
        (key.as_str(), "node-b")
    );
    assert!(b.token > a.token, "{} > {}", b.token, a.token);
    let current = m.current(&key).await.unwrap().expect("held by b");
    assert_eq!(
        (current.holder.as_str(), current.token),
        ("node-b", b.token)
    );
    assert!(matches!(
        m.renew(&renewed).await,
        Err(Error::LeaseLost { .. })
    ));
    assert!(!m.release(&renewed).await.unwrap());
    assert!(
        m.take_over(&seen, "node-c", LONG).await.unwrap().is_none(),
        "the old tenure is gone: a second take-over of it gets nothing"
    );
    assert!(m.renew(&b).await.is_ok());
    // A free key is simply acquired.
    assert!(m.release(&b).await.unwrap());
    let c = m
        .take_over(&b, "node-c", LONG)
        .await
        .unwrap()
        .expect("free key");
    assert!(c.token > b.token);
}

/// A take-over that names a tenure other than the current one (wrong holder or token) changes
/// nothing.
pub async fn lease_take_over_of_another_tenure_is_refused(m: Arc<dyn LeaseManager>) {
    let key = unique("lease");
    let a = acquire(&m, &key, "node-a", LONG).await;
    let wrong_token = Lease {
        token: FencingToken(a.token.0 - 1),
        ..a.clone()
    };
    let wrong_holder = Lease {
        holder: "node-x".into(),
        ..a.clone()
    };
    for stale in [&wrong_token, &wrong_holder] {
        assert!(m.take_over(stale, "node-b", LONG).await.unwrap().is_none());
    }
    let current = m.current(&key).await.unwrap().expect("still a's");
    assert_eq!(
        (current.holder.as_str(), current.token),
        ("node-a", a.token)
    );
    assert!(m.renew(&a).await.is_ok());
    let r = m.take_over(&a, "", LONG).await;
    assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
}

/// Many replicas take the same dead holder's tenure over at once: exactly one wins.
pub async fn lease_concurrent_take_overs_have_one_winner(m: Arc<dyn LeaseManager>) {
    for _round in 0..3 {
        let key = unique("lease");
        let dead = acquire(&m, &key, "node-dead", LONG).await;
        let attempts = (0..16).map(|i| {
            let m = m.clone();
            let dead = dead.clone();
            tokio::spawn(async move { m.take_over(&dead, &format!("node-{i}"), LONG).await })
        });
        let mut winners = Vec::new();
        for attempt in attempts {
            if let Some(lease) = attempt.await.unwrap().unwrap() {
                winners.push(lease);
            }
        }
        assert_eq!(winners.len(), 1, "exactly one winner, got {winners:?}");
        assert!(winners[0].token > dead.token);
        let current = m.current(&key).await.unwrap().unwrap();
        assert_eq!(
            (current.holder.as_str(), current.token),
            (winners[0].holder.as_str(), winners[0].token)
        );
    }
}
