//! Keeps one lease alive on its own task and says at once when it is lost.
//!
//! # Why a keeper
//!
//! Renewing inline (between transcode segments, say) ties the lease to the work's pace: one slow
//! segment and the lease is gone while the worker carries on. The keeper renews on a timer of
//! its own (a fraction of the TTL, `MissedTickBehavior::Skip` semantics: a late tick is not
//! followed by a burst), retries transient store errors, and declares the lease lost *before* the
//! local deadline minus a safety margin: since the local deadline is computed from when the
//! request was sent, the store's copy cannot have expired earlier, so a holder that stops on
//! this signal never overlaps with the next one.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout_at};

use crate::{telemetry, Error, FencingToken, Lease, LeaseManager, SharedClock};

/// How a [`LeaseKeeper`] paces itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeeperConfig {
    /// Renew after this fraction of the TTL (default 1/3: two renewals can fail before loss).
    pub renew_fraction: f64,
    /// Declare loss when less than this fraction of the TTL is left (default 1/10).
    pub safety_fraction: f64,
    /// Wait this long between retries after a transient error (capped by the renew interval).
    pub retry_backoff: Duration,
}

impl Default for KeeperConfig {
    fn default() -> Self {
        Self {
            renew_fraction: 1.0 / 3.0,
            safety_fraction: 0.1,
            retry_backoff: Duration::from_millis(200),
        }
    }
}

/// What a keeper knows about its lease.
#[derive(Debug, Clone, PartialEq)]
pub enum KeeperStatus {
    /// Held; the latest renewal.
    Held(Lease),
    /// Lost: expired, taken over, or renewals failed until the safety deadline.
    Lost {
        /// Why.
        reason: String,
    },
    /// Given back by [`LeaseKeeper::shutdown`].
    Released,
}

/// A running keeper. Dropping it stops renewals (the lease then runs out on its own);
/// [`shutdown`](Self::shutdown) also releases it so another replica can take over at once.
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use ha_core::{memory::MemoryLeaseManager, KeeperConfig, LeaseKeeper, LeaseManager, SystemClock};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ha_core::Result<()> {
/// let leases = Arc::new(MemoryLeaseManager::new());
/// let lease = leases.try_acquire("scan", "node-a", Duration::from_secs(3)).await?.unwrap();
/// let keeper = LeaseKeeper::spawn(leases.clone(), lease, SystemClock::shared(), KeeperConfig::default());
/// assert!(keeper.is_held());
/// keeper.shutdown().await;
/// assert!(leases.current("scan").await?.is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct LeaseKeeper {
    key: String,
    token: FencingToken,
    status: watch::Receiver<KeeperStatus>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl LeaseKeeper {
    /// Starts keeping `lease` alive.
    ///
    /// Every renewal the store answers (success or error) is timed on `clock` from sending it
    /// to the answer and recorded as [`telemetry::LEASE_RENEW_SECONDS`]; a lost tenure counts
    /// in [`telemetry::LEASES_LOST_TOTAL`] (both through the `metrics` facade: free when no
    /// recorder is installed).
    pub fn spawn(
        manager: Arc<dyn LeaseManager>,
        lease: Lease,
        clock: SharedClock,
        config: KeeperConfig,
    ) -> Self {
        let (status_tx, status) = watch::channel(KeeperStatus::Held(lease.clone()));
        let (stop, stop_rx) = oneshot::channel();
        let key = lease.key.clone();
        let token = lease.token;
        let task = tokio::spawn(run(manager, lease, clock, config, status_tx, stop_rx));
        Self {
            key,
            token,
            status,
            stop: Some(stop),
            task,
        }
    }

    /// The key kept.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The fencing token of the kept tenure (it never changes while held).
    pub fn token(&self) -> FencingToken {
        self.token
    }

    /// The latest renewal, while held.
    pub fn lease(&self) -> Option<Lease> {
        match &*self.status.borrow() {
            KeeperStatus::Held(lease) => Some(lease.clone()),
            _ => None,
        }
    }

    /// Still held?
    pub fn is_held(&self) -> bool {
        matches!(&*self.status.borrow(), KeeperStatus::Held(_))
    }

    /// A receiver of status changes (to `select!` on next to work).
    pub fn status(&self) -> watch::Receiver<KeeperStatus> {
        self.status.clone()
    }

    /// Resolves once the lease is no longer held, with the final status.
    pub async fn lost(&self) -> KeeperStatus {
        let mut rx = self.status.clone();
        let result = rx
            .wait_for(|s| !matches!(s, KeeperStatus::Held(_)))
            .await
            .map(|s| s.clone());
        result.unwrap_or(KeeperStatus::Lost {
            reason: "keeper task ended".into(),
        })
    }

    /// Stops renewing and releases the lease (if still held). Returns the final status.
    pub async fn shutdown(mut self) -> KeeperStatus {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        let status = self.status.borrow().clone();
        status
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    manager: Arc<dyn LeaseManager>,
    mut lease: Lease,
    clock: SharedClock,
    config: KeeperConfig,
    status: watch::Sender<KeeperStatus>,
    mut stop: oneshot::Receiver<()>,
) {
    let interval = lease.ttl.mul_f64(config.renew_fraction.clamp(0.01, 0.9));
    let margin = lease.ttl.mul_f64(config.safety_fraction.clamp(0.0, 0.5));
    let backoff = config.retry_backoff.min(interval);
    let mut next_attempt = clock.now() + interval;

    loop {
        let safe_deadline = lease
            .expires_at
            .checked_sub(margin)
            .unwrap_or(lease.expires_at);
        tokio::select! {
            _ = &mut stop => {
                let released = manager.release(&lease).await;
                tracing::debug!(key = %lease.key, ?released, "lease keeper released");
                status.send_replace(KeeperStatus::Released);
                return;
            }
            _ = sleep_until(safe_deadline) => {
                lose(&status, &lease, "renewals did not succeed before the safety deadline");
                return;
            }
            _ = sleep_until(next_attempt) => {}
        }

        let sent = clock.now();
        let outcome = tokio::select! {
            _ = &mut stop => {
                let _ = manager.release(&lease).await;
                status.send_replace(KeeperStatus::Released);
                return;
            }
            outcome = timeout_at(safe_deadline, manager.renew(&lease)) => outcome,
        };
        if outcome.is_ok() {
            // Answered (success or error): how long the store took, on the injected clock.
            metrics::histogram!(telemetry::LEASE_RENEW_SECONDS)
                .record(clock.now().saturating_duration_since(sent));
        }
        match outcome {
            Ok(Ok(renewed)) => {
                next_attempt = clock.now() + interval;
                lease = renewed;
                status.send_replace(KeeperStatus::Held(lease.clone()));
            }
            Ok(Err(err)) if err.is_transient() => {
                tracing::warn!(key = %lease.key, error = %err, "lease renewal failed; retrying");
                next_attempt = clock.now() + backoff;
            }
            Ok(Err(err @ (Error::LeaseLost { .. } | Error::Fenced { .. }))) => {
                lose(&status, &lease, &err.to_string());
                return;
            }
            Ok(Err(err)) => {
                tracing::warn!(key = %lease.key, error = %err, "lease renewal failed; retrying");
                next_attempt = clock.now() + backoff;
            }
            Err(_elapsed) => {
                lose(
                    &status,
                    &lease,
                    "renewal still pending at the safety deadline",
                );
                return;
            }
        }
    }
}

fn lose(status: &watch::Sender<KeeperStatus>, lease: &Lease, reason: &str) {
    tracing::warn!(key = %lease.key, token = %lease.token, reason, "lease lost");
    metrics::counter!(telemetry::LEASES_LOST_TOTAL).increment(1);
    status.send_replace(KeeperStatus::Lost {
        reason: reason.to_owned(),
    });
}
