//! Cluster events with per-publisher sequence numbers, so a receiver knows when it missed some.
//!
//! # Why sequence numbers
//!
//! Redis pub/sub and Postgres NOTIFY are fire-and-forget: a subscriber that was disconnected
//! for a second silently misses what was published meanwhile, and a cache it keeps goes stale
//! for good. Each [`EventPublisher`] numbers its events 1, 2, 3…; every [`Subscription`] runs a
//! [`GapDetector`] and reports [`BusMessage::Gap`] when a number is skipped, and backends report
//! [`BusMessage::Resync`] after a reconnect. Either tells the receiver to reload from the
//! source of truth instead of trusting its cache.
//!
//! Backends only move [`Event`]s ([`EventBus::send`]) and hand subscribers a channel of
//! [`Transport`] items; the numbering and gap logic live here, once, for all of them.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::Result;

/// One event as it travels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The publisher instance (unique per process start, see [`EventPublisher::new`]).
    pub origin: String,
    /// The publisher's sequence number, from 1, without gaps.
    pub seq: u64,
    /// What the event is about (`library.changed`, `session.ended`, …).
    pub topic: String,
    /// Details.
    pub payload: serde_json::Value,
}

/// What a backend delivers to a subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    /// An event as received.
    Event(Event),
    /// The backend lost its connection (or dropped messages) and may have missed events.
    Interrupted {
        /// Why.
        reason: String,
    },
}

/// What a subscriber receives.
#[derive(Debug, Clone, PartialEq)]
pub enum BusMessage {
    /// An event, in publisher order.
    Event(Event),
    /// Events `expected..received` from `origin` never arrived; reload what they could have
    /// changed. The event numbered `received` follows as a [`BusMessage::Event`].
    Gap {
        /// The publisher.
        origin: String,
        /// The first missing number.
        expected: u64,
        /// The number that arrived instead.
        received: u64,
    },
    /// The subscription may have missed any number of events (reconnect, overflow): reload.
    Resync {
        /// Why.
        reason: String,
    },
}

/// Tracks the last sequence number per publisher.
#[derive(Debug, Default, Clone)]
pub struct GapDetector {
    last: HashMap<String, u64>,
}

/// What [`GapDetector::observe`] concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Observation {
    /// The next number, or the first seen from this publisher.
    InOrder,
    /// Numbers were skipped; the first missing one is given.
    Gap {
        /// The first missing number.
        expected: u64,
    },
    /// Already seen (a duplicate or a replay): drop it.
    Duplicate,
}

impl GapDetector {
    /// A detector that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `seq` from `origin` and says whether it follows the previous one.
    pub fn observe(&mut self, origin: &str, seq: u64) -> Observation {
        match self.last.get_mut(origin) {
            None => {
                self.last.insert(origin.to_owned(), seq);
                Observation::InOrder
            }
            Some(last) if seq <= *last => Observation::Duplicate,
            Some(last) => {
                let expected = *last + 1;
                *last = seq;
                if seq == expected {
                    Observation::InOrder
                } else {
                    Observation::Gap { expected }
                }
            }
        }
    }

    /// Forgets everything (after a resync the receiver reloads, so any number is fine next).
    pub fn reset(&mut self) {
        self.last.clear();
    }
}

/// A live subscription: yields events in order, with gaps and resyncs made explicit.
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::Receiver<Transport>,
    detector: GapDetector,
    held: Option<Event>,
}

impl Subscription {
    /// Wraps a backend's channel.
    pub fn new(rx: mpsc::Receiver<Transport>) -> Self {
        Self {
            rx,
            detector: GapDetector::new(),
            held: None,
        }
    }

    /// The next message; `None` once the backend closed the subscription for good.
    pub async fn next(&mut self) -> Option<BusMessage> {
        if let Some(event) = self.held.take() {
            return Some(BusMessage::Event(event));
        }
        loop {
            match self.rx.recv().await? {
                Transport::Interrupted { reason } => {
                    self.detector.reset();
                    return Some(BusMessage::Resync { reason });
                }
                Transport::Event(event) => match self.detector.observe(&event.origin, event.seq) {
                    Observation::InOrder => return Some(BusMessage::Event(event)),
                    Observation::Duplicate => continue,
                    Observation::Gap { expected } => {
                        let gap = BusMessage::Gap {
                            origin: event.origin.clone(),
                            expected,
                            received: event.seq,
                        };
                        self.held = Some(event);
                        return Some(gap);
                    }
                },
            }
        }
    }
}

/// Moves events between replicas.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
/// use ha_core::{memory::MemoryEventBus, BusMessage, EventBus, EventPublisher};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ha_core::Result<()> {
/// let bus: Arc<dyn EventBus> = Arc::new(MemoryEventBus::new());
/// let mut sub = bus.subscribe().await?;
/// let publisher = EventPublisher::new(bus.clone(), "node-a");
/// publisher.publish("library.changed", serde_json::json!({"item": "42"})).await?;
/// match sub.next().await {
///     Some(BusMessage::Event(e)) => assert_eq!((e.seq, e.topic.as_str()), (1, "library.changed")),
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait EventBus: Send + Sync + fmt::Debug + 'static {
    /// Sends one event to every current subscriber (of every replica). Prefer
    /// [`EventPublisher`], which numbers events for you.
    async fn send(&self, event: &Event) -> Result<()>;

    /// Subscribes. Every event sent after this returns is delivered (or a gap/resync reported).
    async fn subscribe(&self) -> Result<Subscription>;
}

/// Numbers and sends events for one publisher instance.
#[derive(Debug, Clone)]
pub struct EventPublisher {
    bus: Arc<dyn EventBus>,
    origin: Arc<str>,
    next_seq: Arc<AtomicU64>,
}

impl EventPublisher {
    /// A publisher for `node_id`. The origin is `node_id` plus a random boot id, so a restarted
    /// node numbering from 1 again is a new publisher, not a replay.
    pub fn new(bus: Arc<dyn EventBus>, node_id: &str) -> Self {
        let origin = format!("{node_id}/{}", crate::ids::new_id());
        Self {
            bus,
            origin: origin.into(),
            next_seq: Arc::new(AtomicU64::new(1)),
        }
    }

    /// This publisher's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Sends an event; returns its sequence number. A failed send still uses up its number, so
    /// receivers see a gap and resync rather than missing the event silently.
    pub async fn publish(&self, topic: &str, payload: serde_json::Value) -> Result<u64> {
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let event = Event {
            origin: self.origin.to_string(),
            seq,
            topic: topic.to_owned(),
            payload,
        };
        self.bus.send(&event).await?;
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detector_reports_gaps_and_drops_duplicates() {
        let mut d = GapDetector::new();
        assert_eq!(d.observe("a", 5), Observation::InOrder);
        assert_eq!(d.observe("a", 6), Observation::InOrder);
        assert_eq!(d.observe("a", 6), Observation::Duplicate);
        assert_eq!(d.observe("a", 9), Observation::Gap { expected: 7 });
        assert_eq!(d.observe("b", 1), Observation::InOrder);
        assert_eq!(d.observe("a", 10), Observation::InOrder);
        d.reset();
        assert_eq!(d.observe("a", 2), Observation::InOrder);
    }
}
