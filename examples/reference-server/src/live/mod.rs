//! The live channel: `/socket`, the WebSocket Jellyfin clients keep open for push messages.
//!
//! Cluster-wide by construction: every change is a typed event on the [`EventBus`]
//! (`events.rs`), every replica follows the bus ([`follow`]) and hands each event to the
//! sockets it holds (`hub.rs`), so a film marked played through replica B reaches a browser
//! connected to replica A.
//!
//! | file | what |
//! |---|---|
//! | `events.rs` | [`LiveEvent`]: what travels on the bus, in Jellyfin's shapes |
//! | `protocol.rs` | messages in and out, keep-alive, flood meter, limits (pure) |
//! | `hub.rs` | this replica's sockets, bounded queues, per-session and per-user caps |
//! | `socket.rs` | one connection's task |
//! | `sessions.rs` | the `Sessions` list |
//!
//! [`EventBus`]: media_ha::core::EventBus

pub mod events;
pub mod hub;
pub mod protocol;
pub mod sessions;
pub mod socket;

use media_ha::core::{BusMessage, EventPublisher, Subscription};
use tokio::sync::watch;

pub use events::LiveEvent;

/// The live channel's shared parts.
#[derive(Debug)]
pub struct Live {
    /// This replica's sockets.
    pub hub: hub::LiveHub,
    /// Publishes live events from this replica.
    publisher: EventPublisher,
    closing: watch::Sender<bool>,
}

impl Live {
    /// A live channel publishing through `publisher`.
    pub fn new(publisher: EventPublisher) -> Self {
        Self {
            hub: hub::LiveHub::default(),
            publisher,
            closing: watch::channel(false).0,
        }
    }

    /// Publishes `event` to every replica's sockets (this one's too, through the bus).
    pub async fn publish(&self, event: LiveEvent) {
        event.publish(&self.publisher).await;
    }

    /// Turns true when the server shuts down (sockets then close with `1012`).
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Closes every socket of this replica (server shutdown).
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }
}

/// Hands the cluster's live events to this replica's sockets until `stop` turns true.
pub async fn follow(hub: hub::LiveHub, mut sub: Subscription, mut stop: watch::Receiver<bool>) {
    loop {
        let message = tokio::select! {
            m = sub.next() => m,
            _ = stop.wait_for(|s| *s) => return,
        };
        match message {
            Some(BusMessage::Event(event)) => {
                if let Some(live) = LiveEvent::from_event(&event) {
                    hub.deliver(&live);
                }
            }
            // Missed events cannot be replayed; clients reload what they show on their own
            // reconnects and refreshes. A session list is cheap to resend.
            Some(BusMessage::Gap { .. } | BusMessage::Resync { .. }) => {
                hub.deliver(&LiveEvent::Sessions);
            }
            None => {
                tracing::warn!("live: the cluster event bus closed; sockets get no more pushes");
                return;
            }
        }
    }
}
