//! The TranscodeManager: cluster-wide ownership of transcode jobs.
//!
//! # What it guarantees
//!
//! - **One job per rendition, cluster-wide.** Viewers asking for the same [`Rendition`] share
//!   one job (single flight on [`Rendition::job_key`], a [`JobKey`]); each keeps its own play session.
//! - **Ownership by lease.** The replica running a job holds its lease through a
//!   [`LeaseKeeper`]; segments are published through a gate that checks the lease and the job
//!   record's fencing token, and progress is recorded fenced. Losing the lease stops the worker
//!   at once, and a stale owner that wakes up cannot publish.
//! - **Any replica serves any segment.** A published segment is served directly (shared
//!   storage), or fetched from the owner's advertised address ([`TranscodeManager::locate`]
//!   with [`NodeLocalDirStorage`], which says why the address lives in the job
//!   record). A missing one is waited for when its owner is alive and near it; a far seek
//!   restarts the job there (locally, or by asking the owner over the [`EventBus`]); an orphan
//!   (owner's lease expired) is taken over and resumed at the first missing segment, which
//!   splices exactly because segments are segment-exact.
//! - **Admission.** Per-node job limit, QSV slots per node (a full GPU means software, not a
//!   refusal), per-user job limit cluster-wide; a request beyond capacity gets a typed refusal.
//! - **Poison files.** A job claimed `max_attempts` times that failed is refused for a cool-down.
//! - **Idle and cleanup.** Jobs nobody fetches from are stopped; directories of jobs no live
//!   record references are removed after a keep window — never the whole shared directory.
//! - **A dead owner is found out in about a second.** [`start`](TranscodeManager::start) keeps
//!   this node's liveness record (`ha_core::liveness`, [`ManagerConfig::liveness_ttl`]); a
//!   request for a job whose owner's record lapsed takes the job over at once with
//!   [`LeaseManager::take_over`] (fenced by the new token, as any takeover) instead of waiting
//!   for the job lease to expire.
//! - **Handover before shutdown.** [`TranscodeManager::hand_over`] (the start of a drain) asks
//!   live replicas to take each job over now, make-before-break: the draining node keeps
//!   running and serving until one does, fenced from the moment it did, and takes no job itself
//!   any more (`handover`).
//! - **Graceful shutdown.** [`TranscodeManager::shutdown`] stops accepting jobs, stops the
//!   workers and releases the leases, so survivors take over at once.
//!
//! - **Waits end when the segment lands.** A request waiting for a segment this node produces
//!   awaits the run's progress (a `watch` channel the publish gate feeds); one waiting for
//!   another replica's segment wakes on that replica's cluster event (segment ready, owner
//!   changed, tenure ended) or when the owner's lease runs out. Polling is only a slow fallback
//!   for a lost message ([`ManagerConfig::poll_interval`]).
//!
//! The ownership decision is the pure `plan` function (a table-tested module inside this
//! one); this module gathers the facts and acts on them. Replicas talk through one typed event
//! enum on the [`EventBus`] (`events`), and every store key the manager uses is built in one
//! place from the [`JobKey`] (`keys`).

mod config;
mod error;
mod events;
mod gate;
mod handover;
mod keys;
mod local;
mod node_local;
mod plan;
mod rendition;
mod resolve;
mod runner;
mod start;
mod stats;
mod storage;
mod waiters;
mod worker_runner;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ha_core::liveness::{LivenessConfig, LivenessKeeper};
use ha_core::sync::lock;
use ha_core::{EventBus, JobState, LeaseManager, SharedClock, SlotLimiter, TranscodeJobStore};
use tokio::sync::watch;
use tokio::time::Instant;

pub use config::{ConfigError, ManagerConfig, DEFAULT_SEGMENT_WAIT};
pub use error::SegmentError;
pub use keys::JobKey;
pub use node_local::{NodeLocalDirStorage, SegmentLocation};
pub use rendition::{KeyedRendition, Rendition};
pub use runner::{JobRunner, RunOutcome, RunningJob};
pub use stats::ManagerStats;
pub use storage::{SegmentStorage, SharedDirStorage, StorageScope};
pub use worker_runner::WorkerRunner;

use crate::hls::naming::INIT_FILE_NAME;
use crate::spec::SegmentContainer;
use events::Announcer;
use local::LocalJobs;
use waiters::Waiters;

/// The shared stores a manager works with.
#[derive(Debug, Clone)]
pub struct ManagerStores {
    /// Job leases.
    pub leases: Arc<dyn LeaseManager>,
    /// Job records.
    pub jobs: Arc<dyn TranscodeJobStore>,
    /// Capacity.
    pub slots: Arc<dyn SlotLimiter>,
    /// Cluster events (seek requests, viewer pings, job lifecycle, segments published).
    pub events: Arc<dyn EventBus>,
}

/// Cluster-wide transcode job ownership (see the module docs).
#[derive(Debug, Clone)]
pub struct TranscodeManager {
    inner: Arc<Inner>,
}

/// The manager's state. Fields are private to this module tree; the driving task of an owned
/// job (`local`), the event handler (`events`) and the request path (`resolve`, `start`) work
/// through the small types they hold ([`LocalJobs`], [`Waiters`], [`Announcer`]).
#[derive(Debug)]
struct Inner {
    config: ManagerConfig,
    leases: Arc<dyn LeaseManager>,
    jobs: Arc<dyn TranscodeJobStore>,
    slots: Arc<dyn SlotLimiter>,
    storage: Arc<dyn SegmentStorage>,
    runner: Arc<dyn JobRunner>,
    clock: SharedClock,
    announcer: Announcer,
    local: LocalJobs,
    waiters: Waiters,
    shutdown: watch::Sender<bool>,
    stats: stats::Stats,
    accepting: AtomicBool,
    /// Set by [`TranscodeManager::hand_over`]: this node takes no job any more (`handover`).
    draining: AtomicBool,
    /// Rate limits for cluster messages: (kind, key) → last sent.
    sent: Mutex<HashMap<(&'static str, String), Instant>>,
    /// Owners the server could not reach (node-local storage): node → when reported.
    unreachable: Mutex<HashMap<String, Instant>>,
    /// This node's liveness record, kept from [`TranscodeManager::start`] until shutdown.
    liveness: Mutex<Option<LivenessKeeper>>,
}

/// How long an owner reported unreachable is not sent requests (node-local storage): long
/// enough not to knock on a dead replica for every segment, short enough that a restarted one
/// serves its files again soon.
const UNREACHABLE_FOR: Duration = Duration::from_secs(30);

/// Segment requests answer [`SegmentError`].
type Result<T, E = SegmentError> = std::result::Result<T, E>;

fn store_err(e: ha_core::Error) -> SegmentError {
    SegmentError::Store(e)
}

impl Inner {
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
    ///
    /// # Errors
    /// A [`ConfigError`] when `config` fails [`ManagerConfig::validate`].
    pub fn new(
        config: ManagerConfig,
        stores: ManagerStores,
        storage: Arc<dyn SegmentStorage>,
        runner: Arc<dyn JobRunner>,
        clock: SharedClock,
    ) -> std::result::Result<Self, ConfigError> {
        config.validate()?;
        let announcer = Announcer::new(stores.events.clone(), config.node_id());
        let (shutdown, _) = watch::channel(false);
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                leases: stores.leases,
                jobs: stores.jobs,
                slots: stores.slots,
                storage,
                runner,
                clock,
                announcer,
                local: LocalJobs::default(),
                waiters: Waiters::default(),
                shutdown,
                stats: stats::Stats::default(),
                accepting: AtomicBool::new(true),
                draining: AtomicBool::new(false),
                sent: Mutex::new(HashMap::new()),
                unreachable: Mutex::new(HashMap::new()),
                liveness: Mutex::new(None),
            }),
        })
    }

    /// Subscribes to cluster events (seek requests and viewer pings for jobs this node owns;
    /// segments published and owners changing for requests waiting here), starts the
    /// periodic cleanup and, with [`ManagerConfig::liveness_ttl`], keeps this node's liveness
    /// record. Returns once the subscription is live and the record written (or, with the
    /// store not answering, after one liveness TTL: the keeper goes on trying).
    ///
    /// # Errors
    /// The event bus's error when subscribing fails.
    pub async fn start(&self, events: Arc<dyn EventBus>) -> ha_core::Result<()> {
        if let Some(ttl) = self.inner.config.liveness_ttl() {
            let keeper = LivenessKeeper::spawn(
                self.inner.leases.clone(),
                self.inner.config.node_id(),
                LivenessConfig::new(ttl),
            );
            // Jobs this node claims before its record exists would look orphaned to others.
            if !keeper.wait_live(ttl).await {
                tracing::warn!(
                    ?ttl,
                    "liveness record not written yet: the store is slow or down"
                );
            }
            if let Some(old) = lock(&self.inner.liveness).replace(keeper) {
                drop(old); // start called twice: the newer keeper renews the same record
            }
        }
        let mut sub = events.subscribe().await?;
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
                events::handle(&inner, msg);
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
        self.inner.config.node_id()
    }

    /// This node's counters (jobs, takeovers, segment waits) for metrics.
    pub fn stats(&self) -> ManagerStats {
        self.inner.stats.snapshot(self.local_jobs())
    }

    /// How many jobs this node runs now.
    pub fn local_jobs(&self) -> usize {
        self.inner.local.len()
    }

    /// The published path of segment `index` of `rendition` in this node's storage, producing
    /// it if needed (see the module docs for the protocol). Waits at most the configured
    /// segment wait. With node-local storage this is what serves a request another replica
    /// forwarded here: it never sends the request on.
    ///
    /// # Errors
    /// [`SegmentError::OutOfRange`], [`SegmentError::Poisoned`],
    /// [`SegmentError::CapacityExhausted`], [`SegmentError::ShuttingDown`],
    /// [`SegmentError::Timeout`], a store error; with node-local storage also
    /// [`SegmentError::NotOwner`] when another node owns the job and holds the segment.
    pub async fn segment(
        &self,
        rendition: &KeyedRendition,
        index: u32,
        viewer: &Viewer,
    ) -> Result<PathBuf> {
        let key = rendition.key();
        let location = self.resolve(rendition, key, index, viewer, false).await?;
        local_only(key.clone(), location)
    }

    /// Where segment `index` of `rendition` can be had: in this node's storage (produced here
    /// if needed, as [`segment`](Self::segment) does), or — with node-local storage — on the
    /// job's owner, whose advertised address the caller fetches it from, forwarding the
    /// request so that the owner answers it with [`segment`](Self::segment).
    ///
    /// # Errors
    /// As [`segment`](Self::segment), and [`SegmentError::OwnerUnaddressable`] when the live owner
    /// advertised no address.
    pub async fn locate(
        &self,
        rendition: &KeyedRendition,
        index: u32,
        viewer: &Viewer,
    ) -> Result<SegmentLocation> {
        self.resolve(rendition, rendition.key(), index, viewer, true)
            .await
    }

    /// The init segment (`init.mp4`) of an fMP4 `rendition` in this node's storage. It is the
    /// same for every run, so any published copy will do; when there is none yet, segment
    /// `near` (where the viewer is about to play, e.g. its start position) is produced as
    /// [`segment`](Self::segment) does — the worker publishes the init with the first segment
    /// of every run.
    ///
    /// # Errors
    /// As [`segment`](Self::segment); [`SegmentError::NoInitSegment`] for an MPEG-TS rendition.
    pub async fn init_segment(
        &self,
        rendition: &KeyedRendition,
        near: u32,
        viewer: &Viewer,
    ) -> Result<PathBuf> {
        let key = rendition.key();
        let location = self
            .resolve_init(rendition, key, near, viewer, false)
            .await?;
        local_only(key.clone(), location)
    }

    /// Where the init segment of an fMP4 `rendition` can be had: as
    /// [`init_segment`](Self::init_segment), or on the job's owner (node-local storage), as
    /// [`locate`](Self::locate) says for segments.
    ///
    /// # Errors
    /// As [`locate`](Self::locate); [`SegmentError::NoInitSegment`] for an MPEG-TS rendition.
    pub async fn locate_init(
        &self,
        rendition: &KeyedRendition,
        near: u32,
        viewer: &Viewer,
    ) -> Result<SegmentLocation> {
        self.resolve_init(rendition, rendition.key(), near, viewer, true)
            .await
    }

    async fn resolve_init(
        &self,
        rendition: &Rendition,
        key: &JobKey,
        near: u32,
        viewer: &Viewer,
        may_forward: bool,
    ) -> Result<SegmentLocation> {
        if rendition.container != SegmentContainer::Fmp4 {
            return Err(SegmentError::NoInitSegment);
        }
        let storage = &self.inner.storage;
        if let Some(path) = storage.file(key.as_str(), INIT_FILE_NAME).await {
            return Ok(SegmentLocation::Local(path));
        }
        let near = near.min(rendition.segment_count().saturating_sub(1));
        match self
            .resolve(rendition, key, near, viewer, may_forward)
            .await?
        {
            // Published before the segment, so it is there now.
            SegmentLocation::Local(segment) => storage
                .file(key.as_str(), INIT_FILE_NAME)
                .await
                .map(SegmentLocation::Local)
                .ok_or_else(|| SegmentError::InitMissing {
                    path: segment.with_file_name(INIT_FILE_NAME),
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

    /// Stops accepting jobs, stops this node's workers and releases their leases (so other
    /// replicas take over at once), waiting at most `within`.
    pub async fn shutdown(&self, within: Duration) {
        let inner = &self.inner;
        inner
            .accepting
            .store(false, std::sync::atomic::Ordering::SeqCst);
        inner.shutdown.send_replace(true);
        let deadline = inner.clock.now() + within;
        while inner.local.len() > 0 && inner.clock.now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Last: while jobs were being handed over this node was alive, and said so.
        let keeper = lock(&inner.liveness).take();
        if let Some(keeper) = keeper {
            keeper.shutdown().await;
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

    /// Stops the job this node runs for `key` (`DELETE /Videos/ActiveEncodings`): the record
    /// is marked stopped and the lease released. False when this node runs no such job.
    pub fn stop_local(&self, key: &JobKey) -> bool {
        let inner = &self.inner;
        // An idle deadline in the past stops it on the next idle tick.
        let idle_since = inner.clock.now() - inner.config.idle_timeout() * 2;
        inner.local.stop_soon(key, idle_since)
    }
}

/// A location in this node's storage, or [`SegmentError::NotOwner`].
fn local_only(key: JobKey, location: SegmentLocation) -> Result<PathBuf> {
    match location {
        SegmentLocation::Local(path) => Ok(path),
        SegmentLocation::Owner { node, .. } => Err(SegmentError::NotOwner { key, owner: node }),
    }
}

async fn cleanup(inner: &Arc<Inner>) -> Result<usize> {
    let dirs = inner.storage.jobs().await.map_err(SegmentError::Storage)?;
    let mut removed = 0;
    let now = std::time::SystemTime::now();
    for (name, modified) in dirs {
        if JobKey::parse(&name).is_some_and(|key| inner.local.contains(&key)) {
            continue;
        }
        let age = now.duration_since(modified).unwrap_or_default();
        if age < inner.config.keep_window() {
            continue;
        }
        match inner.jobs.get(&name).await {
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
        if inner.storage.remove_job(&name).await.is_ok() {
            tracing::info!(key = name, ?age, "removed segments of a finished job");
            removed += 1;
        }
    }
    Ok(removed)
}
