//! Job records outlive their lease and disappear after the retention (server-side expiry).

mod common;

use std::time::Duration;

use ha_core::{FencingToken, JobClaim, LeaseManager, TranscodeJobStore};

fn claim(key: &str, token: FencingToken) -> JobClaim {
    JobClaim {
        key: key.into(),
        source: "movie-1".into(),
        profile: "{}".into(),
        owner_node: "a".into(),
        owner_addr: Some("10.0.0.1:8096".into()),
        token,
        start_segment: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_outlives_lease_then_expires_after_retention() {
    let store = common::store_with_job_retention(Duration::from_millis(1500)).await;
    let leases = store.leases();
    let jobs = store.jobs();

    let lease = leases
        .try_acquire("job:movie-1/720p", "a", Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap();
    jobs.claim(&claim("movie-1/720p", lease.token))
        .await
        .unwrap();
    jobs.record_progress("movie-1/720p", lease.token, 4)
        .await
        .unwrap();

    // The owner dies: the lease runs out, the record stays for a survivor to find.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(leases.current("job:movie-1/720p").await.unwrap().is_none());
    let orphan = jobs
        .get("movie-1/720p")
        .await
        .unwrap()
        .expect("record outlives lease");
    assert_eq!(orphan.next_segment(), 5);
    assert_eq!(orphan.owner_addr.as_deref(), Some("10.0.0.1:8096"));
    assert_eq!(jobs.list().await.unwrap().len(), 1);

    // Nobody writes any more: gone once the retention passed, from get and from list.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(jobs.get("movie-1/720p").await.unwrap().is_none());
    assert!(jobs.list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_refreshes_the_retention() {
    let store = common::store_with_job_retention(Duration::from_millis(1200)).await;
    let jobs = store.jobs();
    // A real token: the claim script refuses tokens older than the server's start.
    let token = store
        .leases()
        .try_acquire("job:k", "a", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap()
        .token;
    jobs.claim(&claim("k", token)).await.unwrap();
    // Progress every 400 ms for 2.4 s: twice the retention, yet never expires.
    for segment in 0..6 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        jobs.record_progress("k", token, segment).await.unwrap();
    }
    assert_eq!(jobs.get("k").await.unwrap().unwrap().last_segment, Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_tokens_compare_exactly() {
    // Tokens above 2^53 lose precision as Lua numbers; the claim script compares strings.
    let store = common::store().await;
    let jobs = store.jobs();
    let big = (1u64 << 60) + 1;
    jobs.claim(&claim("k", FencingToken(big))).await.unwrap();
    let older = jobs.claim(&claim("k", FencingToken(big - 1))).await;
    assert!(
        matches!(older, Err(ha_core::Error::Fenced { .. })),
        "{older:?}"
    );
    let newer = jobs
        .claim(&claim("k", FencingToken(u64::MAX)))
        .await
        .unwrap();
    assert_eq!((newer.token, newer.attempts), (FencingToken(u64::MAX), 2));
}
