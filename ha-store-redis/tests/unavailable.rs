//! Redis down: calls fail fast and transiently, nothing hangs, and everything comes back.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ha_core::{
    BusMessage, EventBus, EventPublisher, KeeperConfig, KeeperStatus, LeaseKeeper, LeaseManager,
    SystemClock,
};
use ha_store_redis::{RedisStore, RedisStoreConfig};
use ha_testkit::RedisServer;
use tokio::time::Instant;

/// Generous bound for "fails fast": op_timeout is 1 s here; a hang would be unbounded.
const FAIL_FAST: Duration = Duration::from_secs(5);

async fn store_at(url: &str) -> RedisStore {
    let config = RedisStoreConfig::from_url(url)
        .unwrap()
        .with_prefix(ha_testkit::unique("down"))
        .with_op_timeout(Duration::from_secs(1))
        .with_connect_timeout(Duration::from_millis(500));
    RedisStore::connect(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_fast_while_down_and_recover_by_themselves() {
    let mut redis = RedisServer::start().await;
    let store = store_at(&redis.url()).await;
    let leases = store.leases();
    let ttl = Duration::from_secs(10);
    let held = leases.try_acquire("k", "a", ttl).await.unwrap().unwrap();

    redis.kill();
    for attempt in 0..3 {
        let started = Instant::now();
        let err = leases.renew(&held).await.expect_err("redis is down");
        let took = started.elapsed();
        assert!(
            matches!(
                err,
                ha_core::Error::Unavailable { .. } | ha_core::Error::Timeout { .. }
            ),
            "attempt {attempt}: {err:?}"
        );
        eprintln!("attempt {attempt}: {err:?} after {took:?}");
        assert!(took < FAIL_FAST, "attempt {attempt} took {took:?}");
        let started = Instant::now();
        let err = leases
            .try_acquire("other", "a", ttl)
            .await
            .expect_err("down");
        assert!(err.is_transient(), "{err:?}");
        assert!(started.elapsed() < FAIL_FAST);
    }

    redis.restart().await;
    // The same store heals without being rebuilt.
    let deadline = Instant::now() + Duration::from_secs(15);
    let lease = loop {
        match leases.try_acquire("k", "b", ttl).await {
            Ok(l) => break l,
            Err(e) if Instant::now() < deadline => {
                assert!(e.is_transient(), "{e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("store did not recover: {e:?}"),
        }
    };
    let lease = lease.expect("the restart emptied redis");
    assert!(lease.token > held.token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_dead_server_fails_fast() {
    let port = ha_testkit::free_port();
    let started = Instant::now();
    let err = RedisStore::connect(
        RedisStoreConfig::from_url(&format!("redis://127.0.0.1:{port}")).unwrap(),
    )
    .await
    .expect_err("nothing listens there");
    let err: ha_core::Error = err.into();
    assert!(err.is_transient(), "{err:?}");
    assert!(started.elapsed() < FAIL_FAST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeper_reports_loss_before_the_lease_could_expire_on_the_server() {
    let mut redis = RedisServer::start().await;
    let store = store_at(&redis.url()).await;
    let leases: Arc<dyn LeaseManager> = Arc::new(store.leases());
    let lease = leases
        .try_acquire("job", "a", Duration::from_secs(3))
        .await
        .unwrap()
        .unwrap();
    let keeper = LeaseKeeper::spawn(
        leases.clone(),
        lease,
        SystemClock::shared(),
        KeeperConfig::default(),
    );
    // Let it renew at least once for real.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let last_held = keeper.lease().expect("held while redis is up");

    redis.kill();
    let status = tokio::time::timeout(Duration::from_secs(10), keeper.lost())
        .await
        .expect("loss signalled");
    let signalled_at = Instant::now();
    assert!(matches!(status, KeeperStatus::Lost { .. }), "{status:?}");
    // The last successful renewal's local deadline is never later than the server's; the
    // keeper must give up before it.
    assert!(
        signalled_at < last_held.expires_at,
        "lost signalled {:?} after the local deadline",
        signalled_at - last_held.expires_at
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_resyncs_and_receives_again_after_a_restart() {
    let mut redis = RedisServer::start().await;
    let store = store_at(&redis.url()).await;
    let bus: Arc<dyn EventBus> = Arc::new(store.events());
    let mut sub = bus.subscribe().await.unwrap();
    let publisher = EventPublisher::new(bus.clone(), "node-a");
    publisher.publish("t", serde_json::json!({})).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap();
    assert!(matches!(first, Some(BusMessage::Event(_))), "{first:?}");

    redis.restart().await;
    let resync = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .unwrap();
    assert!(
        matches!(resync, Some(BusMessage::Resync { .. })),
        "{resync:?}"
    );

    // Publish until one arrives: the subscriber reconnects by itself, with backoff.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        assert!(Instant::now() < deadline, "no event after the restart");
        let _ = publisher.publish("t", serde_json::json!({})).await;
        match tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
            Ok(Some(BusMessage::Event(_))) | Ok(Some(BusMessage::Gap { .. })) => break,
            Ok(Some(BusMessage::Resync { .. })) | Err(_) => continue,
            Ok(None) => panic!("subscription closed"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_times_out_instead_of_hanging() {
    let redis = RedisServer::start().await;
    let store = store_at(&redis.url()).await;
    let leases = store.leases();
    let held = leases
        .try_acquire("k", "a", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();

    redis.pause(); // SIGSTOP: the socket stays open, nothing answers
    let started = Instant::now();
    let err = leases.renew(&held).await.expect_err("frozen");
    // Whichever deadline fired first (ours or the client's response timeout, both op_timeout),
    // the error names the deadline, not zero.
    assert!(
        matches!(err, ha_core::Error::Timeout { after, .. } if after == Duration::from_secs(1)),
        "{err:?}"
    );
    assert!(
        started.elapsed() < FAIL_FAST,
        "took {:?}",
        started.elapsed()
    );

    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match leases.renew(&held).await {
            Ok(renewed) => {
                assert_eq!(renewed.token, held.token);
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert!(e.is_transient(), "{e:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("no recovery after resume: {e:?}"),
        }
    }
}
