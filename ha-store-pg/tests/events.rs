//! LISTEN/NOTIFY specifics: a dropped subscription closes its connection, and oversized events
//! are refused with a typed error instead of failing inside PostgreSQL.

mod common;

use std::time::Duration;

use ha_core::{Error, Event, EventBus};

async fn listeners(store: &ha_store_pg::PgStore, channel: &str) -> i64 {
    let client = store.pool().get().await.unwrap();
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE application_name = 'media-ha/events' AND query = $1",
            &[&format!("LISTEN {channel}")],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_subscription_closes_its_connection() {
    let store = common::fresh_store("ev_drop").await;
    let bus = store.events();
    let subs = vec![
        bus.subscribe().await.unwrap(),
        bus.subscribe().await.unwrap(),
    ];
    assert_eq!(listeners(&store, bus.channel()).await, 2);
    drop(subs);
    let mut left = -1;
    for _ in 0..100 {
        left = listeners(&store, bus.channel()).await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "listening connections closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_events_are_invalid() {
    let store = common::fresh_store("ev_big").await;
    let bus = store.events();
    let event = Event {
        origin: "o".into(),
        seq: 1,
        topic: "t".into(),
        payload: serde_json::json!({ "blob": "x".repeat(8_000) }),
    };
    assert!(matches!(bus.send(&event).await, Err(Error::Invalid(_))));
}
