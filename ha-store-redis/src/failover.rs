//! Following a Sentinel failover as it is announced, not when the old primary finally refuses.
//!
//! # Why listen to `+switch-master`
//!
//! After a failover the sentinels promote a replica at once, but they turn the old primary into
//! a replica only when they next reconfigure it: measured here, about 10 s later
//! (`tests/sentinel.rs` prints it). Until then the old primary still accepts writes, and a
//! client still connected to it, having seen no error, keeps writing there; those writes are
//! thrown away when it resyncs from the new primary. Each sentinel publishes `+switch-master
//! <service> <old ip> <old port> <new ip> <new port>` the moment it adopts the new primary, so
//! the store subscribes to that channel on one sentinel and asks the sentinels for the primary
//! again on every announcement. The `READONLY`/connection-error path stays as the fallback (a
//! missed announcement, a partitioned sentinel).
//!
//! The task holds only a weak handle: it ends once the last clone of the store is dropped
//! (checked at least every [`CHECK_EVERY`]).

use std::time::Duration;

use futures::StreamExt;

use crate::store::WeakStore;

/// How often an idle watcher checks that its store is still in use.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// Pause before subscribing again after losing the sentinel.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Subscribes to `+switch-master` on a sentinel and follows each announcement; reconnects to
/// a sentinel (the first that answers) when the subscription breaks.
pub(crate) async fn watch_switch_master(weak: WeakStore) {
    loop {
        let Some(store) = weak.upgrade() else {
            return;
        };
        let client = store.sentinel_client().await;
        drop(store);
        let subscribed = match client {
            None => return,
            Some(Ok(client)) => match client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe("+switch-master").await {
                    Ok(()) => Some(pubsub),
                    Err(e) => {
                        tracing::debug!(error = %e, "subscribing to +switch-master failed");
                        None
                    }
                },
                Err(e) => {
                    tracing::debug!(error = %e, "no pub/sub connection to a sentinel");
                    None
                }
            },
            Some(Err(e)) => {
                tracing::debug!(error = %e, "no sentinel for +switch-master");
                None
            }
        };
        if let Some(mut pubsub) = subscribed {
            let mut messages = pubsub.on_message();
            loop {
                match tokio::time::timeout(CHECK_EVERY, messages.next()).await {
                    Ok(Some(msg)) => {
                        let Some(store) = weak.upgrade() else {
                            return;
                        };
                        let text: String = msg.get_payload().unwrap_or_default();
                        tracing::info!(announcement = %text, "sentinel +switch-master");
                        store.follow_primary();
                    }
                    Ok(None) => break,
                    Err(_) => {
                        if weak.upgrade().is_none() {
                            return;
                        }
                    }
                }
            }
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}
