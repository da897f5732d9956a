//! [`EventBus`] on PostgreSQL `LISTEN`/`NOTIFY`.
//!
//! # How
//!
//! * **Send** is `SELECT pg_notify(channel, json)` on a pooled connection. The channel is per
//!   schema, so deployments sharing a database do not hear each other. PostgreSQL caps a
//!   payload at 8000 bytes: a larger event is refused with `Invalid` (events are invalidation
//!   hints; put the data itself in a table).
//! * **Subscribe** opens a dedicated connection for the subscription (a pooled one would go
//!   back to the pool still listening), runs `LISTEN`, and only then returns, so every event
//!   sent afterwards is delivered. A task forwards notifications until the [`Subscription`] is
//!   dropped.
//! * **Connection loss** (server restart, network) is noticed by the driver, or by a ping every
//!   few seconds for a connection that went silent. The task reconnects with exponential
//!   backoff (100 ms doubling to 5 s) and, once `LISTEN` is back in force, reports
//!   [`Transport::Interrupted`], which the subscriber sees as [`ha_core::BusMessage::Resync`]:
//!   whatever it reloads then includes every change it missed. (Reporting it before the
//!   re-`LISTEN` would let a reload race with changes published in between.)

use std::time::Duration;

use async_trait::async_trait;
use ha_core::{Event, EventBus, Result, Subscription, Transport};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::config::PgStoreConfig;
use crate::error::{PgError, PgResult};
use crate::PgStore;

/// PostgreSQL's limit on a NOTIFY payload (8000 bytes, terminator included).
pub const MAX_PAYLOAD: usize = 7999;

const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// How often an idle listening connection is checked.
const PING_EVERY: Duration = Duration::from_secs(5);
/// Backoff between reconnection attempts.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The PostgreSQL [`EventBus`]. Make one with [`PgStore::events`].
#[derive(Debug, Clone)]
pub struct PgEventBus {
    store: PgStore,
    channel: String,
}

impl PgEventBus {
    pub(crate) fn new(store: PgStore) -> Self {
        let channel = channel_for(store.config().schema());
        Self { store, channel }
    }

    /// The NOTIFY channel (`media_ha_events_<schema>`, hashed when that would exceed 63 bytes).
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

fn channel_for(schema: &str) -> String {
    let plain = format!("media_ha_events_{schema}");
    if plain.len() <= 63 {
        return plain;
    }
    let digest = Sha256::digest(schema.as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("media_ha_events_{hex}")
}

#[async_trait]
impl EventBus for PgEventBus {
    async fn send(&self, event: &Event) -> Result<()> {
        let payload =
            serde_json::to_string(event).map_err(|e| ha_core::Error::encode("event", e))?;
        if payload.len() > MAX_PAYLOAD {
            return Err(ha_core::Error::Invalid(format!(
                "event is {} bytes as JSON; NOTIFY carries at most {MAX_PAYLOAD}",
                payload.len()
            )));
        }
        self.store
            .call("send event", async {
                let conn = self.store.conn("send event").await?;
                conn.execute(NOTIFY, &[&self.channel, &payload]).await?;
                Ok(())
            })
            .await
    }

    async fn subscribe(&self) -> Result<Subscription> {
        let config = self.store.config().clone();
        let listener = Listener::open(&config, &self.channel).await?;
        let (out, rx) = mpsc::channel(256);
        tokio::spawn(forward(config, self.channel.clone(), listener, out));
        Ok(Subscription::new(rx))
    }
}

/// A connection that has executed `LISTEN`, and the notifications its driver receives.
struct Listener {
    client: tokio_postgres::Client,
    notifications: crate::connect::Notifications,
}

impl Listener {
    async fn open(config: &PgStoreConfig, channel: &str) -> PgResult<Self> {
        let what = "listen for events";
        let timeout = config.statement_timeout;
        let (client, notifications) = crate::connect::open(config, what, "events").await?;
        // The channel name is built from a validated schema name: a plain identifier.
        client
            .batch_execute(&format!("LISTEN {channel}"))
            .await
            .map_err(|e| PgError::from_db(what, e, timeout))?;
        Ok(Self {
            client,
            notifications,
        })
    }

    async fn ping(&self) -> bool {
        matches!(
            tokio::time::timeout(PING_EVERY, self.client.simple_query("")).await,
            Ok(Ok(_))
        )
    }
}

/// Forwards notifications to the subscriber until it goes away, reconnecting as needed.
async fn forward(
    config: PgStoreConfig,
    channel: String,
    mut listener: Listener,
    out: mpsc::Sender<Transport>,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let lost = tokio::select! {
            _ = out.closed() => return,
            item = listener.notifications.recv() => match item {
                Some(Ok(notification)) => {
                    match serde_json::from_str::<Event>(notification.payload()) {
                        Ok(event) => {
                            if out.send(Transport::Event(event)).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!(
                            channel = %channel, error = %e,
                            "ignoring a notification that is not a media-ha event"
                        ),
                    }
                    None
                }
                Some(Err(e)) => Some(format!("listening connection failed: {e}")),
                None => Some("listening connection closed".to_owned()),
            },
            _ = ping.tick() => {
                if listener.ping().await { None } else { Some("listening connection stopped answering".to_owned()) }
            }
        };
        let Some(reason) = lost else { continue };
        tracing::warn!(channel = %channel, %reason, "event subscription interrupted; reconnecting");
        drop(listener);
        listener = match reconnect(&config, &channel, &out).await {
            Some(l) => l,
            None => return,
        };
        if out
            .send(Transport::Interrupted {
                reason: format!("{reason}; reconnected"),
            })
            .await
            .is_err()
        {
            return;
        }
    }
}

/// Reopens the listener with exponential backoff; `None` when the subscriber went away.
async fn reconnect(
    config: &PgStoreConfig,
    channel: &str,
    out: &mpsc::Sender<Transport>,
) -> Option<Listener> {
    let mut backoff = BACKOFF_MIN;
    loop {
        tokio::select! {
            _ = out.closed() => return None,
            _ = tokio::time::sleep(backoff) => {}
        }
        match Listener::open(config, channel).await {
            Ok(listener) => return Some(listener),
            Err(e) => {
                tracing::debug!(channel = %channel, error = %e, "reconnecting the event listener failed");
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_fit_in_an_identifier() {
        assert_eq!(channel_for("public"), "media_ha_events_public");
        let long = channel_for(&"s".repeat(63));
        assert!(long.len() <= 63, "{long}");
        assert_ne!(long, channel_for(&"t".repeat(63)));
    }
}
