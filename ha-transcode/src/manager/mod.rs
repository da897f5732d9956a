//! The TranscodeManager: cluster-wide ownership of transcode jobs.
//!
//! # What it guarantees
//!
//! - **One job per rendition, cluster-wide.** Viewers asking for the same [`Rendition`] share
//!   one job (single flight on [`Rendition::job_key`]); each keeps its own play session.
//! - **Ownership by lease.** The replica running a job holds its lease through a
//!   [`LeaseKeeper`]; segments are published through a gate that checks the lease and the job
//!   record's fencing token, and progress is recorded fenced. Losing the lease stops the worker
//!   at once, and a stale owner that wakes up cannot publish.
//! - **Any replica serves any segment.** A published segment is served directly (shared
//!   storage), or fetched from the owner's advertised address ([`TranscodeManager::locate`]
//!   with [`NodeLocalDirStorage`]; see [`node_local`] for why the address lives in the job
//!   record). A missing one is waited for when its owner is alive and near it; a far seek
//!   restarts the job there (locally, or by asking the owner over the [`EventBus`]); an orphan
//!   (owner's lease expired) is taken over and resumed at the first missing segment, which
//!   splices exactly because segments are segment-exact.
//! - **Admission.** Per-node job limit, QSV slots per node (a full GPU means software, not a
//!   refusal), per-user job limit cluster-wide; a request beyond capacity gets a typed refusal.
//! - **Poison files.** A job claimed `max_attempts` times that failed is refused for a cool-down.
//! - **Idle and cleanup.** Jobs nobody fetches from are stopped; directories of jobs no live
//!   record references are removed after a keep window — never the whole shared directory.
//! - **Graceful shutdown.** [`TranscodeManager::shutdown`] stops accepting jobs, stops the
//!   workers and releases the leases, so survivors take over at once.
//!
//! The ownership decision is the pure [`plan::plan`] function; this module gathers the facts
//! and acts on them.

mod config;
mod gate;
mod local;
pub mod node_local;
pub mod plan;
mod rendition;
mod runner;
mod stats;
mod storage;
mod worker_runner;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ha_core::{
    BusMessage, EventBus, EventPublisher, JobClaim, JobState, KeeperConfig, LatencySnapshot,
    LeaseKeeper, LeaseManager, SharedClock, SlotLimiter, TranscodeJobStore,
};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

pub use config::ManagerConfig;
pub use node_local::{NodeLocalDirStorage, SegmentLocation};
pub use rendition::Rendition;
pub use runner::{JobRunner, RunOutcome, RunningJob};
pub use stats::ManagerStats;
pub use storage::{SegmentStorage, SharedDirStorage, StorageScope};
pub use worker_runner::WorkerRunner;

use crate::hls::naming::{segment_file_name_for, INIT_FILE_NAME};
use crate::worker::spec::{HardwarePreference, SegmentContainer};
use crate::{Error, Result};
use local::LocalJob;
use plan::{Action, Facts, Hold};

/// The shared stores a manager works with.
#[derive(Debug, Clone)]
pub struct ManagerStores {
    /// Job leases.
    pub leases: Arc<dyn LeaseManager>,
    /// Job records.
    pub jobs: Arc<dyn TranscodeJobStore>,
    /// Capacity.
    pub slots: Arc<dyn SlotLimiter>,
    /// Cluster events (seek requests, viewer pings, job lifecycle).
    pub events: Arc<dyn EventBus>,
}

/// Cluster-wide transcode job ownership (see the module docs).
#[derive(Debug, Clone)]
pub struct TranscodeManager {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: ManagerConfig,
    pub(crate) leases: Arc<dyn LeaseManager>,
    pub(crate) jobs: Arc<dyn TranscodeJobStore>,
    pub(crate) slots: Arc<dyn SlotLimiter>,
    pub(crate) storage: Arc<dyn SegmentStorage>,
    pub(crate) runner: Arc<dyn JobRunner>,
    pub(crate) clock: SharedClock,
    pub(crate) publisher: EventPublisher,
    pub(crate) local: Mutex<HashMap<String, Arc<LocalJob>>>,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) stats: stats::Stats,
    accepting: AtomicBool,
    /// Rate limits for cluster messages: (kind, key) → last sent.
    sent: Mutex<HashMap<(&'static str, String), Instant>>,
    /// Owners the server could not reach (node-local storage): node → when reported.
    unreachable: Mutex<HashMap<String, Instant>>,
}

/// How long an owner reported unreachable is not sent requests (node-local storage): long
/// enough not to knock on a dead replica for every segment, short enough that a restarted one
/// serves its files again soon.
const UNREACHABLE_FOR: Duration = Duration::from_secs(30);

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn lease_key(job_key: &str) -> String {
    format!("transcode:{job_key}")
}

fn store_err(e: ha_core::Error) -> Error {
    Error::Store(e)
}

impl Inner {
    pub(crate) async fn publish(&self, topic: &str, payload: serde_json::Value) {
        if let Err(e) = self.publisher.publish(topic, payload).await {
            tracing::debug!(topic, error = %e, "event not published");
        }
    }

    /// True at most once per `every` for (kind, key).
    fn should_send(&self, kind: &'static str, key: &str, every: Duration) -> bool {
        let now = self.clock.now();
        let mut sent = lock(&self.sent);
        if sent.len() > 4096 {
            sent.retain(|_, t| now.saturating_duration_since(*t) < every);
        }
        match sent.get(&(kind, key.to_owned())) {
            Some(t) if now.saturating_duration_since(*t) < every => false,
            _ => {
                sent.insert((kind, key.to_owned()), now);
                true
            }
        }
    }

    fn touch(&self, key: &str) {
        if let Some(job) = lock(&self.local).get(key) {
            job.touch(self.clock.now());
        }
    }
}

/// Who asks for a segment (for per-user limits and logs).
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// The user.
    pub user_id: String,
    /// The play session.
    pub play_session_id: Option<String>,
}

impl Viewer {
    /// Who this viewer is when viewers of one job take turns: the play session, else the user.
    pub fn id(&self) -> &str {
        self.play_session_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .unwrap_or(&self.user_id)
    }
}

impl TranscodeManager {
    /// A manager; call [`start`](Self::start) to begin listening for cluster events and to clean
    /// up orphaned segment directories.
    pub fn new(
        config: ManagerConfig,
        stores: ManagerStores,
        storage: Arc<dyn SegmentStorage>,
        runner: Arc<dyn JobRunner>,
        clock: SharedClock,
    ) -> Self {
        let publisher = EventPublisher::new(stores.events.clone(), &config.node_id);
        let (shutdown, _) = watch::channel(false);
        Self {
            inner: Arc::new(Inner {
                config,
                leases: stores.leases,
                jobs: stores.jobs,
                slots: stores.slots,
                storage,
                runner,
                clock,
                publisher,
                local: Mutex::new(HashMap::new()),
                shutdown,
                stats: stats::Stats::default(),
                accepting: AtomicBool::new(true),
                sent: Mutex::new(HashMap::new()),
                unreachable: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Subscribes to cluster events (seek requests and viewer pings for jobs this node owns) and
    /// starts the periodic cleanup. Returns once the subscription is live.
    ///
    /// # Errors
    /// The event bus's error when subscribing fails.
    pub async fn start(&self, events: Arc<dyn EventBus>) -> Result<()> {
        let mut sub = events.subscribe().await.map_err(store_err)?;
        let weak = Arc::downgrade(&self.inner);
        let mut shutdown = self.inner.shutdown.subscribe();
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    msg = sub.next() => msg,
                    _ = shutdown.changed() => return,
                };
                let (Some(msg), Some(inner)) = (msg, weak.upgrade()) else {
                    return;
                };
                if let BusMessage::Event(e) = msg {
                    handle_event(&inner, &e.topic, &e.payload);
                }
            }
        });
        let weak = Arc::downgrade(&self.inner);
        let mut shutdown = self.inner.shutdown.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.changed() => return,
                }
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = cleanup(&inner).await {
                    tracing::warn!(error = %e, "segment cleanup failed");
                }
            }
        });
        Ok(())
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.inner.config.node_id
    }

    /// This node's counters (jobs, takeovers, segment waits) for metrics.
    pub fn stats(&self) -> ManagerStats {
        self.inner.stats.snapshot(self.local_jobs())
    }

    /// How long this node's job lease renewals took ([`ManagerConfig::renew_latency`]; shared
    /// with whoever else records into that histogram).
    pub fn renew_latency(&self) -> LatencySnapshot {
        self.inner.config.renew_latency.snapshot()
    }

    /// How many jobs this node runs now.
    pub fn local_jobs(&self) -> usize {
        lock(&self.inner.local).len()
    }

    /// The published path of segment `index` of `rendition` in this node's storage, producing
    /// it if needed (see the module docs for the protocol). Waits at most the configured
    /// segment wait. With node-local storage this is what serves a request another replica
    /// forwarded here: it never sends the request on.
    ///
    /// # Errors
    /// [`Error::SegmentOutOfRange`], [`Error::Poisoned`], [`Error::CapacityExhausted`],
    /// [`Error::ShuttingDown`], [`Error::SegmentTimeout`], a store error; with node-local
    /// storage also [`Error::NotOwner`] when another node owns the job and holds the segment.
    pub async fn segment(
        &self,
        rendition: &Rendition,
        index: u32,
        viewer: &Viewer,
    ) -> Result<PathBuf> {
        match self.resolve(rendition, index, viewer, false).await? {
            SegmentLocation::Local(path) => Ok(path),
            SegmentLocation::Owner { node, .. } => Err(Error::NotOwner {
                key: rendition.job_key(),
                owner: node,
            }),
        }
    }

    /// Where segment `index` of `rendition` can be had: in this node's storage (produced here
    /// if needed, as [`segment`](Self::segment) does), or — with node-local storage — on the
    /// job's owner, whose advertised address the caller fetches it from, forwarding the
    /// request so that the owner answers it with [`segment`](Self::segment).
    ///
    /// # Errors
    /// As [`segment`](Self::segment), and [`Error::OwnerUnaddressable`] when the live owner
    /// advertised no address.
    pub async fn locate(
        &self,
        rendition: &Rendition,
        index: u32,
        viewer: &Viewer,
    ) -> Result<SegmentLocation> {
        self.resolve(rendition, index, viewer, true).await
    }

    /// The init segment (`init.mp4`) of an fMP4 `rendition` in this node's storage. It is the
    /// same for every run, so any published copy will do; when there is none yet, segment
    /// `near` (where the viewer is about to play, e.g. its start position) is produced as
    /// [`segment`](Self::segment) does — the worker publishes the init with the first segment
    /// of every run.
    ///
    /// # Errors
    /// As [`segment`](Self::segment); [`Error::InvalidJob`] for an MPEG-TS rendition.
    pub async fn init_segment(
        &self,
        rendition: &Rendition,
        near: u32,
        viewer: &Viewer,
    ) -> Result<PathBuf> {
        match self.resolve_init(rendition, near, viewer, false).await? {
            SegmentLocation::Local(path) => Ok(path),
            SegmentLocation::Owner { node, .. } => Err(Error::NotOwner {
                key: rendition.job_key(),
                owner: node,
            }),
        }
    }

    /// Where the init segment of an fMP4 `rendition` can be had: as
    /// [`init_segment`](Self::init_segment), or on the job's owner (node-local storage), as
    /// [`locate`](Self::locate) says for segments.
    ///
    /// # Errors
    /// As [`locate`](Self::locate); [`Error::InvalidJob`] for an MPEG-TS rendition.
    pub async fn locate_init(
        &self,
        rendition: &Rendition,
        near: u32,
        viewer: &Viewer,
    ) -> Result<SegmentLocation> {
        self.resolve_init(rendition, near, viewer, true).await
    }

    async fn resolve_init(
        &self,
        rendition: &Rendition,
        near: u32,
        viewer: &Viewer,
        may_forward: bool,
    ) -> Result<SegmentLocation> {
        if rendition.container != SegmentContainer::Fmp4 {
            return Err(Error::InvalidJob(
                "an MPEG-TS rendition has no init segment".into(),
            ));
        }
        let key = rendition.job_key();
        let storage = &self.inner.storage;
        if let Some(path) = storage.file(&key, INIT_FILE_NAME).await {
            return Ok(SegmentLocation::Local(path));
        }
        let near = near.min(rendition.segment_count().saturating_sub(1));
        match self.resolve(rendition, near, viewer, may_forward).await? {
            // Published before the segment, so it is there now.
            SegmentLocation::Local(segment) => storage
                .file(&key, INIT_FILE_NAME)
                .await
                .map(SegmentLocation::Local)
                .ok_or_else(|| Error::Io {
                    path: segment.with_file_name(INIT_FILE_NAME),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "segment published without its init segment",
                    ),
                }),
            owner => Ok(owner),
        }
    }

    /// The server could not reach `node` at its advertised address (connection refused,
    /// timeout). For a while, a finished job of `node` is regenerated here instead of fetched
    /// from it; a job `node` still holds the lease of is waited for, never run twice.
    pub fn owner_unreachable(&self, node: &str) {
        let now = self.inner.clock.now();
        let mut unreachable = lock(&self.inner.unreachable);
        unreachable.retain(|_, at| now.saturating_duration_since(*at) < UNREACHABLE_FOR);
        unreachable.insert(node.to_owned(), now);
        tracing::info!(
            node,
            "transcode owner unreachable: not forwarding to it for a while"
        );
    }

    fn is_unreachable(&self, node: &str) -> bool {
        let now = self.inner.clock.now();
        lock(&self.inner.unreachable)
            .get(node)
            .is_some_and(|at| now.saturating_duration_since(*at) < UNREACHABLE_FOR)
    }

    async fn resolve(
        &self,
        rendition: &Rendition,
        index: u32,
        viewer: &Viewer,
        may_forward: bool,
    ) -> Result<SegmentLocation> {
        let inner = &self.inner;
        let node_local = inner.storage.scope() == StorageScope::NodeLocal;
        let count = rendition.segment_count();
        if index >= count {
            return Err(Error::SegmentOutOfRange { index, count });
        }
        let key = rendition.job_key();
        let lease_key = lease_key(&key);
        let started = inner.clock.now();
        let deadline = started + inner.config.segment_wait;
        loop {
            let local_job = lock(&inner.local).get(&key).cloned();
            if let Some(job) = &local_job {
                job.note_request(viewer.id(), index, inner.config.reach, inner.clock.now());
            }
            let name = segment_file_name_for(rendition.container, index);
            if let Some(path) = inner.storage.file(&key, &name).await {
                self.note_viewer(&key, index, viewer).await;
                let waited = inner.clock.now().saturating_duration_since(started);
                inner
                    .stats
                    .served(waited, waited > inner.config.poll_interval);
                if waited > inner.config.poll_interval {
                    tracing::debug!(key, index, ?waited, "segment ready after waiting");
                }
                return Ok(SegmentLocation::Local(path));
            }
            let record = inner.jobs.get(&key).await.map_err(store_err)?;
            let lease = inner.leases.current(&lease_key).await.map_err(store_err)?;
            let local_run = local_job.as_ref().map(|j| j.run());
            let (run_age, others_near) = local_job.as_ref().map_or((Duration::ZERO, None), |j| {
                j.tenure(viewer.id(), inner.clock.now())
            });
            let now_ms = inner.clock.unix_millis();
            let cooldown_ms = inner.config.poison_cooldown.as_millis() as u64;
            let facts = Facts {
                index,
                record: record.as_ref(),
                holder: lease.as_ref().map(|l| l.holder.as_str()),
                me: &inner.config.node_id,
                local_run,
                reach: inner.config.reach,
                max_attempts: inner.config.max_attempts,
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
                    seek_hold: inner.config.seek_hold,
                    near_window: inner.config.near_window,
                },
            };
            let action = plan::plan(&facts);
            match action {
                Action::Wait => {}
                Action::PastEnd => return Err(Error::SegmentOutOfRange { index, count }),
                Action::FetchFromOwner | Action::NotOwner | Action::OwnerUnaddressable => {
                    let owner = record.as_ref().map(|r| (&r.owner_node, &r.owner_addr));
                    match (action, owner) {
                        (Action::FetchFromOwner, Some((node, Some(address)))) => {
                            return Ok(SegmentLocation::Owner {
                                node: node.clone(),
                                address: address.clone(),
                            })
                        }
                        (Action::NotOwner, Some((node, _))) => {
                            return Err(Error::NotOwner {
                                key,
                                owner: node.clone(),
                            })
                        }
                        (Action::OwnerUnaddressable, Some((node, _))) => {
                            return Err(Error::OwnerUnaddressable {
                                key,
                                owner: node.clone(),
                            })
                        }
                        // The planner only answers these with a record (and an address to
                        // fetch from); anything else: look again.
                        _ => {}
                    }
                }
                Action::RefusePoisoned => {
                    let attempts = record.map_or(0, |r| r.attempts);
                    return Err(Error::Poisoned { key, attempts });
                }
                Action::Start { from, takeover } => {
                    self.start_local(rendition, &key, from, takeover, viewer)
                        .await?;
                }
                Action::Restart { at } => {
                    let job = lock(&inner.local).get(&key).cloned();
                    if let Some(job) = job {
                        if inner.should_send(
                            "restart",
                            &format!("{key}/{at}"),
                            inner.config.segment_wait,
                        ) {
                            let _ = job.restart.try_send(at);
                        }
                    }
                }
                Action::AskOwner { at } => {
                    // Asked again while waiting: the owner may hold its run for a while.
                    let every = (inner.config.seek_hold.min(inner.config.segment_wait) / 4)
                        .max(inner.config.poll_interval);
                    if inner.should_send("seek", &format!("{key}/{at}"), every) {
                        inner
                            .publish(
                                "transcode.seek",
                                serde_json::json!({
                                    "key": key, "segment": at, "viewer": viewer.id()
                                }),
                            )
                            .await;
                    }
                }
            }
            self.note_viewer(&key, index, viewer).await;
            if inner.clock.now() >= deadline {
                return Err(Error::SegmentTimeout {
                    index,
                    after: inner.config.segment_wait,
                });
            }
            tokio::time::sleep(inner.config.poll_interval).await;
        }
    }

    /// Keeps the job alive wherever it runs: touches a local job, and tells a remote owner (at
    /// most a few times per idle timeout, and per near window for each viewer) that somebody
    /// still watches, and where (so the owner knows who uses its run: [`Hold`]).
    async fn note_viewer(&self, key: &str, index: u32, viewer: &Viewer) {
        let inner = &self.inner;
        inner.touch(key);
        let every = (inner.config.idle_timeout / 4).min(inner.config.near_window / 2);
        if !lock(&inner.local).contains_key(key)
            && inner.should_send("ping", &format!("{key}/{}", viewer.id()), every)
        {
            inner
                .publish(
                    "transcode.ping",
                    serde_json::json!({ "key": key, "segment": index, "viewer": viewer.id() }),
                )
                .await;
        }
    }

    async fn start_local(
        &self,
        rendition: &Rendition,
        key: &str,
        from: u32,
        takeover: bool,
        viewer: &Viewer,
    ) -> Result<()> {
        let inner = &self.inner;
        let config = &inner.config;
        if !inner.accepting.load(Ordering::SeqCst) {
            return Err(Error::ShuttingDown);
        }
        if lock(&inner.local).len() >= config.max_local_jobs as usize {
            return Err(Error::CapacityExhausted {
                what: format!(
                    "node {} runs {} jobs",
                    config.node_id, config.max_local_jobs
                ),
            });
        }
        // The lease first: of several first requests for one rendition (one user's devices,
        // or a crowd), only the winner goes on to take slots; the others wait for its job.
        // Slots first would let every loser hold a per-user slot for a moment, and one user's
        // simultaneous requests for the *same* rendition would be refused as over the limit.
        let lease = match inner
            .leases
            .try_acquire(&lease_key(key), &config.node_id, config.lease_ttl)
            .await
            .map_err(store_err)?
        {
            Some(lease) => lease,
            None => return Ok(()), // somebody else won the race: wait for them
        };
        let slot_ttl = config.lease_ttl * 3;
        let mut slots = ha_core::SlotKeeper::default();
        if let Some(limit) = config.max_jobs_per_user {
            let pool = format!("user:{}", viewer.user_id);
            let refused = match inner.slots.try_acquire(&pool, key, limit, slot_ttl).await {
                Ok(Some(slot)) => {
                    slots.keep(slot, limit);
                    None
                }
                Ok(None) => Some(Error::CapacityExhausted {
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
        if rendition.hardware == HardwarePreference::Qsv && config.qsv_slots > 0 {
            let pool = format!("qsv:{}", config.node_id);
            match inner
                .slots
                .try_acquire(&pool, key, config.qsv_slots, slot_ttl)
                .await
            {
                Ok(Some(slot)) => {
                    slots.keep(slot, config.qsv_slots);
                    hardware = HardwarePreference::Qsv;
                }
                Ok(None) => tracing::info!(key, "QSV slots full: this job runs in software"),
                Err(e) => tracing::warn!(key, error = %e, "QSV slot check failed: software"),
            }
        }
        let claim = JobClaim {
            key: key.to_owned(),
            source: rendition.item_id.clone(),
            profile: serde_json::to_string(rendition).unwrap_or_default(),
            owner_node: config.node_id.clone(),
            owner_addr: config.advertise.clone(),
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
        let keeper = LeaseKeeper::spawn_with_latency(
            inner.leases.clone(),
            lease,
            inner.clock.clone(),
            KeeperConfig::default(),
            inner.config.renew_latency.clone(),
        );
        inner.stats.started(takeover);
        let (job, restarts) = local::new_local_job(from, inner.clock.now());
        lock(&inner.local).insert(key.to_owned(), job.clone());
        let topic = if takeover {
            "transcode.taken_over"
        } else {
            "transcode.started"
        };
        tracing::info!(
            key,
            from,
            attempts = record.attempts,
            ?hardware,
            topic,
            "job owned"
        );
        inner
            .publish(
                topic,
                serde_json::json!({ "key": key, "node": config.node_id, "from": from }),
            )
            .await;
        let owned = local::Owned {
            key: key.to_owned(),
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

    /// Stops accepting jobs, stops this node's workers and releases their leases (so other
    /// replicas take over at once), waiting at most `within`.
    pub async fn shutdown(&self, within: Duration) {
        let inner = &self.inner;
        inner.accepting.store(false, Ordering::SeqCst);
        inner.shutdown.send_replace(true);
        let deadline = inner.clock.now() + within;
        while !lock(&inner.local).is_empty() && inner.clock.now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Removes segment directories of jobs no live record references and older than the keep
    /// window. Run at start-up and every minute by [`start`](Self::start).
    ///
    /// # Errors
    /// Storage listing errors.
    pub async fn cleanup(&self) -> Result<usize> {
        cleanup(&self.inner).await
    }

    /// Stops every job this node runs for `key`'s viewers (`DELETE /Videos/ActiveEncodings`):
    /// the record is marked stopped and the lease released.
    pub fn stop_local(&self, key: &str) -> bool {
        let job = lock(&self.inner.local).get(key).cloned();
        match job {
            Some(job) => {
                // An idle deadline in the past stops it on the next idle tick.
                *lock(&job.last_fetch) =
                    self.inner.clock.now() - self.inner.config.idle_timeout * 2;
                true
            }
            None => false,
        }
    }
}

fn handle_event(inner: &Arc<Inner>, topic: &str, payload: &serde_json::Value) {
    let Some(key) = payload.get("key").and_then(|k| k.as_str()) else {
        return;
    };
    let job = lock(&inner.local).get(key).cloned();
    let Some(job) = job else { return };
    let now = inner.clock.now();
    let segment = payload
        .get("segment")
        .and_then(|s| s.as_u64())
        .and_then(|s| u32::try_from(s).ok());
    let viewer = payload.get("viewer").and_then(|v| v.as_str()).unwrap_or("");
    match topic {
        "transcode.ping" => {
            job.touch(now);
            if let Some(index) = segment {
                job.note_request(viewer, index, inner.config.reach, now);
            }
        }
        "transcode.seek" => {
            if let Some(at) = segment {
                let run = job.run();
                if at < run.start || at > run.next.saturating_add(inner.config.reach) {
                    job.touch(now);
                    let (run_age, others_near) = job.tenure(viewer, now);
                    let hold = Hold {
                        run_age,
                        others_near,
                        seek_hold: inner.config.seek_hold,
                        near_window: inner.config.near_window,
                    };
                    // Held: the asking replica asks again while its viewer waits.
                    if hold.allows_move() {
                        let _ = job.restart.try_send(at);
                    }
                }
            }
        }
        _ => {}
    }
}

async fn cleanup(inner: &Arc<Inner>) -> Result<usize> {
    let dirs = inner.storage.jobs().await.map_err(|source| Error::Io {
        path: PathBuf::from("segment storage"),
        source,
    })?;
    let mut removed = 0;
    let now = std::time::SystemTime::now();
    for (key, modified) in dirs {
        if lock(&inner.local).contains_key(&key) {
            continue;
        }
        let age = now.duration_since(modified).unwrap_or_default();
        if age < inner.config.keep_window {
            continue;
        }
        match inner.jobs.get(&key).await {
            Ok(Some(record))
                if record.state == JobState::Running || record.state == JobState::Completed =>
            {
                continue
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "job store unavailable: cleanup skipped");
                return Ok(removed);
            }
        }
        if inner.storage.remove_job(&key).await.is_ok() {
            tracing::info!(key, ?age, "removed segments of a finished job");
            removed += 1;
        }
    }
    Ok(removed)
}
