//! The liveness keeper on the in-process lease manager, with tokio's clock paused: the record
//! stays live while the keeper runs, lapses within its TTL when the keeper dies without a word,
//! is gone at once after a shutdown, and comes back after the store lost it.

use std::sync::Arc;
use std::time::Duration;

use ha_core::liveness::{is_alive, liveness_key, LivenessConfig, LivenessKeeper};
use ha_core::memory::MemoryLeaseManager;
use ha_core::LeaseManager;

const TTL: Duration = Duration::from_secs(1);

fn leases() -> Arc<dyn LeaseManager> {
    Arc::new(MemoryLeaseManager::new())
}

#[tokio::test(start_paused = true)]
async fn the_record_lives_while_its_keeper_runs() {
    let leases = leases();
    let keeper = LivenessKeeper::spawn(leases.clone(), "node-a", LivenessConfig::new(TTL));
    assert!(keeper.wait_live(TTL).await);
    for _ in 0..40 {
        tokio::time::sleep(TTL / 4).await;
        assert!(is_alive(leases.as_ref(), "node-a").await.unwrap());
    }
    assert!(keeper.is_live());
    assert!(!is_alive(leases.as_ref(), "node-b").await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_dead_keeper_s_record_lapses_within_the_ttl() {
    let leases = leases();
    let keeper = LivenessKeeper::spawn(leases.clone(), "node-a", LivenessConfig::new(TTL));
    assert!(keeper.wait_live(TTL).await);
    drop(keeper); // the process died: no release
    assert!(is_alive(leases.as_ref(), "node-a").await.unwrap());
    tokio::time::sleep(TTL + Duration::from_millis(10)).await;
    assert!(!is_alive(leases.as_ref(), "node-a").await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn shutdown_releases_the_record_at_once() {
    let leases = leases();
    let keeper = LivenessKeeper::spawn(leases.clone(), "node-a", LivenessConfig::new(TTL));
    assert!(keeper.wait_live(TTL).await);
    keeper.shutdown().await;
    assert!(!is_alive(leases.as_ref(), "node-a").await.unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_lost_record_is_written_again() {
    let leases = leases();
    let keeper = LivenessKeeper::spawn(leases.clone(), "node-a", LivenessConfig::new(TTL));
    assert!(keeper.wait_live(TTL).await);
    // Somebody took the record away (a store that lost its data, a take-over of the key).
    let current = leases
        .current(&liveness_key("node-a"))
        .await
        .unwrap()
        .unwrap();
    let thief = leases
        .take_over(&current, "intruder", TTL)
        .await
        .unwrap()
        .unwrap();
    assert!(leases.release(&thief).await.unwrap());
    assert!(!is_alive(leases.as_ref(), "node-a").await.unwrap());
    tokio::time::sleep(TTL / 2).await;
    assert!(is_alive(leases.as_ref(), "node-a").await.unwrap());
    assert!(keeper.is_live());
}
