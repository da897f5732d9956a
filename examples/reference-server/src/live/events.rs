//! What the live channel carries between replicas: typed events on the cluster [`EventBus`].
//!
//! Why through the bus even on one replica: a client's WebSocket lives on one replica while
//! the change it must hear about (a film marked played, a remote-control command for its
//! session) may arrive through any other. Every change is published once; every replica's
//! hub hears it (its own included) and hands it to the sockets it holds. One path, so a
//! message is never delivered twice nor only where it happened.
//!
//! Each event is a topic under `live.` with a JSON payload in Jellyfin's shapes, so the hub
//! only wraps it in `{"MessageType", "MessageId", "Data"}`. The library scan's own
//! `library.changed` event (counts and item ids) is read here too.
//!
//! [`EventBus`]: media_ha::core::EventBus

use media_ha::core::{Event, EventPublisher};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::chain;

/// Topic: a user's item data changed (`UserDataChanged`).
pub const USER_DATA: &str = "live.user-data";
/// Topic: the session list changed (a `Sessions` refresh for subscribers).
pub const SESSIONS: &str = "live.sessions";
/// Topic: a command for one session (`Playstate`, `GeneralCommand`, `Play`).
pub const COMMAND: &str = "live.command";
/// Topic the library scan publishes (see `scan.rs`).
pub const LIBRARY: &str = "library.changed";

/// A change some connected clients must hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// `UserDataChanged` for the sockets of `user_id`.
    UserData {
        /// The user.
        user_id: String,
        /// `UserItemDataDto`s.
        data: Vec<Value>,
    },
    /// `LibraryChanged` for every socket.
    Library(LibraryChange),
    /// The session list changed: subscribers of `SessionsStart` get a fresh `Sessions`.
    Sessions,
    /// A message for the sockets of one session.
    Command(SessionCommand),
}

/// Jellyfin's `LibraryUpdateInfo` (the fields clients read).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LibraryChange {
    /// Items added.
    pub items_added: Vec<String>,
    /// Items changed.
    pub items_updated: Vec<String>,
    /// Items removed.
    pub items_removed: Vec<String>,
    /// Folders items were added to.
    pub folders_added_to: Vec<String>,
    /// Folders items were removed from.
    pub folders_removed_from: Vec<String>,
    /// Library roots affected.
    pub collection_folders: Vec<String>,
}

/// A remote-control message for one session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionCommand {
    /// The target session's id.
    pub session_id: String,
    /// `Playstate`, `GeneralCommand` or `Play`.
    pub message_type: String,
    /// The message's `Data`.
    pub data: Value,
}

#[derive(Serialize, Deserialize)]
struct UserDataPayload {
    user_id: String,
    data: Vec<Value>,
}

impl LiveEvent {
    /// The event in a bus event, if it is one of ours.
    pub fn from_event(event: &Event) -> Option<Self> {
        match event.topic.as_str() {
            USER_DATA => {
                let p: UserDataPayload = serde_json::from_value(event.payload.clone()).ok()?;
                Some(Self::UserData {
                    user_id: p.user_id,
                    data: p.data,
                })
            }
            SESSIONS => Some(Self::Sessions),
            COMMAND => serde_json::from_value(event.payload.clone())
                .ok()
                .map(Self::Command),
            LIBRARY => Some(Self::Library(
                serde_json::from_value(event.payload.clone()).unwrap_or_default(),
            )),
            _ => None,
        }
    }

    /// `(topic, payload)` on the bus.
    pub fn to_bus(&self) -> (&'static str, Value) {
        match self {
            Self::UserData { user_id, data } => (
                USER_DATA,
                serde_json::json!(UserDataPayload {
                    user_id: user_id.clone(),
                    data: data.clone(),
                }),
            ),
            Self::Library(change) => (LIBRARY, serde_json::json!(change)),
            Self::Sessions => (SESSIONS, Value::Null),
            Self::Command(command) => (COMMAND, serde_json::json!(command)),
        }
    }

    /// Publishes the event for every replica (failures are logged: a missed live message
    /// costs a client a refresh, never data).
    pub async fn publish(&self, publisher: &EventPublisher) {
        let (topic, payload) = self.to_bus();
        if let Err(err) = publisher.publish(topic, payload).await {
            tracing::warn!(topic, error = %chain(&err), "live: could not publish");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(e: LiveEvent) -> Option<LiveEvent> {
        let (topic, payload) = e.to_bus();
        LiveEvent::from_event(&Event {
            origin: "a".into(),
            seq: 1,
            topic: topic.into(),
            payload,
        })
    }

    #[test]
    fn events_round_trip_through_the_bus() {
        let events = [
            LiveEvent::UserData {
                user_id: "u".into(),
                data: vec![serde_json::json!({"ItemId": "i", "Played": true})],
            },
            LiveEvent::Sessions,
            LiveEvent::Command(SessionCommand {
                session_id: "s".into(),
                message_type: "Playstate".into(),
                data: serde_json::json!({"Command": "Pause"}),
            }),
            LiveEvent::Library(LibraryChange {
                items_added: vec!["x".into()],
                ..LibraryChange::default()
            }),
        ];
        for e in events {
            assert_eq!(round_trip(e.clone()), Some(e));
        }
    }

    #[test]
    fn the_scans_event_reads_as_a_library_change_and_others_are_ignored() {
        let scan = Event {
            origin: "a".into(),
            seq: 1,
            topic: LIBRARY.into(),
            payload: serde_json::json!({"added": 2, "ItemsAdded": ["x", "y"]}),
        };
        match LiveEvent::from_event(&scan) {
            Some(LiveEvent::Library(c)) => assert_eq!(c.items_added, ["x", "y"]),
            other => panic!("{other:?}"),
        }
        let other = Event {
            topic: "session.revoked".into(),
            ..scan
        };
        assert_eq!(LiveEvent::from_event(&other), None);
    }
}
