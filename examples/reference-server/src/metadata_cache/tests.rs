//! Two replicas' caches over one real in-process store and bus: what each answers from
//! memory, and what a change through the other makes it drop.

use std::sync::Arc;
use std::time::Duration;

use media_ha::core::memory::{MemoryEventBus, MemoryMetadataRepo};
use media_ha::core::{EventBus, EventPublisher, MetadataRepo, User};

use super::CachedMetadata;

/// Far longer than a test: only an event can explain a change seen through a cache.
const LONG: Duration = Duration::from_secs(60);

fn carol(is_admin: bool) -> User {
    User {
        id: "c0000000000000000000000000000001".into(),
        name: "carol".into(),
        password_hash: "hash".into(),
        is_admin,
        created_ms: 0,
    }
}

fn replica(
    store: &Arc<MemoryMetadataRepo>,
    bus: &Arc<MemoryEventBus>,
    node: &str,
) -> CachedMetadata {
    let publisher = EventPublisher::new(bus.clone(), node);
    CachedMetadata::new(store.clone(), LONG).with_publisher(publisher)
}

#[tokio::test]
async fn a_user_changed_through_one_replica_is_read_again_on_the_other() {
    let store = Arc::new(MemoryMetadataRepo::in_memory());
    let bus = Arc::new(MemoryEventBus::new());
    let (a, b) = (replica(&store, &bus, "a"), replica(&store, &bus, "b"));
    let mut b_events = bus.subscribe().await.unwrap();
    let id = carol(false).id;

    a.create_user(&carol(false)).await.unwrap();
    b.apply(&b_events.next().await.unwrap());
    assert!(!b.get_user(&id).await.unwrap().unwrap().is_admin);

    // Behind the servers' backs: B keeps answering what it read (the cache is real).
    store.update_user(&carol(true)).await.unwrap();
    assert!(!b.get_user(&id).await.unwrap().unwrap().is_admin);

    // Through A: B drops the user on the event and reads the store again.
    a.update_user(&carol(true)).await.unwrap();
    b.apply(&b_events.next().await.unwrap());
    assert!(b.get_user(&id).await.unwrap().unwrap().is_admin);

    a.delete_user(&id).await.unwrap();
    b.apply(&b_events.next().await.unwrap());
    assert_eq!(
        b.get_user(&id).await.unwrap(),
        None,
        "a deleted user is gone on B"
    );
    assert_eq!(a.get_user(&id).await.unwrap(), None, "and on A at once");
}

#[tokio::test]
async fn a_malformed_or_missed_event_drops_every_cached_user() {
    let store = Arc::new(MemoryMetadataRepo::in_memory());
    let bus = Arc::new(MemoryEventBus::new());
    let b = replica(&store, &bus, "b");
    let mut b_events = bus.subscribe().await.unwrap();
    let id = carol(false).id;
    store.create_user(&carol(false)).await.unwrap();
    assert!(!b.get_user(&id).await.unwrap().unwrap().is_admin);
    store.update_user(&carol(true)).await.unwrap();

    EventPublisher::new(bus.clone(), "a")
        .publish(
            super::METADATA_CHANGED,
            serde_json::json!({ "something": "else" }),
        )
        .await
        .unwrap();
    b.apply(&b_events.next().await.unwrap());
    assert!(b.get_user(&id).await.unwrap().unwrap().is_admin);
}
