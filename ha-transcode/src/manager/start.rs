//! Taking a job: lease first, then capacity slots, then the fenced claim, then the run.
//!
//! The lease is acquired when it is free, or taken over ([`Take`]) from a holder whose liveness
//! record lapsed or that is draining and asked for it (`handover.rs`): a compare-and-swap on its
//! token, so of several replicas taking the same holder's job exactly one wins, and the old
//! holder is fenced from then on. A draining node takes nothing.

use std::sync::atomic::Ordering;

use ha_core::{JobClaim, KeeperConfig, Lease, LeaseKeeper};
use tracing::Instrument;

use super::events::TranscodeEvent;
use super::handover::HandOverInfo;
use super::keys::{self, JobKey};
use super::local;
use super::{store_err, Rendition, TranscodeManager, Viewer};
use super::{Result, SegmentError};
use crate::spec::HardwarePreference;

/// How the job lease is to be had.
#[derive(Debug, Clone, Copy)]
pub(super) enum Take<'a> {
    /// Nobody holds it: acquire it.
    Free,
    /// Its holder's liveness record lapsed: take it over.
    FromDead(&'a Lease),
    /// Its holder drains and asked for the job to be taken (`handover.rs`): take it over.
    FromDraining(&'a Lease),
}

impl TranscodeManager {
    pub(super) async fn start_local(
        &self,
        rendition: &Rendition,
        key: &JobKey,
        from: u32,
        takeover: bool,
        viewer: &Viewer,
        take: Take<'_>,
    ) -> Result<()> {
        let inner = &self.inner;
        let config = &inner.config;
        if !inner.accepting.load(Ordering::SeqCst) {
            return Err(SegmentError::ShuttingDown);
        }
        if inner.is_draining() {
            // Never taken here while draining: a live replica is asked to (`handover.rs`).
            return Ok(());
        }
        if inner.local.len() >= config.max_local_jobs() as usize {
            return Err(SegmentError::CapacityExhausted {
                what: format!(
                    "node {} runs {} jobs",
                    config.node_id(),
                    config.max_local_jobs()
                ),
            });
        }
        // The lease first: of several first requests for one rendition (one user's devices,
        // or a crowd), only the winner goes on to take slots; the others wait for its job.
        // Slots first would let every loser hold a per-user slot for a moment, and one user's
        // simultaneous requests for the *same* rendition would be refused as over the limit.
        let acquired = match take {
            Take::FromDead(stale) | Take::FromDraining(stale) => {
                inner
                    .leases
                    .take_over(stale, config.node_id(), config.lease_ttl())
                    .await
            }
            Take::Free => {
                inner
                    .leases
                    .try_acquire(&keys::lease(key), config.node_id(), config.lease_ttl())
                    .await
            }
        };
        let lease = match acquired.map_err(store_err)? {
            Some(lease) => lease,
            None => return Ok(()), // somebody else won the race: wait for them
        };
        match take {
            Take::FromDead(stale) => {
                inner.stats.took_over_by_liveness();
                tracing::info!(%key, dead = %stale.holder, replaced = %stale.token, token = %lease.token,
                    "owner's liveness record lapsed: job lease taken over");
            }
            Take::FromDraining(stale) => {
                tracing::info!(%key, draining = %stale.holder, replaced = %stale.token, token = %lease.token,
                    "owner drains: job lease taken over");
            }
            Take::Free => {}
        }
        let slot_ttl = config.lease_ttl() * 3;
        let mut slots = ha_core::SlotKeeper::default();
        if let Some(limit) = config.max_jobs_per_user() {
            let pool = keys::user_pool(&viewer.user_id);
            let refused = match inner
                .slots
                .try_acquire(&pool, key.as_str(), limit, slot_ttl)
                .await
            {
                Ok(Some(slot)) => {
                    slots.keep(slot, limit);
                    None
                }
                Ok(None) => Some(SegmentError::CapacityExhausted {
                    what: format!("user {} already runs {limit} transcodes", viewer.user_id),
                }),
                Err(e) => Some(store_err(e)),
            };
            if let Some(refused) = refused {
                let _ = inner.leases.release(&lease).await;
                return Err(refused);
            }
        }
        let mut hardware = HardwarePreference::Software;
        if rendition.hardware == HardwarePreference::Qsv && config.qsv_slots() > 0 {
            let pool = keys::qsv_pool(config.node_id());
            match inner
                .slots
                .try_acquire(&pool, key.as_str(), config.qsv_slots(), slot_ttl)
                .await
            {
                Ok(Some(slot)) => {
                    slots.keep(slot, config.qsv_slots());
                    hardware = HardwarePreference::Qsv;
                }
                Ok(None) => tracing::info!(%key, "QSV slots full: this job runs in software"),
                Err(e) => tracing::warn!(%key, error = %e, "QSV slot check failed: software"),
            }
        }
        let claim = JobClaim {
            key: key.to_string(),
            source: rendition.item_id.clone(),
            profile: serde_json::to_string(rendition).unwrap_or_default(),
            owner_node: config.node_id().to_owned(),
            owner_addr: config.advertise().map(str::to_owned),
            token: lease.token,
            start_segment: from,
        };
        let record = match inner.jobs.claim(&claim).await {
            Ok(record) => record,
            Err(e) => {
                let _ = inner.leases.release(&lease).await;
                slots.release_all(inner.slots.as_ref()).await;
                return Err(store_err(e));
            }
        };
        let keeper = LeaseKeeper::spawn(
            inner.leases.clone(),
            lease,
            inner.clock.clone(),
            KeeperConfig::default(),
        );
        inner.stats.started(takeover);
        let hand_over = HandOverInfo {
            rendition: rendition.clone(),
            user: viewer.user_id.clone(),
        };
        let (job, restarts) = local::new_local_job(from, inner.clock.now(), hand_over);
        inner.local.insert(key.clone(), job.clone());
        // Other requests waiting here look again, and now wait on the run's progress.
        inner.waiters.notify(key);
        tracing::info!(
            %key,
            from,
            attempts = record.attempts,
            ?hardware,
            takeover,
            "job owned"
        );
        inner
            .announcer
            .send(&TranscodeEvent::Owned {
                key: key.clone(),
                node: config.node_id().to_owned(),
                from,
                takeover,
            })
            .await;
        let owned = local::Owned {
            key: key.clone(),
            rendition: rendition.clone(),
            claim,
            keeper,
            slots,
            hardware,
            job,
            restarts,
        };
        let span = tracing::info_span!("transcode_job", key = %key, token = %owned.claim.token);
        tokio::spawn(local::drive(inner.clone(), owned).instrument(span));
        Ok(())
    }
}
