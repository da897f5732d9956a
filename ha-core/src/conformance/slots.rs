//! [`SlotLimiter`] semantics every backend must show.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::sleep;

use super::unique;
use crate::{Error, SlotLimiter};

const LONG: Duration = Duration::from_secs(30);
const SHORT: Duration = Duration::from_millis(300);
const PAST_SHORT: Duration = Duration::from_millis(1_300);

/// No more than `capacity` live slots; capacity 0 admits nobody.
pub async fn slots_capacity_is_enforced(s: Arc<dyn SlotLimiter>) {
    let pool = unique("qsv");
    assert_eq!(s.in_use(&pool).await.unwrap(), 0);
    let a = s
        .try_acquire(&pool, "job-a", 2, LONG)
        .await
        .unwrap()
        .expect("free");
    let b = s
        .try_acquire(&pool, "job-b", 2, LONG)
        .await
        .unwrap()
        .expect("free");
    assert_ne!(a.id, b.id);
    assert!(s
        .try_acquire(&pool, "job-c", 2, LONG)
        .await
        .unwrap()
        .is_none());
    assert_eq!(s.in_use(&pool).await.unwrap(), 2);
    assert!(s
        .try_acquire(&unique("qsv"), "job", 0, LONG)
        .await
        .unwrap()
        .is_none());
    // Pools are independent.
    assert!(s
        .try_acquire(&unique("qsv"), "job-c", 2, LONG)
        .await
        .unwrap()
        .is_some());
}

/// Releasing a slot frees capacity at once; a second release is a no-op.
pub async fn slots_release_returns_capacity(s: Arc<dyn SlotLimiter>) {
    let pool = unique("user");
    let a = s
        .try_acquire(&pool, "job-a", 1, LONG)
        .await
        .unwrap()
        .expect("free");
    assert!(s
        .try_acquire(&pool, "job-b", 1, LONG)
        .await
        .unwrap()
        .is_none());
    assert!(s.release(&a).await.unwrap());
    assert!(!s.release(&a).await.unwrap());
    assert_eq!(s.in_use(&pool).await.unwrap(), 0);
    assert!(s
        .try_acquire(&pool, "job-b", 1, LONG)
        .await
        .unwrap()
        .is_some());
}

/// A holder that crashed (stopped renewing) gives its slot back when the TTL runs out.
pub async fn slots_expired_holder_returns_capacity(s: Arc<dyn SlotLimiter>) {
    let pool = unique("qsv");
    let _crashed = s
        .try_acquire(&pool, "job-a", 1, SHORT)
        .await
        .unwrap()
        .expect("free");
    assert!(s
        .try_acquire(&pool, "job-b", 1, LONG)
        .await
        .unwrap()
        .is_none());
    sleep(PAST_SHORT).await;
    assert_eq!(s.in_use(&pool).await.unwrap(), 0);
    assert!(s
        .try_acquire(&pool, "job-b", 1, LONG)
        .await
        .unwrap()
        .is_some());
}

/// Renewal keeps a slot alive past its first TTL; an expired slot cannot be renewed.
pub async fn slots_renew_extends_and_fails_after_expiry(s: Arc<dyn SlotLimiter>) {
    let pool = unique("qsv");
    let slot = s
        .try_acquire(&pool, "job-a", 1, Duration::from_millis(1_000))
        .await
        .unwrap()
        .expect("free");
    sleep(Duration::from_millis(300)).await;
    let renewed = s.renew(&slot).await.unwrap();
    assert!(renewed.expires_at > slot.expires_at);
    sleep(Duration::from_millis(900)).await; // past the first TTL, inside the renewed one
    assert_eq!(s.in_use(&pool).await.unwrap(), 1);
    assert!(s
        .try_acquire(&pool, "job-b", 1, LONG)
        .await
        .unwrap()
        .is_none());

    let short = s
        .try_acquire(&unique("qsv"), "job-c", 1, SHORT)
        .await
        .unwrap()
        .expect("free");
    sleep(PAST_SHORT).await;
    assert!(matches!(
        s.renew(&short).await,
        Err(Error::LeaseLost { .. })
    ));
}

/// Many acquirers at once: exactly `capacity` succeed.
pub async fn slots_concurrent_acquirers_respect_capacity(s: Arc<dyn SlotLimiter>) {
    let pool = unique("qsv");
    let tasks = (0..12).map(|i| {
        let s = s.clone();
        let pool = pool.clone();
        tokio::spawn(async move { s.try_acquire(&pool, &format!("job-{i}"), 3, LONG).await })
    });
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 3);
    assert_eq!(s.in_use(&pool).await.unwrap(), 3);
}
