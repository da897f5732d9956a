//! Lease tokens on PostgreSQL: derived from the server clock, so they never go backwards even
//! when the table and its sequence are lost.

mod common;

use std::time::Duration;

use ha_core::LeaseManager;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_stay_ahead_after_the_lease_table_is_lost() {
    let store = common::fresh_store("lease_loss").await;
    let leases = store.leases();
    let ttl = Duration::from_secs(30);
    let first = leases.try_acquire("k", "a", ttl).await.unwrap().unwrap();
    let now_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    // Tokens follow the server clock (same machine here: within a minute of ours).
    assert!(
        first.token.get().abs_diff(now_us) < 60_000_000,
        "{}",
        first.token
    );

    // Lose every row and reset the sequence, as a restore of an empty database would.
    let client = store.pool().get().await.unwrap();
    client
        .batch_execute("TRUNCATE leases; ALTER SEQUENCE lease_tokens RESTART")
        .await
        .unwrap();
    let second = leases.try_acquire("k", "b", ttl).await.unwrap().unwrap();
    assert!(second.token > first.token);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_key_keeps_its_row_so_tokens_grow_per_key() {
    let store = common::fresh_store("lease_rows").await;
    let leases = store.leases();
    let ttl = Duration::from_secs(30);
    let mut last = None;
    for holder in ["a", "b", "c", "d"] {
        let lease = leases.try_acquire("k", holder, ttl).await.unwrap().unwrap();
        if let Some(prev) = last {
            assert!(lease.token > prev);
        }
        last = Some(lease.token);
        assert!(leases.release(&lease).await.unwrap());
        assert!(leases.current("k").await.unwrap().is_none());
    }
    // Batch renew of a mix: one live, one released, one forged.
    let live = leases.try_acquire("x", "a", ttl).await.unwrap().unwrap();
    let gone = leases.try_acquire("y", "a", ttl).await.unwrap().unwrap();
    leases.release(&gone).await.unwrap();
    let forged = ha_core::Lease {
        holder: "mallory".into(),
        ..live.clone()
    };
    let renewed = leases
        .renew_many(&[live.clone(), gone, forged, live.clone()])
        .await
        .unwrap();
    let flags: Vec<bool> = renewed.iter().map(Option::is_some).collect();
    assert_eq!(flags, vec![true, false, false, true]);
    assert_eq!(renewed[0].as_ref().unwrap().token, live.token);
}
