//! The cluster protocol of the transcode managers: one typed event enum on one topic.
//!
//! # What travels, and why
//!
//! Replicas tell each other five things: a viewer far from the owner's run wants it moved
//! ([`TranscodeEvent::Seek`]), a viewer on another replica still watches
//! ([`TranscodeEvent::Ping`]), a node owns a job now ([`TranscodeEvent::Owned`]) or its
//! tenure ended ([`TranscodeEvent::Ended`]), a segment was published
//! ([`TranscodeEvent::SegmentReady`]), and a draining node asks a live one to take a job
//! ([`TranscodeEvent::HandOver`], `handover.rs`). Owned, Ended and SegmentReady are what a
//! request waiting on another replica reacts to: it re-checks at once instead of at its next poll (the poll is only a
//! slow fallback for a lost message). Events are serde-tagged JSON on the
//! [`TOPIC`] topic, so a payload either decodes into one variant or is ignored; nothing is
//! parsed field by field.

use std::sync::Arc;

use ha_core::{BusMessage, EventBus, EventPublisher};
use serde::{Deserialize, Serialize};

use super::handover::{self, HandOver};
use super::keys::JobKey;
use super::plan::Hold;
use super::{Inner, Rendition};

/// The event bus topic every transcode event travels on.
pub(crate) const TOPIC: &str = "transcode";

/// One message between transcode managers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum TranscodeEvent {
    /// A viewer waits for `segment`, far from the owner's run: move the run there if the hold
    /// allows (see [`Hold`]).
    Seek {
        key: JobKey,
        segment: u32,
        viewer: String,
    },
    /// A viewer on another replica still watches, at `segment`.
    Ping {
        key: JobKey,
        segment: u32,
        viewer: String,
    },
    /// `node` owns the job now, running from segment `from`.
    Owned {
        key: JobKey,
        node: String,
        from: u32,
        takeover: bool,
    },
    /// `node` published `segment`.
    SegmentReady {
        key: JobKey,
        node: String,
        segment: u32,
    },
    /// `node`'s tenure of the job ended, `how`.
    Ended {
        key: JobKey,
        node: String,
        how: JobEnd,
        failure: Option<String>,
    },
    /// `node` is draining: a live replica should take the job over now, from its holder
    /// `node` (or free), at the first segment from `from` on that is missing; `user` is who the
    /// job counts against. The rendition travels along: the job may have no record yet.
    HandOver {
        key: JobKey,
        node: String,
        from: u32,
        user: String,
        rendition: Box<Rendition>,
    },
}

/// How a tenure ended ([`TranscodeEvent::Ended`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum JobEnd {
    /// Every segment was published.
    Completed,
    /// The run failed.
    Failed,
    /// Nobody fetched for the idle timeout (or a viewer stopped it).
    Stopped,
    /// The lease or the record went to somebody else.
    LeaseLost,
    /// This node shut down and released the lease for a survivor.
    HandedOver,
}

impl TranscodeEvent {
    /// The job the event is about.
    pub(crate) fn key(&self) -> &JobKey {
        match self {
            Self::Seek { key, .. }
            | Self::Ping { key, .. }
            | Self::Owned { key, .. }
            | Self::SegmentReady { key, .. }
            | Self::Ended { key, .. }
            | Self::HandOver { key, .. } => key,
        }
    }
}

/// Sends this node's transcode events.
#[derive(Debug, Clone)]
pub(crate) struct Announcer {
    publisher: EventPublisher,
    node: Arc<str>,
}

impl Announcer {
    pub(crate) fn new(bus: Arc<dyn EventBus>, node: &str) -> Self {
        Self {
            publisher: EventPublisher::new(bus, node),
            node: node.into(),
        }
    }

    /// This node's id.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// Publishes `event`; a failure is logged, not returned: events only shorten waits
    /// (waiters poll as a fallback), so a bus outage must not fail a job or a request.
    pub(crate) async fn send(&self, event: &TranscodeEvent) {
        let payload = match serde_json::to_value(event) {
            Ok(payload) => payload,
            Err(error) => {
                tracing::warn!(%error, "transcode event not encodable");
                return;
            }
        };
        if let Err(error) = self.publisher.publish(TOPIC, payload).await {
            tracing::debug!(%error, key = %event.key(), "transcode event not published");
        }
    }
}

/// Acts on one bus message.
pub(crate) fn handle(inner: &Arc<Inner>, msg: BusMessage) {
    let event = match msg {
        BusMessage::Event(e) if e.topic == TOPIC => {
            match serde_json::from_value::<TranscodeEvent>(e.payload) {
                Ok(event) => event,
                Err(error) => {
                    tracing::debug!(%error, origin = e.origin, "undecodable transcode event");
                    return;
                }
            }
        }
        BusMessage::Event(_) => return,
        // Messages may have been lost: every waiting request looks again.
        BusMessage::Gap { .. } | BusMessage::Resync { .. } => {
            inner.waiters.notify_all();
            return;
        }
    };
    match event {
        TranscodeEvent::Owned { key, node, .. } => {
            inner.waiters.notify(&key);
            // A draining node's job was adopted (handover.rs): its run is fenced already, so
            // stop it now rather than at the next lease renewal.
            if inner.is_draining() && node != inner.config.node_id() {
                if let Some(job) = inner.local.get(&key) {
                    job.hand_off();
                }
            }
        }
        TranscodeEvent::HandOver {
            key,
            node,
            from,
            user,
            rendition,
        } => {
            let ho = HandOver {
                key,
                node,
                from,
                user,
                rendition: *rendition,
            };
            tokio::spawn(handover::adopt(inner.clone(), ho));
        }
        TranscodeEvent::SegmentReady { key, .. } | TranscodeEvent::Ended { key, .. } => {
            inner.waiters.notify(&key)
        }
        TranscodeEvent::Ping {
            key,
            segment,
            viewer,
        } => {
            if let Some(job) = inner.local.get(&key) {
                let now = inner.clock.now();
                job.touch(now);
                job.note_request(&viewer, segment, inner.config.reach(), now);
            }
        }
        TranscodeEvent::Seek {
            key,
            segment: at,
            viewer,
        } => {
            let Some(job) = inner.local.get(&key) else {
                return;
            };
            let now = inner.clock.now();
            let run = job.run();
            if at < run.start || at > run.next.saturating_add(inner.config.reach()) {
                job.touch(now);
                let (run_age, others_near) = job.tenure(&viewer, now);
                let hold = Hold {
                    run_age,
                    others_near,
                    seek_hold: inner.config.seek_hold(),
                    near_window: inner.config.near_window(),
                };
                // Held: the asking replica asks again while its viewer waits.
                if hold.allows_move() {
                    job.request_restart(at);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_tagged_json() {
        let key = JobKey::parse("0123456789abcdef0123456789abcdef").unwrap();
        let event = TranscodeEvent::SegmentReady {
            key: key.clone(),
            node: "a".into(),
            segment: 7,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "segment_ready");
        assert_eq!(json["key"], key.as_str());
        assert_eq!(
            serde_json::from_value::<TranscodeEvent>(json).unwrap(),
            event
        );
        let ended = TranscodeEvent::Ended {
            key: key.clone(),
            node: "a".into(),
            how: JobEnd::HandedOver,
            failure: None,
        };
        let json = serde_json::to_value(&ended).unwrap();
        assert_eq!(json["how"], "handed_over");
        assert_eq!(ended.key(), &key);
        let rendition = super::super::rendition::tests::rendition();
        let handover = TranscodeEvent::HandOver {
            key: rendition.job_key(),
            node: "a".into(),
            from: 4,
            user: "u".into(),
            rendition: Box::new(rendition),
        };
        let json = serde_json::to_value(&handover).unwrap();
        assert_eq!(json["kind"], "hand_over");
        assert_eq!(
            serde_json::from_value::<TranscodeEvent>(json).unwrap(),
            handover
        );
        // A payload of another shape (or a bad key) is not an event.
        for bad in [
            serde_json::json!({"kind": "seek", "key": key.as_str()}),
            serde_json::json!({"kind": "ping", "key": "../x", "segment": 1, "viewer": "v"}),
            serde_json::json!({"kind": "nope"}),
        ] {
            assert!(serde_json::from_value::<TranscodeEvent>(bad).is_err());
        }
    }
}
