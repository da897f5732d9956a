//! Cluster-wide gauges that sum correctly over replicas: one replica reports, the others 0.
//!
//! # Why a reporter lease
//!
//! The live session count is a fact of the shared store, not of a replica. Had every replica
//! reported it, `sum(media_ha_cluster_sessions)` over pods would count each session once per
//! replica, and every scrape of every replica would read the whole session table. Instead the
//! holder of the [`REPORTER_LEASE`] counts once per `--cluster-gauge-interval`
//! (`SessionStore::count`: `count(*)` on PostgreSQL) and the others report 0, so a sum (or a
//! max) over replicas is the cluster's figure and the store is read once per interval whatever
//! the number of replicas and scrapers.
//!
//! When the reporter dies its series vanish with its scrape target; another replica takes the
//! lease when it lapses and reports at its next tick, so the sum is missing for at most the
//! lease TTL plus one interval. `media_ha_cluster_gauges_reporter` (1 on the reporter) tells
//! which replica it is.

use std::time::Duration;

use media_ha::core::{KeeperConfig, LeaseKeeper, SystemClock};
use tokio::sync::watch;

use crate::state::AppState;

/// Gauge: live sessions in the cluster, on the reporting replica; 0 on the others.
pub const CLUSTER_SESSIONS: &str = "media_ha_cluster_sessions";
/// Gauge: 1 on the replica that reports the cluster-wide gauges, 0 on the others.
pub const REPORTER: &str = "media_ha_cluster_gauges_reporter";
/// The lease whose holder reports.
pub const REPORTER_LEASE: &str = "metrics-reporter";

/// Registers units and help texts.
pub fn describe() {
    metrics::describe_gauge!(
        CLUSTER_SESSIONS,
        "Live client sessions in the cluster, reported by one replica (0 on the others): sum over replicas."
    );
    metrics::describe_gauge!(
        REPORTER,
        "1 on the replica that reports the cluster-wide gauges, 0 on the others."
    );
}

/// Reports the cluster-wide gauges whenever this replica holds the reporter lease, until
/// `stop`; releases the lease on the way out.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = state.config.cluster_gauge_interval;
    // Long enough that a replica paused by a slow scrape keeps its turn, short enough that a
    // dead reporter is replaced within a few intervals.
    let ttl = (every * 2).clamp(Duration::from_secs(2), Duration::from_secs(600));
    let mut keeper: Option<LeaseKeeper> = None;
    loop {
        if !keeper.as_ref().is_some_and(LeaseKeeper::is_held) {
            keeper = acquire(&state, ttl).await;
        }
        if keeper.is_some() {
            metrics::gauge!(REPORTER).set(1.0);
            match state.stores.sessions.count().await {
                Ok(n) => metrics::gauge!(CLUSTER_SESSIONS).set(n as f64),
                // The last figure stays: a store outage shows in media_ha_store_up, and a gap
                // here would read as "everybody signed out".
                Err(err) => tracing::debug!(error = %err, "cannot count the cluster's sessions"),
            }
        } else {
            metrics::gauge!(REPORTER).set(0.0);
            metrics::gauge!(CLUSTER_SESSIONS).set(0.0);
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
    }
    if let Some(keeper) = keeper {
        keeper.shutdown().await;
    }
    metrics::gauge!(REPORTER).set(0.0);
    metrics::gauge!(CLUSTER_SESSIONS).set(0.0);
}

async fn acquire(state: &AppState, ttl: Duration) -> Option<LeaseKeeper> {
    let leases = &state.stores.leases;
    match leases
        .try_acquire(REPORTER_LEASE, &state.config.node_id, ttl)
        .await
    {
        Ok(Some(lease)) => {
            tracing::debug!(token = %lease.token, "reporting the cluster-wide gauges");
            Some(LeaseKeeper::spawn(
                leases.clone(),
                lease,
                SystemClock::shared(),
                KeeperConfig::default(),
            ))
        }
        Ok(None) => None,
        Err(err) => {
            tracing::debug!(error = %err, "cannot ask for the metrics reporter lease");
            None
        }
    }
}
