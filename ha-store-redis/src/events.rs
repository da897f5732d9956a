//! [`RedisEventBus`]: events as JSON on one pub/sub channel, with self-healing subscribers.
//!
//! # Design
//!
//! `send` is a `PUBLISH` of the JSON-encoded [`Event`] on the shared connection. Each
//! subscription owns a dedicated pub/sub connection (a connection in subscribe mode can do
//! nothing else) driven by its own task. [`subscribe`](EventBus::subscribe) returns only after
//! the server confirmed the `SUBSCRIBE`, so every event published afterwards reaches it.
//!
//! Pub/sub is fire-and-forget: whatever is published while a subscriber is disconnected is lost
//! for it. So when the connection drops (or a periodic `PING` goes unanswered, which catches
//! silent network partitions), the task emits [`Transport::Interrupted`] — the subscription
//! yields [`ha_core::BusMessage::Resync`] — and reconnects with exponential backoff (100 ms to
//! 2 s) by itself. The task ends when the subscription is dropped.
//!
//! On Redis Cluster, `PUBLISH` is broadcast to every node, so subscribing on any one node works.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use ha_core::{Event, EventBus, Result, Subscription, Transport};
use redis::aio::{PubSubSink, PubSubStream};
use tokio::sync::mpsc;

use crate::error::{RedisStoreError, StoreResult};
use crate::RedisStore;

/// How often an idle subscriber pings the server to detect a dead connection.
const PING_EVERY: Duration = Duration::from_secs(5);
/// First and longest pause between reconnect attempts.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(2));
/// Events buffered per subscription before the subscriber task waits for the consumer.
const BUFFER: usize = 1024;

/// Cluster events over Redis pub/sub. Made by [`RedisStore::events`].
#[derive(Debug, Clone)]
pub struct RedisEventBus {
    store: RedisStore,
    channel: String,
}

impl RedisEventBus {
    pub(crate) fn new(store: RedisStore) -> Self {
        let channel = store.keys().events_channel();
        Self { store, channel }
    }

    /// The pub/sub channel used.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

/// Opens a pub/sub connection and waits for the subscription to be confirmed.
async fn subscribe_once(
    client: redis::Client,
    channel: String,
    deadline: Duration,
) -> StoreResult<(PubSubSink, PubSubStream)> {
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(&channel).await?;
        Ok::<_, redis::RedisError>(pubsub.split())
    };
    match tokio::time::timeout(deadline, connect).await {
        Err(_) => Err(RedisStoreError::Timeout {
            what: "event subscribe",
            after: deadline,
        }),
        Ok(Err(e)) => Err(RedisStoreError::redis("event subscribe", e)),
        Ok(Ok(parts)) => Ok(parts),
    }
}

/// Forwards messages until the connection is lost (returns the reason) or the subscription is
/// dropped (returns `None`).
async fn pump(
    sink: &mut PubSubSink,
    stream: &mut PubSubStream,
    tx: &mpsc::Sender<Transport>,
    deadline: Duration,
) -> Option<String> {
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    ping.tick().await;
    loop {
        tokio::select! {
            _ = tx.closed() => return None,
            _ = ping.tick() => {
                // Any reply proves the connection alive. Its shape is not a string: in subscribed
                // mode Redis answers PING with `["pong", ""]`, and reading it as a string failed
                // every ping, so each subscriber reconnected (and resynced) every PING_EVERY.
                match tokio::time::timeout(deadline, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Some(format!("redis pub/sub ping failed: {e}")),
                    Err(_) => return Some("redis pub/sub ping timed out".to_owned()),
                }
            }
            msg = stream.next() => {
                let Some(msg) = msg else {
                    return Some("redis pub/sub connection closed".to_owned());
                };
                match serde_json::from_slice::<Event>(msg.get_payload_bytes()) {
                    Ok(event) => {
                        if tx.send(Transport::Event(event)).await.is_err() {
                            return None;
                        }
                    }
                    // Not ours (someone else publishing on the channel): skip it, loudly.
                    Err(e) => tracing::warn!(error = %e, "undecodable event on redis channel"),
                }
            }
        }
    }
}

async fn run(
    store: RedisStore,
    channel: String,
    deadline: Duration,
    mut conn: (PubSubSink, PubSubStream),
    tx: mpsc::Sender<Transport>,
) {
    loop {
        let Some(reason) = pump(&mut conn.0, &mut conn.1, &tx, deadline).await else {
            return;
        };
        tracing::warn!(%reason, "event subscription interrupted; reconnecting");
        if tx.send(Transport::Interrupted { reason }).await.is_err() {
            return;
        }
        let mut delay = BACKOFF.0;
        conn = loop {
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            // Asked again each time: under Sentinel the primary may have moved meanwhile.
            match subscribe_once(store.pubsub_client(), channel.clone(), deadline).await {
                Ok(parts) => break parts,
                Err(e) => {
                    tracing::debug!(error = %e, ?delay, "event resubscribe failed");
                    delay = (delay * 2).min(BACKOFF.1);
                }
            }
        };
        tracing::info!("event subscription restored");
        // A receiver that reloaded on the first Interrupted may have done so before we were
        // listening again, and missed what was published in between: tell it once more, now
        // that every later event will arrive.
        let restored = Transport::Interrupted {
            reason: "redis pub/sub subscription restored".to_owned(),
        };
        if tx.send(restored).await.is_err() {
            return;
        }
    }
}

#[async_trait]
impl EventBus for RedisEventBus {
    async fn send(&self, event: &Event) -> Result<()> {
        let json = serde_json::to_string(event).map_err(|e| ha_core::Error::encode("event", e))?;
        let mut conn = self.store.conn();
        self.store
            .call(
                "event publish",
                redis::cmd("PUBLISH")
                    .arg(&self.channel)
                    .arg(json)
                    .query_async::<i64>(&mut conn),
            )
            .await?;
        Ok(())
    }

    async fn subscribe(&self) -> Result<Subscription> {
        let deadline = self.store.config().op_timeout;
        let conn =
            subscribe_once(self.store.pubsub_client(), self.channel.clone(), deadline).await?;
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(run(
            self.store.clone(),
            self.channel.clone(),
            deadline,
            conn,
            tx,
        ));
        Ok(Subscription::new(rx))
    }
}
