//! A Redis restart that loses every key: tokens keep growing, the client reconnects by itself.

mod common;

use std::time::Duration;

use ha_core::LeaseManager;
use ha_testkit::RedisServer;

/// Retries `f` until it succeeds or `secs` pass (the server is coming back).
async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ha_core::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert!(
                    e.is_transient(),
                    "only transient errors expected, got {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no success within {secs} s: {e:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_grow_across_a_restart_that_lost_all_data() {
    let mut redis = RedisServer::start().await;
    let store = common::store_at(&redis.url()).await;
    let leases = store.leases();
    let ttl = Duration::from_secs(30);

    // Several tenures on a key before the restart.
    let mut before = Vec::new();
    for _ in 0..5 {
        let lease = leases
            .try_acquire("job:1", "a", ttl)
            .await
            .unwrap()
            .unwrap();
        before.push(lease.token);
        assert!(leases.release(&lease).await.unwrap());
    }
    assert!(before.windows(2).all(|w| w[0] < w[1]), "{before:?}");
    let last_before = *before.last().unwrap();
    let held = leases
        .try_acquire("job:1", "a", ttl)
        .await
        .unwrap()
        .unwrap();

    redis.restart().await; // same port, empty data set, empty script cache

    // The same client reconnects by itself; the old lease is gone with the data.
    let after = eventually(15, || leases.try_acquire("job:1", "b", ttl)).await;
    let after = after.expect("the key is free after a restart that lost it");
    assert!(
        after.token > held.token && after.token > last_before,
        "token after restart {} not above {} (before restart)",
        after.token,
        held.token
    );
    // The old holder is fenced out: its renewal fails.
    assert!(matches!(
        leases.renew(&held).await,
        Err(ha_core::Error::LeaseLost { .. })
    ));
    // And tokens keep growing from there.
    assert!(leases.release(&after).await.unwrap());
    let next = leases
        .try_acquire("job:1", "c", ttl)
        .await
        .unwrap()
        .unwrap();
    assert!(next.token > after.token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_works_again_after_a_restart() {
    let mut redis = RedisServer::start().await;
    let store = common::store_at(&redis.url()).await;
    store.ping().await.unwrap();
    redis.restart().await;
    eventually(15, || store.ping()).await;

    // Scripts were flushed with the restart: EVALSHA reloads them (NOSCRIPT) transparently.
    let slots = store.slots();
    use ha_core::SlotLimiter;
    let slot = eventually(15, || {
        slots.try_acquire("pool", "a", 1, Duration::from_secs(5))
    })
    .await
    .unwrap();
    assert!(slots.release(&slot).await.unwrap());
}

/// The job fence across a restart that lost the data set: a claim on the (now missing) record
/// with a token from before the restart is refused, one from a lease acquired after it is taken.
/// The stale token is made more than a second older than the restart because the server's start
/// is known to the second (see `lua/incarnation.lua`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_with_a_token_from_before_a_data_losing_restart_is_fenced() {
    use ha_core::{Error, JobClaim, TranscodeJobStore};
    let mut redis = RedisServer::start().await;
    let store = common::store_at(&redis.url()).await;
    let leases = store.leases();
    let jobs = store.jobs();
    let ttl = Duration::from_secs(30);
    let claim = |token| JobClaim {
        key: "job-1".into(),
        source: "item".into(),
        profile: "{}".into(),
        owner_node: "n".into(),
        owner_addr: None,
        token,
        start_segment: 0,
    };

    let old = leases
        .try_acquire("job-1", "a", ttl)
        .await
        .unwrap()
        .unwrap();
    jobs.claim(&claim(old.token)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    redis.restart().await;

    eventually(15, || store.ping()).await;
    match jobs.claim(&claim(old.token)).await {
        Err(Error::Fenced {
            presented, current, ..
        }) => assert!(
            presented == old.token && current > old.token,
            "{presented} {current}"
        ),
        other => panic!("a pre-restart token must be fenced on a missing record: {other:?}"),
    }
    assert!(
        jobs.get("job-1").await.unwrap().is_none(),
        "nothing created"
    );

    let fresh = leases
        .try_acquire("job-1", "b", ttl)
        .await
        .unwrap()
        .unwrap();
    assert!(fresh.token > old.token);
    let rec = jobs.claim(&claim(fresh.token)).await.unwrap();
    assert_eq!((rec.token, rec.attempts), (fresh.token, 1));
}
