//! Per-replica liveness records: which replicas are alive, to within about a second.
//!
//! # Why a record of its own
//!
//! A job lease's TTL must outlast a slow store round trip, a busy machine and a short store
//! failover, so it is seconds long (5 s by default), and a replica that dies without a word
//! (SIGKILL, a kernel panic, a pulled cable) leaves its jobs orphaned for that long: viewers
//! stall. Renewing every job lease several times a second would cost a round trip per job per
//! tick. Instead each replica keeps *one* short record (1 s TTL, renewed four times per TTL)
//! in the store that holds the leases, and a replica that needs a job whose holder's record
//! is gone takes the job over at once with [`LeaseManager::take_over`].
//!
//! # Why this is still safe
//!
//! The record only says who to *suspect*. Safety rests on fencing tokens as before: a take-over
//! issues a larger token, and everything the old holder does afterwards (renew, release, a
//! fenced job write, a segment publish checked against the record's token) is refused. So a
//! false suspicion — a replica that was only paused (SIGSTOP, a long GC-like stall) or whose
//! store connection froze for longer than the liveness TTL — costs that replica its jobs, which
//! restart elsewhere at a segment boundary; it never causes a double write.
//!
//! # How
//!
//! The record is a lease on [`liveness_key`]`(node)` held by `node`, kept by a
//! [`LivenessKeeper`]: it needs no contract of its own, lives in whichever store holds the
//! leases (in-process, Redis, PostgreSQL), and expires on that store's clock. Every store call
//! is bounded by the TTL, so a frozen connection lets the record lapse instead of keeping a
//! stale one. [`LivenessKeeper::shutdown`] releases the record, so a replica leaving on
//! purpose is seen gone at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};

use crate::{Error, Lease, LeaseManager, Result};

/// The lease key of `node`'s liveness record.
pub fn liveness_key(node: &str) -> String {
    format!("liveness:{node}")
}

/// Whether `node`'s liveness record is live on the store's clock.
///
/// # Errors
/// The store's error when it cannot answer (then nobody knows: do not take anything over).
pub async fn is_alive(leases: &dyn LeaseManager, node: &str) -> Result<bool> {
    Ok(leases.current(&liveness_key(node)).await?.is_some())
}

/// How a [`LivenessKeeper`] paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LivenessConfig {
    /// How long the record lives without a renewal: the time in which a dead replica is found
    /// out (plus one look by whoever needs its jobs).
    pub ttl: Duration,
    /// How often it is renewed (a quarter of the TTL: three renewals may fail before it lapses).
    pub renew_every: Duration,
}

impl LivenessConfig {
    /// A record of `ttl`, renewed four times per TTL.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            renew_every: ttl / 4,
        }
    }
}

impl Default for LivenessConfig {
    /// 1 s, renewed every 250 ms.
    fn default() -> Self {
        Self::new(Duration::from_secs(1))
    }
}

/// Keeps this replica's liveness record alive on its own task. Dropping it stops renewals
/// (the record then lapses within its TTL, as if the process died);
/// [`shutdown`](Self::shutdown) releases it.
#[derive(Debug)]
pub struct LivenessKeeper {
    node: String,
    live: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl LivenessKeeper {
    /// Starts keeping `node`'s record in `leases`.
    pub fn spawn(leases: Arc<dyn LeaseManager>, node: &str, config: LivenessConfig) -> Self {
        let (live_tx, live) = watch::channel(false);
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(leases, node.to_owned(), config, live_tx, stop_rx));
        Self {
            node: node.to_owned(),
            live,
            stop: Some(stop),
            task,
        }
    }

    /// The node whose record this is.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether the last store answer said the record is this keeper's and live.
    pub fn is_live(&self) -> bool {
        *self.live.borrow()
    }

    /// Resolves once the record has been written (at once if it is), or after `within`.
    /// Returns whether it is live.
    pub async fn wait_live(&self, within: Duration) -> bool {
        let mut live = self.live.clone();
        let live = timeout(within, live.wait_for(|l| *l)).await;
        matches!(live, Ok(Ok(_)))
    }

    /// Stops renewing and releases the record, so other replicas see this one gone at once.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for LivenessKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    leases: Arc<dyn LeaseManager>,
    node: String,
    config: LivenessConfig,
    live: watch::Sender<bool>,
    mut stop: oneshot::Receiver<()>,
) {
    let key = liveness_key(&node);
    let every = config.renew_every.max(Duration::from_millis(1));
    let mut held: Option<Lease> = None;
    loop {
        let step = async {
            match &held {
                Some(lease) => match leases.renew(lease).await {
                    Ok(renewed) => Ok(Some(renewed)),
                    // Lapsed (a pause longer than the TTL, a store that lost its data):
                    // write it afresh at once.
                    Err(Error::LeaseLost { .. }) => {
                        acquire(leases.as_ref(), &key, &node, config.ttl).await
                    }
                    Err(e) => Err(e),
                },
                None => acquire(leases.as_ref(), &key, &node, config.ttl).await,
            }
        };
        // Bounded by the TTL: a frozen store connection must let the record lapse, never
        // leave this loop waiting while others think the replica alive.
        let outcome = tokio::select! {
            _ = &mut stop => break,
            outcome = timeout(config.ttl, step) => outcome,
        };
        match outcome {
            Ok(Ok(Some(lease))) => {
                held = Some(lease);
                live.send_replace(true);
            }
            // Held by somebody else under this node's name (a second process started with the
            // same node id): nothing to do but try again.
            Ok(Ok(None)) => {
                held = None;
                live.send_replace(false);
            }
            Ok(Err(e)) => {
                tracing::debug!(node = %node, error = %e, "liveness renewal failed");
                if held
                    .as_ref()
                    .is_some_and(|l| l.is_expired(tokio::time::Instant::now()))
                {
                    held = None;
                    live.send_replace(false);
                }
            }
            Err(_elapsed) => {
                tracing::warn!(node = %node, ttl = ?config.ttl, "liveness renewal unanswered within the TTL");
                held = None;
                live.send_replace(false);
            }
        }
        tokio::select! {
            _ = &mut stop => break,
            () = sleep(every) => {}
        }
    }
    if let Some(lease) = held {
        let _ = timeout(config.ttl, leases.release(&lease)).await;
    }
    live.send_replace(false);
}

/// Writes the record, or adopts it when this node already holds it (a renewal that timed out
/// here but reached the store, a restart with the same node id): the record says the node is
/// alive, whichever of its tenures wrote it.
async fn acquire(
    leases: &dyn LeaseManager,
    key: &str,
    node: &str,
    ttl: Duration,
) -> Result<Option<Lease>> {
    if let Some(lease) = leases.try_acquire(key, node, ttl).await? {
        return Ok(Some(lease));
    }
    Ok(leases
        .current(key)
        .await?
        .filter(|l| l.holder == node)
        .map(|l| Lease { ttl, ..l }))
}
