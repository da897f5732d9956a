//! A job this node owns: its lease keeper, its current run, and the task that drives both.
//!
//! One task per owned job selects over: the run ending, the lease being lost, a restart request
//! (a viewer seeked far ahead), the idle timer, slot renewals, the job being adopted by a live
//! replica while this one drains (`handover.rs`) and shutdown. Whatever ends the task, it
//! cleans up the same way: cancel the run, give back slots, release the lease (unless it was
//! lost or handed over), drop the job from the local table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ha_core::sync::lock;
use ha_core::{JobClaim, JobState, KeeperStatus, LeaseKeeper, SlotChange, SlotKeeper};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

use super::events::{JobEnd, TranscodeEvent};
use super::gate::FencedGate;
use super::handover::HandOverInfo;
use super::keys::JobKey;
use super::plan::LocalRun;
use super::runner::RunOutcome;
use super::{Inner, Rendition};
use crate::spec::{HardwarePreference, JobSpec};

/// What the manager keeps about an owned job.
#[derive(Debug)]
pub(crate) struct LocalJob {
    run_start: AtomicU32,
    /// The next segment the current run publishes. Every publish and every new run sends on
    /// it, so a request waiting here for a segment wakes when the segment lands.
    progress: watch::Sender<u32>,
    last_fetch: Mutex<Instant>,
    restart: mpsc::Sender<u32>,
    /// When the current run started (a restart starts a new one).
    run_started: Mutex<Instant>,
    /// Viewers that asked for a segment within the current run's reach, and when last.
    users: Mutex<HashMap<String, Instant>>,
    /// What a draining node tells the replica that takes the job over.
    hand_over: HandOverInfo,
    /// Set when a live replica took the job over from this draining node.
    handed_off: Notify,
}

impl LocalJob {
    pub(crate) fn run(&self) -> LocalRun {
        LocalRun {
            start: self.run_start.load(Ordering::SeqCst),
            next: *self.progress.borrow(),
        }
    }

    /// Changes whenever the run publishes a segment or a new run starts.
    pub(crate) fn progress(&self) -> watch::Receiver<u32> {
        self.progress.subscribe()
    }

    /// The run published segment `index`.
    pub(crate) fn published(&self, index: u32) {
        self.progress
            .send_modify(|next| *next = (*next).max(index.saturating_add(1)));
    }

    pub(crate) fn touch(&self, now: Instant) {
        *lock(&self.last_fetch) = now;
    }

    fn last_fetch(&self) -> Instant {
        *lock(&self.last_fetch)
    }

    /// What a replica taking the job over needs to know.
    pub(crate) fn hand_over_info(&self) -> &HandOverInfo {
        &self.hand_over
    }

    /// A live replica owns the job now (this node drains): the driving task stops the run
    /// without releasing the lease, which is no longer this node's.
    pub(crate) fn hand_off(&self) {
        self.handed_off.notify_one();
    }

    /// Asks the driving task to restart the run at `at` (dropped when restarts queue up).
    pub(crate) fn request_restart(&self, at: u32) {
        let _ = self.restart.try_send(at);
    }

    /// A new run from `start`: nobody uses it yet.
    fn new_run(&self, start: u32, now: Instant) {
        self.run_start.store(start, Ordering::SeqCst);
        self.progress.send_replace(start);
        *lock(&self.run_started) = now;
        lock(&self.users).clear();
    }

    /// `viewer` asked for `index` at `now`: it uses the run if the index is within its reach.
    pub(crate) fn note_request(&self, viewer: &str, index: u32, reach: u32, now: Instant) {
        let run = self.run();
        if index < run.start || index > run.next.saturating_add(reach) {
            return;
        }
        let mut users = lock(&self.users);
        if users.len() >= 256 {
            // Bounded: the stalest entries are the least interesting.
            users.retain(|_, at| now.saturating_duration_since(*at) < Duration::from_secs(60));
        }
        users.insert(viewer.to_owned(), now);
    }

    /// The current run's age and how recently a viewer other than `viewer` used it.
    pub(crate) fn tenure(&self, viewer: &str, now: Instant) -> (Duration, Option<Duration>) {
        let age = now.saturating_duration_since(*lock(&self.run_started));
        let others = lock(&self.users)
            .iter()
            .filter(|(who, _)| who.as_str() != viewer)
            .map(|(_, at)| now.saturating_duration_since(*at))
            .min();
        (age, others)
    }
}

/// The jobs this node owns, by key.
#[derive(Debug, Default)]
pub(crate) struct LocalJobs {
    jobs: Mutex<HashMap<JobKey, Arc<LocalJob>>>,
}

impl LocalJobs {
    pub(crate) fn get(&self, key: &JobKey) -> Option<Arc<LocalJob>> {
        lock(&self.jobs).get(key).cloned()
    }

    pub(crate) fn contains(&self, key: &JobKey) -> bool {
        lock(&self.jobs).contains_key(key)
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.jobs).len()
    }

    /// Every job, as it is now.
    pub(crate) fn snapshot(&self) -> Vec<(JobKey, Arc<LocalJob>)> {
        lock(&self.jobs)
            .iter()
            .map(|(k, j)| (k.clone(), j.clone()))
            .collect()
    }

    pub(crate) fn insert(&self, key: JobKey, job: Arc<LocalJob>) {
        lock(&self.jobs).insert(key, job);
    }

    /// Removes `key` if it is still `job` (a newer tenure of the key may be registered).
    fn remove_if(&self, key: &JobKey, job: &Arc<LocalJob>) {
        let mut jobs = lock(&self.jobs);
        if jobs.get(key).is_some_and(|j| Arc::ptr_eq(j, job)) {
            jobs.remove(key);
        }
    }

    /// Makes `key`'s job idle at once: it stops on its next idle tick.
    pub(crate) fn stop_soon(&self, key: &JobKey, idle_since: Instant) -> bool {
        match self.get(key) {
            Some(job) => {
                job.touch(idle_since);
                true
            }
            None => false,
        }
    }
}

/// Everything the driving task owns.
pub(crate) struct Owned {
    pub(crate) key: JobKey,
    pub(crate) rendition: Rendition,
    pub(crate) claim: JobClaim,
    pub(crate) keeper: LeaseKeeper,
    pub(crate) slots: SlotKeeper,
    pub(crate) hardware: HardwarePreference,
    pub(crate) job: Arc<LocalJob>,
    pub(crate) restarts: mpsc::Receiver<u32>,
}

/// Why a job failed: kept typed until it is logged and stored as the record's failure text.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("cannot prepare the segment directory")]
    Prepare(#[source] std::io::Error),
    #[error("cannot start the worker")]
    Start(#[source] crate::worker::WorkerError),
    #[error(transparent)]
    Run(crate::worker::WorkerError),
    #[error("cannot restart at segment {at}")]
    Restart {
        at: u32,
        #[source]
        source: ha_core::Error,
    },
}

#[derive(Debug)]
enum End {
    Completed,
    Failed(Failure),
    Idle,
    LeaseLost,
    /// A live replica took the job over from this draining node (`handover.rs`).
    HandedOff,
    /// The publish gate refused a segment because this tenure is over (the record was taken
    /// over, or vanished with the store's data): not the job's fault, so not a failure.
    TenureOver(ha_core::Error),
    Shutdown,
}

/// How a run that ended with `e` ends the job.
fn failure_end(e: crate::worker::WorkerError) -> End {
    match e {
        crate::worker::WorkerError::Vetoed {
            source:
                source @ (ha_core::Error::LeaseLost { .. }
                | ha_core::Error::Fenced { .. }
                | ha_core::Error::NotFound(_)),
            ..
        } => End::TenureOver(source),
        e => End::Failed(Failure::Run(e)),
    }
}

pub(crate) async fn drive(inner: Arc<Inner>, mut owned: Owned) {
    let key = owned.key.clone();
    let config = &inner.config;
    let mut shutdown = inner.shutdown.subscribe();
    let mut lease_status = owned.keeper.status();
    let mut start = owned.claim.start_segment;
    let slot_every = config.lease_ttl() / 3;
    let mut slot_tick = tokio::time::interval(slot_every);
    slot_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut idle_tick =
        tokio::time::interval(Duration::from_millis(500).min(config.idle_timeout()));
    idle_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    // Each run's temp files carry the token and this counter (`hls::naming`): a run of this
    // tenure never writes a file another run (an old owner's, an earlier seek's) still writes.
    let mut run = 0u32;
    let end = 'runs: loop {
        run += 1;
        owned.job.new_run(start, inner.clock.now());
        let gate = Arc::new(FencedGate {
            key: key.clone(),
            token: owned.claim.token,
            jobs: inner.jobs.clone(),
            lease: owned.keeper.status(),
            job: owned.job.clone(),
            announcer: inner.announcer.clone(),
        });
        let dir = match inner.storage.prepare_job_dir(key.as_str()).await {
            Ok(dir) => dir,
            Err(e) => break End::Failed(Failure::Prepare(e)),
        };
        let spec = JobSpec {
            run_tag: Some(format!("{}-{run}", owned.claim.token.0)),
            ..owned.rendition.spec(dir, start, owned.hardware)
        };
        let mut running = match inner.runner.start(spec, gate).await {
            Ok(r) => r,
            Err(e) => break End::Failed(Failure::Start(e)),
        };
        tracing::info!(start, "run started");
        loop {
            tokio::select! {
                outcome = running.wait() => match outcome {
                    RunOutcome::Completed => break 'runs End::Completed,
                    RunOutcome::Failed(e) => break 'runs failure_end(e),
                    RunOutcome::Cancelled => break 'runs End::Shutdown,
                },
                _ = lease_status.changed() => {
                    if !matches!(&*lease_status.borrow(), KeeperStatus::Held(_)) {
                        running.cancel();
                        let _ = running.wait().await;
                        break 'runs End::LeaseLost;
                    }
                }
                Some(at) = owned.restarts.recv() => {
                    running.cancel();
                    let _ = running.wait().await;
                    let reclaim = JobClaim { start_segment: at, ..owned.claim.clone() };
                    match inner.jobs.claim(&reclaim).await {
                        Ok(_) => {
                            tracing::info!(at, "run restarted for a seek");
                            start = at;
                            continue 'runs;
                        }
                        Err(source) => break 'runs End::Failed(Failure::Restart { at, source }),
                    }
                }
                _ = idle_tick.tick() => {
                    let last = owned.job.last_fetch();
                    if inner.clock.now().saturating_duration_since(last) > config.idle_timeout() {
                        running.cancel();
                        let _ = running.wait().await;
                        break 'runs End::Idle;
                    }
                }
                _ = slot_tick.tick(), if !owned.slots.is_empty() => {
                    for change in owned.slots.tick(inner.slots.as_ref()).await {
                        log_slot_change(&change);
                    }
                }
                () = owned.job.handed_off.notified() => {
                    running.cancel();
                    let _ = running.wait().await;
                    break 'runs End::HandedOff;
                }
                _ = shutdown.changed() => {
                    running.cancel();
                    let _ = running.wait().await;
                    break 'runs End::Shutdown;
                }
            }
        }
    };

    let token = owned.claim.token;
    let failure = match &end {
        End::Failed(failure) => Some(ha_core::error_chain(failure)),
        _ => None,
    };
    let (state, how) = match &end {
        End::Completed => (Some(JobState::Completed), JobEnd::Completed),
        End::Failed(_) => (Some(JobState::Failed), JobEnd::Failed),
        End::Idle => (Some(JobState::Stopped), JobEnd::Stopped),
        // Lost: somebody else owns the record now. Shutdown: leave it Running so a survivor
        // resumes it at once.
        End::LeaseLost | End::TenureOver(_) => (None, JobEnd::LeaseLost),
        End::Shutdown | End::HandedOff => (None, JobEnd::HandedOver),
    };
    if let Some(state) = state {
        if let Err(e) = inner
            .jobs
            .set_state(key.as_str(), token, state, failure.as_deref())
            .await
        {
            tracing::warn!(error = %e, %state, "could not record the job's end");
        }
    }
    match &end {
        End::Failed(_) => {
            inner.stats.failed();
            tracing::warn!(
                reason = failure.as_deref().unwrap_or_default(),
                "job failed"
            )
        }
        End::TenureOver(reason) => tracing::warn!(
            %reason,
            "job record taken over or lost (did the store lose its data?): run stopped; the \
             next segment request resumes it at the first missing segment"
        ),
        _ => tracing::info!(?how, "job ended"),
    }
    owned.slots.release_all(inner.slots.as_ref()).await;
    // Only this tenure's entry: a newer run of the key may already be registered.
    inner.local.remove_if(&key, &owned.job);
    // Not after a handoff either: the lease is the new owner's (releasing would be refused).
    if !matches!(end, End::LeaseLost | End::HandedOff) {
        owned.keeper.shutdown().await;
    }
    // Requests waiting here look again now (the lease is free, or somebody else's).
    inner.waiters.notify(&key);
    inner
        .announcer
        .send(&TranscodeEvent::Ended {
            key,
            node: config.node_id().to_owned(),
            how,
            failure,
        })
        .await;
}

/// Logs a slot's change of health: once per change, not on every renewal tick.
fn log_slot_change(change: &SlotChange) {
    match change {
        SlotChange::Failing { pool, error } => {
            tracing::warn!(
                pool,
                error,
                "slot renewal failing; retrying quietly every tick"
            )
        }
        SlotChange::Recovered { pool } => tracing::info!(pool, "slot renewals work again"),
        SlotChange::Reacquired { pool } => tracing::warn!(
            pool,
            "slot was gone from the store (expired while unreachable, or the store lost its \
             data): taken again"
        ),
        SlotChange::OverLimit { pool } => tracing::warn!(
            pool,
            "slot was gone from the store and the pool is full now: this job runs on without \
             a slot until it ends (retrying quietly); new jobs are limited again at once"
        ),
    }
}

pub(crate) fn new_local_job(
    start: u32,
    now: Instant,
    hand_over: HandOverInfo,
) -> (Arc<LocalJob>, mpsc::Receiver<u32>) {
    let (restart, restarts) = mpsc::channel(4);
    (
        Arc::new(LocalJob {
            run_start: AtomicU32::new(start),
            progress: watch::channel(start).0,
            last_fetch: Mutex::new(now),
            restart,
            run_started: Mutex::new(now),
            users: Mutex::new(HashMap::new()),
            hand_over,
            handed_off: Notify::new(),
        }),
        restarts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vetoed(source: ha_core::Error) -> crate::worker::WorkerError {
        crate::worker::WorkerError::Vetoed { index: 3, source }
    }

    #[test]
    fn a_veto_for_a_lost_tenure_is_not_a_job_failure() {
        let lost = [
            ha_core::Error::NotFound("job record k".into()),
            ha_core::Error::LeaseLost { key: "k".into() },
            ha_core::Error::Fenced {
                key: "k".into(),
                presented: ha_core::FencingToken(1),
                current: ha_core::FencingToken(2),
            },
        ];
        for source in lost {
            assert!(
                matches!(failure_end(vetoed(source)), End::TenureOver(_)),
                "a lost tenure"
            );
        }
        let store_down = vetoed(ha_core::Error::Timeout {
            what: "get job".into(),
            after: Duration::from_secs(2),
        });
        assert!(matches!(failure_end(store_down), End::Failed(_)));
        let crashed = crate::worker::WorkerError::WorkerStalled {
            after: Duration::from_secs(1),
        };
        assert!(matches!(failure_end(crashed), End::Failed(_)));
    }
}
