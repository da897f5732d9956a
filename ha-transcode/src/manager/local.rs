//! A job this node owns: its lease keeper, its current run, and the task that drives both.
//!
//! One task per owned job selects over: the run ending, the lease being lost, a restart request
//! (a viewer seeked far ahead), the idle timer, slot renewals and shutdown. Whatever ends the
//! task, it cleans up the same way: cancel the run, give back slots, release the lease (unless
//! it was lost), drop the job from the local table.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ha_core::{JobClaim, JobState, KeeperStatus, LeaseKeeper, SlotChange, SlotKeeper};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::gate::FencedGate;
use super::plan::LocalRun;
use super::runner::RunOutcome;
use super::{Inner, Rendition};
use crate::worker::spec::HardwarePreference;

/// What the manager keeps about an owned job.
#[derive(Debug)]
pub(crate) struct LocalJob {
    pub(crate) run_start: AtomicU32,
    pub(crate) next: Arc<AtomicU32>,
    pub(crate) last_fetch: Mutex<Instant>,
    pub(crate) restart: mpsc::Sender<u32>,
    /// When the current run started (a restart starts a new one).
    run_started: Mutex<Instant>,
    /// Viewers that asked for a segment within the current run's reach, and when last.
    users: Mutex<HashMap<String, Instant>>,
}

impl LocalJob {
    pub(crate) fn run(&self) -> LocalRun {
        LocalRun {
            start: self.run_start.load(Ordering::SeqCst),
            next: self.next.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn touch(&self, now: Instant) {
        *super::lock(&self.last_fetch) = now;
    }

    /// A new run from `start`: nobody uses it yet.
    fn new_run(&self, start: u32, now: Instant) {
        self.run_start.store(start, Ordering::SeqCst);
        self.next.store(start, Ordering::SeqCst);
        *super::lock(&self.run_started) = now;
        super::lock(&self.users).clear();
    }

    /// `viewer` asked for `index` at `now`: it uses the run if the index is within its reach.
    pub(crate) fn note_request(&self, viewer: &str, index: u32, reach: u32, now: Instant) {
        let run = self.run();
        if index < run.start || index > run.next.saturating_add(reach) {
            return;
        }
        let mut users = super::lock(&self.users);
        if users.len() >= 256 {
            // Bounded: the stalest entries are the least interesting.
            users.retain(|_, at| now.saturating_duration_since(*at) < Duration::from_secs(60));
        }
        users.insert(viewer.to_owned(), now);
    }

    /// The current run's age and how recently a viewer other than `viewer` used it.
    pub(crate) fn tenure(&self, viewer: &str, now: Instant) -> (Duration, Option<Duration>) {
        let age = now.saturating_duration_since(*super::lock(&self.run_started));
        let others = super::lock(&self.users)
            .iter()
            .filter(|(who, _)| who.as_str() != viewer)
            .map(|(_, at)| now.saturating_duration_since(*at))
            .min();
        (age, others)
    }
}

/// Everything the driving task owns.
pub(crate) struct Owned {
    pub(crate) key: String,
    pub(crate) rendition: Rendition,
    pub(crate) claim: JobClaim,
    pub(crate) keeper: LeaseKeeper,
    pub(crate) slots: SlotKeeper,
    pub(crate) hardware: HardwarePreference,
    pub(crate) job: Arc<LocalJob>,
    pub(crate) restarts: mpsc::Receiver<u32>,
}

#[derive(Debug, PartialEq)]
enum End {
    Completed,
    Failed(String),
    Idle,
    LeaseLost,
    /// The publish gate refused a segment because this tenure is over (the record was taken
    /// over, or vanished with the store's data): not the job's fault, so not a failure.
    TenureOver(String),
    Shutdown,
}

/// How a run that ended with `e` ends the job.
fn failure_end(e: &crate::Error) -> End {
    match e {
        crate::Error::Vetoed {
            source:
                source @ (ha_core::Error::LeaseLost { .. }
                | ha_core::Error::Fenced { .. }
                | ha_core::Error::NotFound(_)),
            ..
        } => End::TenureOver(source.to_string()),
        _ => End::Failed(error_chain(e)),
    }
}

pub(crate) async fn drive(inner: Arc<Inner>, mut owned: Owned) {
    let key = owned.key.clone();
    let mut shutdown = inner.shutdown.subscribe();
    let mut lease_status = owned.keeper.status();
    let mut start = owned.claim.start_segment;
    let slot_every = inner.config.lease_ttl / 3;
    let mut slot_tick = tokio::time::interval(slot_every);
    slot_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut idle_tick =
        tokio::time::interval(Duration::from_millis(500).min(inner.config.idle_timeout));
    idle_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);

    let end = 'runs: loop {
        owned.job.new_run(start, inner.clock.now());
        let gate = Arc::new(FencedGate {
            key: key.clone(),
            token: owned.claim.token,
            jobs: inner.jobs.clone(),
            lease: owned.keeper.status(),
            next: owned.job.next.clone(),
        });
        let dir = match inner.storage.prepare_job_dir(&key).await {
            Ok(dir) => dir,
            Err(e) => break End::Failed(format!("cannot prepare segment directory: {e}")),
        };
        let spec = owned.rendition.spec(dir, start, owned.hardware);
        let mut running = match inner.runner.start(spec, gate).await {
            Ok(r) => r,
            Err(e) => break End::Failed(format!("cannot start worker: {e}")),
        };
        tracing::info!(start, "run started");
        loop {
            tokio::select! {
                outcome = running.wait() => match outcome {
                    RunOutcome::Completed => break 'runs End::Completed,
                    RunOutcome::Failed(e) => break 'runs failure_end(&e),
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
                        Err(e) => break 'runs End::Failed(format!("cannot restart at {at}: {e}")),
                    }
                }
                _ = idle_tick.tick() => {
                    let last = *super::lock(&owned.job.last_fetch);
                    if inner.clock.now().saturating_duration_since(last) > inner.config.idle_timeout {
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
                _ = shutdown.changed() => {
                    running.cancel();
                    let _ = running.wait().await;
                    break 'runs End::Shutdown;
                }
            }
        }
    };

    let token = owned.claim.token;
    let (state, failure, topic) = match &end {
        End::Completed => (Some(JobState::Completed), None, "transcode.finished"),
        End::Failed(reason) => (
            Some(JobState::Failed),
            Some(reason.clone()),
            "transcode.failed",
        ),
        End::Idle => (Some(JobState::Stopped), None, "transcode.stopped"),
        // Lost: somebody else owns the record now. Shutdown: leave it Running so a survivor
        // resumes it at once.
        End::LeaseLost | End::TenureOver(_) => (None, None, "transcode.lease_lost"),
        End::Shutdown => (None, None, "transcode.handed_over"),
    };
    if let Some(state) = state {
        if let Err(e) = inner
            .jobs
            .set_state(&key, token, state, failure.as_deref())
            .await
        {
            tracing::warn!(error = %e, %state, "could not record the job's end");
        }
    }
    match &end {
        End::Failed(reason) => {
            inner.stats.failed();
            tracing::warn!(reason, "job failed")
        }
        End::TenureOver(reason) => tracing::warn!(
            reason,
            "job record taken over or lost (did the store lose its data?): run stopped; the \
             next segment request resumes it at the first missing segment"
        ),
        _ => tracing::info!(topic, "job ended"),
    }
    inner
        .publish(
            topic,
            serde_json::json!({ "key": key, "node": inner.config.node_id, "failure": failure }),
        )
        .await;
    owned.slots.release_all(inner.slots.as_ref()).await;
    {
        // Only this tenure's entry: a newer run of the key may already be registered.
        let mut local = super::lock(&inner.local);
        if local.get(&key).is_some_and(|j| Arc::ptr_eq(j, &owned.job)) {
            local.remove(&key);
        }
    }
    if !matches!(end, End::LeaseLost) {
        owned.keeper.shutdown().await;
    }
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

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

pub(crate) fn new_local_job(start: u32, now: Instant) -> (Arc<LocalJob>, mpsc::Receiver<u32>) {
    let (restart, restarts) = mpsc::channel(4);
    (
        Arc::new(LocalJob {
            run_start: AtomicU32::new(start),
            next: Arc::new(AtomicU32::new(start)),
            last_fetch: Mutex::new(now),
            restart,
            run_started: Mutex::new(now),
            users: Mutex::new(HashMap::new()),
        }),
        restarts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vetoed(source: ha_core::Error) -> crate::Error {
        crate::Error::Vetoed { index: 3, source }
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
                matches!(failure_end(&vetoed(source)), End::TenureOver(_)),
                "a lost tenure"
            );
        }
        let store_down = vetoed(ha_core::Error::Timeout {
            what: "get job".into(),
            after: Duration::from_secs(2),
        });
        assert!(matches!(failure_end(&store_down), End::Failed(_)));
        let crashed = crate::Error::WorkerStalled {
            after: Duration::from_secs(1),
        };
        assert!(matches!(failure_end(&crashed), End::Failed(_)));
    }
}
