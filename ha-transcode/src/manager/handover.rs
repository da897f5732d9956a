//! The drain handover: a replica leaving the cluster hands its jobs to live replicas *before*
//! it stops, make-before-break.
//!
//! # Why not release at shutdown
//!
//! A replica that is told to stop (SIGTERM) keeps serving for a drain window while load
//! balancers take it out of rotation. If it kept its jobs until the window ended and only then
//! released them, every job would move at the worst moment: when traffic has already moved,
//! with viewers stalled until a new worker produces its first segment (measured 10–13.6 s
//! after SIGTERM, stalls up to 4.9 s; issue 16). Handing over at the *start* of the window puts
//! the new owners to work while the draining replica still answers, so by the time traffic
//! moves the segments are being made elsewhere.
//!
//! # How
//!
//! 1. [`TranscodeManager::hand_over`] marks the node draining: from then on it never takes a
//!    job (no fresh start, no takeover of an orphan, no adoption), while its running jobs keep
//!    producing and its requests keep being answered.
//! 2. For every job it runs it announces [`TranscodeEvent::HandOver`] (the rendition, where
//!    its run is, the user the job counts against), again every [`REPEAT`] until it runs none
//!    (a lost message, or a peer that was full, costs one repeat).
//! 3. A live, non-draining replica that receives it takes the job lease over from the draining
//!    holder ([`LeaseManager::take_over`](ha_core::LeaseManager::take_over): a compare-and-swap
//!    on its token, so of several replicas exactly one wins), claims the record with the new
//!    token and starts at the first segment the shared storage does not have. No viewer request
//!    is needed for this.
//! 4. The draining replica's run is fenced from that moment (its publishes carry the old
//!    token); it stops it as soon as the new owner's [`TranscodeEvent::Owned`] arrives (or at
//!    its next lease renewal, which fails), without releasing what is no longer its lease.
//! 5. Requests still reaching the draining replica are served as on any replica: published
//!    segments from storage, the others waited for (shared storage) or fetched from the new
//!    owner (node-local storage). A request for a job nobody runs asks a live replica to adopt
//!    it (the same event) instead of starting it here.
//!
//! With no live peer nothing is taken: the jobs keep running here for the drain window and are
//! released at [`shutdown`](TranscodeManager::shutdown), as before. The event carries the
//! rendition because the job may be new (a viewer that reached the draining replica first);
//! the receiver checks that the rendition hashes to the key it came with. Like every
//! transcode event it travels on the cluster's own bus: whoever can write there can already
//! write leases and job records.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::events::TranscodeEvent;
use super::keys::{self, JobKey};
use super::start::Take;
use super::{Inner, Rendition, StorageScope, TranscodeManager, Viewer};
use crate::hls::naming::segment_file_name_for;

/// How often a draining node announces the jobs it still runs.
pub(crate) const REPEAT: Duration = Duration::from_secs(1);

/// What a job's owner keeps so that it can hand the job over: the rendition and the user the
/// job counts against (per-user limits).
#[derive(Debug, Clone)]
pub(crate) struct HandOverInfo {
    pub(crate) rendition: Rendition,
    pub(crate) user: String,
}

impl TranscodeManager {
    /// Starts the drain handover (see the module docs): this node takes no job from now on,
    /// and live replicas are asked to take over each job it runs, while it keeps running and
    /// serving them until they do. Returns at once; idempotent. Call
    /// [`shutdown`](Self::shutdown) when the drain is over.
    pub fn hand_over(&self) {
        let inner = &self.inner;
        if inner.draining.swap(true, Ordering::SeqCst) {
            return;
        }
        tracing::info!(
            jobs = inner.local.len(),
            "draining: asking live replicas to take this node's jobs over"
        );
        let weak = Arc::downgrade(inner);
        let mut shutdown = inner.shutdown.subscribe();
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let jobs = inner.local.snapshot();
                if jobs.is_empty() {
                    tracing::info!("draining: every job handed over");
                    return;
                }
                for (key, job) in jobs {
                    let info = job.hand_over_info();
                    announce(&inner, key, job.run().next, &info.rendition, &info.user).await;
                }
                drop(inner);
                tokio::select! {
                    _ = tokio::time::sleep(REPEAT) => {}
                    _ = shutdown.changed() => return,
                }
            }
        });
    }

    /// True once [`hand_over`](Self::hand_over) was called.
    pub fn is_draining(&self) -> bool {
        self.inner.is_draining()
    }

    /// A request on a draining node found a job nobody runs: ask a live replica to take it
    /// (at most once per [`REPEAT`] per job), instead of starting it here.
    pub(super) async fn ask_to_adopt(
        &self,
        rendition: &Rendition,
        key: &JobKey,
        from: u32,
        viewer: &Viewer,
    ) {
        let inner = &self.inner;
        if inner.should_send("handover", key.as_str(), REPEAT) {
            announce(inner, key.clone(), from, rendition, &viewer.user_id).await;
        }
    }
}

impl Inner {
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

async fn announce(inner: &Inner, key: JobKey, from: u32, rendition: &Rendition, user: &str) {
    inner
        .announcer
        .send(&TranscodeEvent::HandOver {
            key,
            node: inner.config.node_id().to_owned(),
            from,
            user: user.to_owned(),
            rendition: Box::new(rendition.clone()),
        })
        .await;
}

/// What a [`TranscodeEvent::HandOver`] says.
#[derive(Debug)]
pub(crate) struct HandOver {
    pub(crate) key: JobKey,
    pub(crate) node: String,
    pub(crate) from: u32,
    pub(crate) user: String,
    pub(crate) rendition: Rendition,
}

/// Takes the job `ho` offers, if this node may (see the module docs, step 3). Failures are
/// logged: the draining node asks again.
pub(crate) async fn adopt(inner: Arc<Inner>, ho: HandOver) {
    let me = inner.config.node_id();
    if ho.node == me
        || inner.is_draining()
        || !inner.accepting.load(Ordering::SeqCst)
        || inner.local.contains(&ho.key)
    {
        return;
    }
    if ho.rendition.job_key() != ho.key {
        tracing::warn!(key = %ho.key, from = %ho.node, "handover of a rendition that is not the job's: ignored");
        return;
    }
    let lease = match inner.leases.current(&keys::lease(&ho.key)).await {
        Ok(lease) => lease,
        Err(e) => {
            tracing::debug!(key = %ho.key, error = %e, "handover: lease unreadable; not taken");
            return;
        }
    };
    let take = match &lease {
        None => Take::Free,
        Some(l) if l.holder == ho.node => Take::FromDraining(l),
        // Somebody else took it (another replica won, or the job moved on): nothing to do.
        Some(_) => return,
    };
    let from = first_missing(&inner, &ho.rendition, &ho.key, ho.from).await;
    if from >= ho.rendition.segment_count() {
        return;
    }
    let viewer = Viewer {
        user_id: ho.user,
        play_session_id: None,
    };
    let manager = TranscodeManager {
        inner: inner.clone(),
    };
    match manager
        .start_local(&ho.rendition, &ho.key, from, true, &viewer, take)
        .await
    {
        Ok(()) if inner.local.contains(&ho.key) => {
            tracing::info!(key = %ho.key, from, draining = %ho.node, "job taken over from a draining replica");
        }
        Ok(()) => {}
        Err(e) => {
            tracing::info!(key = %ho.key, draining = %ho.node, error = %e, "handover not taken")
        }
    }
}

/// The first segment from `from` on that this node's storage does not hold (shared storage
/// holds what the draining owner published; node-local storage holds none of it).
async fn first_missing(inner: &Inner, rendition: &Rendition, key: &JobKey, from: u32) -> u32 {
    let mut at = from;
    if inner.storage.scope() != StorageScope::Shared {
        return at;
    }
    while at < rendition.segment_count()
        && inner
            .storage
            .file(
                key.as_str(),
                &segment_file_name_for(rendition.container, at),
            )
            .await
            .is_some()
    {
        at += 1;
    }
    at
}
