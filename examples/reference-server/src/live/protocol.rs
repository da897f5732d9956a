//! The WebSocket protocol Jellyfin clients speak, and the limits a connection lives under.
//!
//! Pure: messages in and out as JSON, and a flood meter fed the time by its caller, so the
//! rules are tested without sockets or clocks.
//!
//! Messages are `{"MessageType": "…", "MessageId": "…", "Data": …}` both ways. Clients send
//! `KeepAlive` (answered with `KeepAlive`), `SessionsStart` with `"<initial ms>,<period ms>"`
//! and `SessionsStop`; the server sends `ForceKeepAlive` (the seconds after which a silent
//! connection counts as lost) on connect, and `Sessions`, `UserDataChanged`,
//! `LibraryChanged`, `Playstate`, `GeneralCommand` and `Play` as things happen.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{json, Value};

/// Seconds of silence after which a connection counts as lost (Jellyfin's value).
pub const LOST_AFTER_SECS: u64 = 60;
/// The largest message a client may send (clients send a few hundred bytes at most).
pub const MAX_INBOUND_BYTES: usize = 64 * 1024;
/// Outbound messages queued for one connection before it counts as too slow and is closed.
pub const OUTBOUND_QUEUE: usize = 64;
/// Bytes of outbound messages queued for one connection before it counts as too slow and is
/// closed (a message alone in the queue is always taken, whatever its size). The count of
/// [`OUTBOUND_QUEUE`] alone let 64 large messages pile up per socket: a user sending
/// ~1 MB remote-control messages to their own sessions' unread sockets held ~380 MB of one
/// replica with 4 sessions (second attack pass, issue 20).
pub const OUTBOUND_BYTES: usize = 1 << 20;
/// The largest remote-control command (its JSON `Data`) a client may send to a session: the
/// size of what a client may send the server over the socket ([`MAX_INBOUND_BYTES`]). A
/// `Play` of the 1,000 items allowed is about 35 KB.
pub const MAX_COMMAND_BYTES: usize = MAX_INBOUND_BYTES;
/// Sockets one session may hold (a browser with a few tabs).
pub const MAX_PER_SESSION: usize = 8;
/// Sockets one user may hold across their sessions, on one replica.
pub const MAX_PER_USER: usize = 32;
/// Fastest and slowest `Sessions` period a client may ask for.
pub const SESSIONS_PERIOD: (Duration, Duration) =
    (Duration::from_millis(1000), Duration::from_secs(60));

/// A message from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// `KeepAlive`.
    KeepAlive,
    /// `SessionsStart`: send the session list after `initial`, then every `period`.
    SessionsStart {
        /// Delay before the first list.
        initial: Duration,
        /// Period (clamped to [`SESSIONS_PERIOD`]).
        period: Duration,
    },
    /// `SessionsStop`.
    SessionsStop,
    /// Anything else (another listener's start/stop, unknown types): ignored.
    Other(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    message_type: String,
    #[serde(default)]
    data: Value,
}

/// Parses a text message; `None` for malformed JSON.
pub fn parse_inbound(text: &str) -> Option<Inbound> {
    let envelope: Envelope = serde_json::from_str(text).ok()?;
    Some(match envelope.message_type.as_str() {
        "KeepAlive" => Inbound::KeepAlive,
        "SessionsStop" => Inbound::SessionsStop,
        "SessionsStart" => {
            let spec = match &envelope.data {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            let mut parts = spec.split(',').map(|p| p.trim().parse::<u64>().ok());
            let initial = parts.next().flatten().unwrap_or(0);
            let period = parts.next().flatten().unwrap_or(1500);
            Inbound::SessionsStart {
                initial: Duration::from_millis(initial.min(60_000)),
                period: Duration::from_millis(period).clamp(SESSIONS_PERIOD.0, SESSIONS_PERIOD.1),
            }
        }
        other => Inbound::Other(other.to_owned()),
    })
}

/// An outbound message as text.
pub fn outbound(message_type: &str, data: Option<&Value>) -> String {
    let mut message = json!({
        "MessageType": message_type,
        "MessageId": media_ha::core::ids::new_id(),
    });
    if let (Some(data), Some(map)) = (data, message.as_object_mut()) {
        map.insert("Data".into(), data.clone());
    }
    message.to_string()
}

/// A token bucket over inbound messages: `burst` at once, `per_second` sustained.
#[derive(Debug, Clone)]
pub struct FloodMeter {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl FloodMeter {
    /// The default for a client: 40 at once, 10 a second sustained (real clients send one
    /// `KeepAlive` every 30 s and a start/stop now and then).
    pub fn new(now: Instant) -> Self {
        Self::with_rate(now, 40.0, 10.0)
    }

    /// A meter with its own rates.
    pub fn with_rate(now: Instant, burst: f64, per_second: f64) -> Self {
        Self {
            tokens: burst,
            burst,
            per_second,
            last: now,
        }
    }

    /// Counts one message at `now`; false when the client is flooding.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_jellyfin_web_sends() {
        assert_eq!(
            parse_inbound(r#"{"MessageType":"KeepAlive"}"#),
            Some(Inbound::KeepAlive)
        );
        assert_eq!(
            parse_inbound(r#"{"MessageType":"SessionsStart","Data":"0,1500"}"#),
            Some(Inbound::SessionsStart {
                initial: Duration::ZERO,
                period: Duration::from_millis(1500)
            })
        );
        assert_eq!(
            parse_inbound(r#"{"MessageType":"SessionsStart","Data":"5,10"}"#),
            Some(Inbound::SessionsStart {
                initial: Duration::from_millis(5),
                period: SESSIONS_PERIOD.0
            }),
            "a too-short period is clamped"
        );
        assert_eq!(
            parse_inbound(r#"{"MessageType":"ScheduledTasksInfoStart","Data":"0,1000"}"#),
            Some(Inbound::Other("ScheduledTasksInfoStart".into()))
        );
        assert_eq!(parse_inbound("{not json"), None);
        assert_eq!(parse_inbound(r#"{"Data":1}"#), None);
    }

    #[test]
    fn outbound_messages_have_jellyfins_envelope() {
        let m: Value = serde_json::from_str(&outbound("ForceKeepAlive", Some(&json!(60)))).unwrap();
        assert_eq!(m["MessageType"], "ForceKeepAlive");
        assert_eq!(m["Data"], 60);
        assert_eq!(m["MessageId"].as_str().map(str::len), Some(32));
        let k: Value = serde_json::from_str(&outbound("KeepAlive", None)).unwrap();
        assert!(k.get("Data").is_none());
    }

    #[test]
    fn the_flood_meter_allows_bursts_and_refills() {
        let t0 = Instant::now();
        let mut m = FloodMeter::with_rate(t0, 3.0, 1.0);
        assert!(m.allow(t0) && m.allow(t0) && m.allow(t0));
        assert!(!m.allow(t0), "burst used up");
        assert!(
            m.allow(t0 + Duration::from_secs(1)),
            "one token back a second later"
        );
        assert!(!m.allow(t0 + Duration::from_secs(1)));
        assert!(m.allow(t0 + Duration::from_secs(100)));
    }
}
