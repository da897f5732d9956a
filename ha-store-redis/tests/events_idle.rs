//! An idle subscription stays connected: the keep-alive PING must not be mistaken for a dead
//! connection (it once was, because Redis answers PING in subscribed mode with an array, so
//! every subscriber reconnected and resynced every few seconds, missing events each time).

use std::sync::Arc;
use std::time::Duration;

use ha_core::{BusMessage, EventBus, EventPublisher};
use ha_store_redis::{RedisStore, RedisStoreConfig};

/// Longer than the subscriber's keep-alive interval (5 s), so at least one PING is answered.
const IDLE: Duration = Duration::from_secs(7);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_subscriber_is_not_resynced_by_its_keep_alive() {
    let url = ha_testkit::redis_url().await;
    let config = RedisStoreConfig::from_url(&url)
        .unwrap()
        .with_prefix(ha_testkit::unique("idle-events"));
    let store = RedisStore::connect(config).await.unwrap();
    let bus: Arc<dyn EventBus> = Arc::new(store.events());
    let mut sub = bus.subscribe().await.unwrap();

    // Nothing is published, so nothing may arrive: a Resync here is a needless reconnect.
    let quiet = tokio::time::timeout(IDLE, sub.next()).await;
    assert!(quiet.is_err(), "idle subscription received {quiet:?}");

    let publisher = EventPublisher::new(bus.clone(), "node-a");
    let seq = publisher
        .publish("t", serde_json::json!({"n": 1}))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .expect("the event arrives");
    match got {
        Some(BusMessage::Event(event)) => assert_eq!(event.seq, seq),
        other => panic!("expected the event, got {other:?}"),
    }
}
