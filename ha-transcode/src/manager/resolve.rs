//! The request path: find a segment, or act on the plan and wait until something changes.
//!
//! # How a wait ends
//!
//! A waiting request does not poll storage on a timer. It sleeps until one of:
//! - this node's run of the job moves (its publish gate feeds a `watch` channel: a segment
//!   was published, or a new run started);
//! - a cluster event about the job arrives ([`Waiters`](super::waiters::Waiters)): another
//!   replica published a segment, owns the job now, or ended its tenure;
//! - the remote owner's lease runs out (its local deadline, read with the lease), so an orphan
//!   is taken over as soon as it is one;
//! - the remote owner's liveness record runs out (read the same way): an owner that stopped
//!   renewing it is dead or cut off, and its job is taken over without waiting for the lease
//!   ([`LeaseManager::take_over`](ha_core::LeaseManager::take_over), fenced as any takeover);
//! - the fallback poll ([`ManagerConfig::poll_interval`](super::ManagerConfig::poll_interval))
//!   fires, for a message the bus lost;
//! - the segment wait is over.
//!
//! Then it looks again: storage first, then the record and the lease, then [`plan`].

use std::time::Duration;

use ha_core::liveness::liveness_key;
use ha_core::Lease;
use tokio::sync::watch;

use super::events::TranscodeEvent;
use super::keys::{self, JobKey};
use super::node_local::SegmentLocation;
use super::plan::{self, Action, Facts, Hold};
use super::start::Take;
use super::{store_err, Rendition, StorageScope, TranscodeManager, Viewer};
use super::{Result, SegmentError};
use crate::hls::naming::segment_file_name_for;

/// Woken at a remote owner's lease deadline: this much later, so the store has expired it.
const EXPIRY_SLACK: Duration = Duration::from_millis(20);
/// The shortest sleep before looking again, so a lease read just before its deadline cannot
/// turn the wait into a busy loop of store reads.
const MIN_SLEEP: Duration = Duration::from_millis(10);

impl TranscodeManager {
    pub(super) async fn resolve(
        &self,
        rendition: &Rendition,
        key: &JobKey,
        index: u32,
        viewer: &Viewer,
        may_forward: bool,
    ) -> Result<SegmentLocation> {
        let inner = &self.inner;
        let config = &inner.config;
        let node_local = inner.storage.scope() == StorageScope::NodeLocal;
        let count = rendition.segment_count();
        if index >= count {
            return Err(SegmentError::OutOfRange { index, count });
        }
        let lease_key = keys::lease(key);
        let name = segment_file_name_for(rendition.container, index);
        let started = inner.clock.now();
        let deadline = started + config.segment_wait();
        // Subscribed before the first look: nothing announced in between is missed.
        let mut cluster = inner.waiters.subscribe(key);
        let mut waited = false;
        loop {
            let local_job = inner.local.get(key);
            // Likewise subscribed before looking at storage.
            let mut progress = local_job.as_ref().map(|j| j.progress());
            if let Some(job) = &local_job {
                job.note_request(viewer.id(), index, config.reach(), inner.clock.now());
            }
            if let Some(path) = inner.storage.file(key.as_str(), &name).await {
                self.note_viewer(key, index, viewer).await;
                let took = inner.clock.now().saturating_duration_since(started);
                inner.stats.served(took, waited);
                if waited {
                    tracing::debug!(%key, index, ?took, "segment ready after waiting");
                }
                return Ok(SegmentLocation::Local(path));
            }
            let record = inner.jobs.get(key.as_str()).await.map_err(store_err)?;
            let lease = inner.leases.current(&lease_key).await.map_err(store_err)?;
            let (lease, suspect) = self.suspect(lease).await;
            let (run_age, others_near) = local_job.as_ref().map_or((Duration::ZERO, None), |j| {
                j.tenure(viewer.id(), inner.clock.now())
            });
            let now_ms = inner.clock.unix_millis();
            let cooldown_ms = config.poison_cooldown().as_millis() as u64;
            let facts = Facts {
                index,
                record: record.as_ref(),
                holder: lease.as_ref().map(|l| l.holder.as_str()),
                me: config.node_id(),
                local_run: local_job.as_ref().map(|j| j.run()),
                reach: config.reach(),
                max_attempts: config.max_attempts(),
                in_cooldown: record
                    .as_ref()
                    .is_some_and(|r| now_ms.saturating_sub(r.updated_ms) < cooldown_ms),
                node_local,
                holder_token: lease.as_ref().map(|l| l.token),
                owner_unreachable: record
                    .as_ref()
                    .is_some_and(|r| self.is_unreachable(&r.owner_node)),
                may_forward,
                hold: Hold {
                    run_age,
                    others_near,
                    seek_hold: config.seek_hold(),
                    near_window: config.near_window(),
                },
            };
            match plan::plan(&facts) {
                Action::Wait => {}
                Action::PastEnd => return Err(SegmentError::OutOfRange { index, count }),
                Action::FetchFromOwner { node, address } => {
                    return Ok(SegmentLocation::Owner { node, address })
                }
                Action::NotOwner { node } => {
                    return Err(SegmentError::NotOwner {
                        key: key.clone(),
                        owner: node,
                    })
                }
                Action::OwnerUnaddressable { node } => {
                    return Err(SegmentError::OwnerUnaddressable {
                        key: key.clone(),
                        owner: node,
                    })
                }
                Action::RefusePoisoned { attempts } => {
                    return Err(SegmentError::Poisoned {
                        key: key.clone(),
                        attempts,
                    })
                }
                Action::Start { from, .. } if inner.is_draining() => {
                    // Never taken here while draining: a live replica is asked to, and this
                    // request waits for it (`handover.rs`).
                    self.ask_to_adopt(rendition, key, from, viewer).await;
                }
                Action::Start { from, takeover } => {
                    let take = suspect
                        .as_ref()
                        .and_then(Suspect::dead)
                        .map_or(Take::Free, Take::FromDead);
                    self.start_local(rendition, key, from, takeover, viewer, take)
                        .await?;
                    if local_job.is_none() && inner.local.contains(key) {
                        // Started here: look again, now subscribed to the new run's progress.
                        continue;
                    }
                }
                Action::Restart { at } => {
                    if let Some(job) = &local_job {
                        if inner.should_send(
                            "restart",
                            &format!("{key}/{at}"),
                            config.segment_wait(),
                        ) {
                            job.request_restart(at);
                        }
                    }
                }
                Action::AskOwner { at } => {
                    // Asked again while waiting: the owner may hold its run for a while.
                    let every = (config.seek_hold().min(config.segment_wait()) / 4)
                        .max(config.poll_interval());
                    if inner.should_send("seek", &format!("{key}/{at}"), every) {
                        inner
                            .announcer
                            .send(&TranscodeEvent::Seek {
                                key: key.clone(),
                                segment: at,
                                viewer: viewer.id().to_owned(),
                            })
                            .await;
                    }
                }
            }
            self.note_viewer(key, index, viewer).await;
            let now = inner.clock.now();
            if now >= deadline {
                return Err(SegmentError::Timeout {
                    index,
                    after: config.segment_wait(),
                });
            }
            waited = true;
            let mut sleep = config.poll_interval().min(deadline - now);
            if let Some(lease) = lease.filter(|l| l.holder != config.node_id()) {
                let expiry = lease.remaining(tokio::time::Instant::now()) + EXPIRY_SLACK;
                sleep = sleep.min(expiry.max(MIN_SLEEP));
            }
            if let Some(Suspect::Alive(record)) = &suspect {
                let expiry = record.remaining(tokio::time::Instant::now()) + EXPIRY_SLACK;
                sleep = sleep.min(expiry.max(MIN_SLEEP));
            }
            tokio::select! {
                _ = progressed(progress.as_mut()) => {}
                _ = cluster.changed() => {}
                _ = tokio::time::sleep(sleep) => {}
            }
        }
    }

    /// With liveness records on, looks at the liveness record of `lease`'s holder when that is
    /// another node. A holder without a live record is dead (or cut off from the store, or
    /// paused): its lease is handed back as [`Suspect::Dead`] and treated as gone, so the plan
    /// takes the job over. A store error counts as alive: nobody knows, so nothing is taken.
    async fn suspect(&self, lease: Option<Lease>) -> (Option<Lease>, Option<Suspect>) {
        let inner = &self.inner;
        let me = inner.config.node_id();
        let Some(held) = lease.as_ref().filter(|l| l.holder != me) else {
            return (lease, None);
        };
        if inner.config.liveness_ttl().is_none() {
            return (lease, None);
        }
        match inner.leases.current(&liveness_key(&held.holder)).await {
            Ok(Some(record)) => (lease, Some(Suspect::Alive(record))),
            Ok(None) => (None, lease.map(Suspect::Dead)),
            Err(e) => {
                tracing::debug!(holder = %held.holder, error = %e, "liveness unknown: assumed alive");
                (lease, None)
            }
        }
    }

    /// Keeps the job alive wherever it runs: touches a local job, and tells a remote owner (at
    /// most a few times per idle timeout, and per near window for each viewer) that somebody
    /// still watches, and where (so the owner knows who uses its run: [`Hold`]).
    async fn note_viewer(&self, key: &JobKey, index: u32, viewer: &Viewer) {
        let inner = &self.inner;
        let config = &inner.config;
        if let Some(job) = inner.local.get(key) {
            job.touch(inner.clock.now());
            return;
        }
        let every = (config.idle_timeout() / 4).min(config.near_window() / 2);
        if inner.should_send("ping", &format!("{key}/{}", viewer.id()), every) {
            inner
                .announcer
                .send(&TranscodeEvent::Ping {
                    key: key.clone(),
                    segment: index,
                    viewer: viewer.id().to_owned(),
                })
                .await;
        }
    }
}

/// What a remote holder's liveness record said.
#[derive(Debug)]
enum Suspect {
    /// Its record, live: a wait ends by its deadline at the latest.
    Alive(Lease),
    /// No live record: the holder's job lease, to take over.
    Dead(Lease),
}

impl Suspect {
    fn dead(&self) -> Option<&Lease> {
        match self {
            Suspect::Dead(lease) => Some(lease),
            Suspect::Alive(_) => None,
        }
    }
}

/// Resolves when this node's run of the job moves; never, without a run (or once it ended:
/// the end is announced to the waiters as well).
async fn progressed(progress: Option<&mut watch::Receiver<u32>>) {
    if let Some(rx) = progress {
        if rx.changed().await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}
