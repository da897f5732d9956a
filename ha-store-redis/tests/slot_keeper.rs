//! `ha_core::SlotKeeper` on a private Redis that is frozen and restarted without persistence:
//! a forgotten slot is taken again (or, with the pool full, the job runs on over the limit),
//! and every change is reported once, not on every tick.

mod common;

use std::time::Duration;

use ha_core::{SlotChange, SlotHealth, SlotKeeper, SlotLimiter};
use ha_testkit::RedisServer;

const TTL: Duration = Duration::from_secs(30);

/// Ticks until the server answers again (the first ticks after a restart may still fail).
async fn until_answered(store: &ha_store_redis::RedisStore) {
    for _ in 0..150 {
        if store.ping().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("redis did not come back within 15 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_lost_in_a_restart_is_taken_again_and_reported_once() {
    let mut redis = RedisServer::start().await;
    let store = common::store_at(&redis.url()).await;
    let slots = store.slots();
    let slot = slots
        .try_acquire("user:1", "job-a", 1, TTL)
        .await
        .unwrap()
        .unwrap();
    let mut keeper = SlotKeeper::default();
    keeper.keep(slot, 1);
    assert!(
        keeper.tick(&slots).await.is_empty(),
        "a renewal is not a change"
    );

    // The store does not answer: one `Failing`, then silence.
    redis.kill();
    let changes = keeper.tick(&slots).await;
    assert!(
        matches!(changes.as_slice(), [SlotChange::Failing { pool, .. }] if pool == "user:1"),
        "{changes:?}"
    );
    for _ in 0..3 {
        assert!(keeper.tick(&slots).await.is_empty(), "reported once");
    }

    // Back, empty: the slot is gone, the keeper takes it again, once.
    redis.restart().await;
    until_answered(&store).await;
    assert_eq!(
        slots.in_use("user:1").await.unwrap(),
        0,
        "the restart lost the slot"
    );
    let changes = keeper.tick(&slots).await;
    assert_eq!(
        changes,
        vec![SlotChange::Reacquired {
            pool: "user:1".into()
        }]
    );
    assert_eq!(slots.in_use("user:1").await.unwrap(), 1, "counted again");
    for _ in 0..3 {
        assert!(keeper.tick(&slots).await.is_empty());
    }
    keeper.release_all(&slots).await;
    assert_eq!(slots.in_use("user:1").await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_pool_full_after_a_restart_the_job_runs_on_and_says_so_once() {
    let mut redis = RedisServer::start().await;
    let store = common::store_at(&redis.url()).await;
    let slots = store.slots();
    let slot = slots
        .try_acquire("user:2", "job-a", 1, TTL)
        .await
        .unwrap()
        .unwrap();
    let mut keeper = SlotKeeper::default();
    keeper.keep(slot, 1);

    redis.restart().await;
    until_answered(&store).await;
    // While the slot was missing, another job of the same user was admitted.
    let other = slots
        .try_acquire("user:2", "job-b", 1, TTL)
        .await
        .unwrap()
        .unwrap();

    let changes = keeper.tick(&slots).await;
    assert_eq!(
        changes,
        vec![SlotChange::OverLimit {
            pool: "user:2".into()
        }]
    );
    assert_eq!(
        keeper.health(),
        vec![("user:2".to_owned(), SlotHealth::OverLimit)]
    );
    for _ in 0..3 {
        assert!(keeper.tick(&slots).await.is_empty(), "reported once");
    }
    assert_eq!(
        slots.in_use("user:2").await.unwrap(),
        1,
        "the limit holds for the pool"
    );

    // The other job ends: the keeper takes its slot back at the next tick.
    assert!(slots.release(&other).await.unwrap());
    assert_eq!(
        keeper.tick(&slots).await,
        vec![SlotChange::Reacquired {
            pool: "user:2".into()
        }]
    );
    assert_eq!(slots.in_use("user:2").await.unwrap(), 1);
}
