//! [`EventBus`] semantics every backend must show. Two handles stand for two replicas.

use std::sync::Arc;

use super::{unique, within};
use crate::{BusMessage, Event, EventBus, EventPublisher, Subscription};

/// The next message from `origin`, skipping traffic of other tests sharing the backend.
async fn next_from(sub: &mut Subscription, origin: &str) -> BusMessage {
    within(10, "event delivery", async {
        loop {
            let msg = sub.next().await.expect("subscription closed");
            let from = match &msg {
                BusMessage::Event(e) => Some(e.origin.as_str()),
                BusMessage::Gap { origin, .. } => Some(origin.as_str()),
                BusMessage::Resync { .. } => None,
            };
            if from == Some(origin) {
                return msg;
            }
            if from.is_none() {
                panic!("unexpected resync on a healthy backend: {msg:?}");
            }
        }
    })
    .await
}

fn raw(origin: &str, seq: u64) -> Event {
    Event {
        origin: origin.to_owned(),
        seq,
        topic: "test.raw".into(),
        payload: serde_json::json!({ "seq": seq }),
    }
}

fn seq_of(msg: BusMessage) -> u64 {
    match msg {
        BusMessage::Event(e) => e.seq,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// Events published on one instance arrive on another, in order, numbered from 1.
pub async fn events_arrive_in_order_across_instances(a: Arc<dyn EventBus>, b: Arc<dyn EventBus>) {
    let mut sub = b.subscribe().await.unwrap();
    let publisher = EventPublisher::new(a, &unique("node"));
    for i in 0..20 {
        let seq = publisher
            .publish(
                "library.changed",
                serde_json::json!({ "i": i, "name": "Amélie 'x'" }),
            )
            .await
            .unwrap();
        assert_eq!(seq, i + 1);
    }
    for i in 0..20u64 {
        match next_from(&mut sub, publisher.origin()).await {
            BusMessage::Event(e) => {
                assert_eq!(e.seq, i + 1);
                assert_eq!(e.topic, "library.changed");
                assert_eq!(e.payload["i"], i);
                assert_eq!(e.payload["name"], "Amélie 'x'");
            }
            other => panic!("expected event {}, got {other:?}", i + 1),
        }
    }
}

/// A skipped sequence number is reported as a gap, then the event that revealed it follows.
pub async fn events_gap_is_reported_before_the_event(a: Arc<dyn EventBus>, b: Arc<dyn EventBus>) {
    let mut sub = b.subscribe().await.unwrap();
    let origin = unique("node");
    for seq in [1, 2, 5, 6] {
        a.send(&raw(&origin, seq)).await.unwrap();
    }
    assert_eq!(seq_of(next_from(&mut sub, &origin).await), 1);
    assert_eq!(seq_of(next_from(&mut sub, &origin).await), 2);
    match next_from(&mut sub, &origin).await {
        BusMessage::Gap {
            expected, received, ..
        } => assert_eq!((expected, received), (3, 5)),
        other => panic!("expected a gap, got {other:?}"),
    }
    assert_eq!(seq_of(next_from(&mut sub, &origin).await), 5);
    assert_eq!(seq_of(next_from(&mut sub, &origin).await), 6);
}

/// A re-delivered event is dropped, not delivered twice.
pub async fn events_duplicates_are_dropped(a: Arc<dyn EventBus>, b: Arc<dyn EventBus>) {
    let mut sub = b.subscribe().await.unwrap();
    let origin = unique("node");
    for seq in [1, 2, 2, 1, 3] {
        a.send(&raw(&origin, seq)).await.unwrap();
    }
    for want in 1..=3 {
        assert_eq!(seq_of(next_from(&mut sub, &origin).await), want);
    }
}

/// Every subscriber, on either instance, receives every event.
pub async fn events_every_subscriber_receives(a: Arc<dyn EventBus>, b: Arc<dyn EventBus>) {
    let mut on_a = a.subscribe().await.unwrap();
    let mut on_b = b.subscribe().await.unwrap();
    let mut second_on_b = b.subscribe().await.unwrap();
    let publisher = EventPublisher::new(b.clone(), &unique("node"));
    publisher
        .publish("session.ended", serde_json::json!({}))
        .await
        .unwrap();
    for sub in [&mut on_a, &mut on_b, &mut second_on_b] {
        assert_eq!(seq_of(next_from(sub, publisher.origin()).await), 1);
    }
}
