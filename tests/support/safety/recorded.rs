//! Store wrappers that put a real server's lease operations and fenced job writes into a
//! history, so the checker judges a cluster of reference-server processes the way it judges
//! the contenders.
//!
//! # Why at the store seam
//!
//! The contenders are careless on purpose; a server is not, and what needs showing is that
//! *its* protocol (liveness-based take-over, the keeper, the publish gate) never lets a stale
//! owner write. Wrapping the two stores the TranscodeManager writes through
//! ([`media_ha_server::config::Config::store_layer`]) records exactly the operations the
//! checker reasons about, with nothing added to the server itself. The test server binary
//! turns it on when [`HISTORY_DIR_VAR`] is set; each process appends JSON lines to a file of
//! its own (`<node>-<pid>.jsonl`), as contender processes do.
//!
//! Lease keys are recorded without the manager's `transcode:` prefix, so a job's lease
//! operations and its record writes share one key, as the checker expects.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ha_core::{
    FencingToken, JobClaim, JobRecord, JobState, Lease, LeaseManager, Result, TranscodeJobStore,
};
use media_ha_server::stores::Stores;

use super::contender::outcome_of;
use super::history::{now_us, Entry, Event, Op, Outcome, Recorder};

/// Where server processes write their histories (a directory).
pub const HISTORY_DIR_VAR: &str = "HA_TEST_HISTORY_DIR";
/// The node id a server process records under (its `--node-id`); unset: `MEDIA_HA_NODE_ID`.
pub const HISTORY_NODE_VAR: &str = "HA_TEST_HISTORY_NODE";

/// The store layer for [`media_ha_server::run::main_with`]: `Some` when [`HISTORY_DIR_VAR`]
/// is set.
pub fn layer_from_env() -> Option<media_ha_server::config::StoreLayer> {
    std::env::var_os(HISTORY_DIR_VAR).map(|_| record_stores as media_ha_server::config::StoreLayer)
}

/// Wraps the leases and job records of `stores` with recorders (see the module docs). Panics
/// when the history file cannot be created: a test asked for it.
pub fn record_stores(mut stores: Stores) -> Stores {
    let dir = PathBuf::from(std::env::var_os(HISTORY_DIR_VAR).expect("history directory set"));
    // A replica started by deploy/local-cluster/cluster.sh names itself in MEDIA_HA_NODE_ID.
    let node = std::env::var(HISTORY_NODE_VAR)
        .or_else(|_| std::env::var("MEDIA_HA_NODE_ID"))
        .unwrap_or_else(|_| "server".to_owned());
    let path = dir.join(format!("{node}-{}.jsonl", std::process::id()));
    let recorder = Recorder::to_file(&path).expect("history file writable");
    let tap = Tap {
        process: node,
        recorder,
    };
    stores.leases = Arc::new(RecordedLeases {
        inner: stores.leases,
        tap: tap.clone(),
    });
    stores.jobs = Arc::new(RecordedJobs {
        inner: stores.jobs,
        tap,
    });
    stores
}

/// Who records, and where.
#[derive(Debug, Clone)]
struct Tap {
    process: String,
    recorder: Recorder,
}

/// One operation to record.
struct Call<'a> {
    holder: &'a str,
    key: &'a str,
    op: Op,
    token: Option<u64>,
    replaced: Option<u64>,
    ttl: Duration,
}

impl Tap {
    fn record(&self, call: Call<'_>, outcome: Outcome, start_us: u64) {
        let key = call.key.strip_prefix("transcode:").unwrap_or(call.key);
        self.recorder.record(Entry::Event(Event {
            process: self.process.clone(),
            holder: call.holder.to_owned(),
            key: key.to_owned(),
            op: call.op,
            token: call.token,
            replaced: call.replaced,
            ttl_us: call.ttl.as_micros() as u64,
            outcome,
            start_us,
            end_us: now_us(),
        }));
    }
}

/// A [`LeaseManager`] that records acquisitions, take-overs, renewals and releases.
#[derive(Debug)]
struct RecordedLeases {
    inner: Arc<dyn LeaseManager>,
    tap: Tap,
}

fn lease_outcome<T>(result: &Result<T>, ok: impl Fn(&T) -> Outcome) -> Outcome {
    match result {
        Ok(value) => ok(value),
        Err(e) => outcome_of(e),
    }
}

#[async_trait]
impl LeaseManager for RecordedLeases {
    async fn try_acquire(&self, key: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        let start = now_us();
        let result = self.inner.try_acquire(key, holder, ttl).await;
        let token = result
            .as_ref()
            .ok()
            .and_then(|l| l.as_ref())
            .map(|l| l.token.get());
        let outcome = lease_outcome(&result, |l| match l {
            Some(_) => Outcome::Ok,
            None => Outcome::Denied,
        });
        let call = Call {
            holder,
            key,
            op: Op::Acquire,
            token,
            replaced: None,
            ttl,
        };
        self.tap.record(call, outcome, start);
        result
    }

    async fn renew(&self, lease: &Lease) -> Result<Lease> {
        let start = now_us();
        let result = self.inner.renew(lease).await;
        let outcome = lease_outcome(&result, |_| Outcome::Ok);
        let call = Call {
            holder: &lease.holder,
            key: &lease.key,
            op: Op::Renew,
            token: Some(lease.token.get()),
            replaced: None,
            ttl: lease.ttl,
        };
        self.tap.record(call, outcome, start);
        result
    }

    async fn renew_many(&self, leases: &[Lease]) -> Result<Vec<Option<Lease>>> {
        let start = now_us();
        let result = self.inner.renew_many(leases).await;
        for (i, lease) in leases.iter().enumerate() {
            let outcome = match &result {
                Ok(renewed) if renewed.get(i).is_some_and(Option::is_some) => Outcome::Ok,
                Ok(_) => Outcome::Lost,
                Err(e) => outcome_of(e),
            };
            let call = Call {
                holder: &lease.holder,
                key: &lease.key,
                op: Op::Renew,
                token: Some(lease.token.get()),
                replaced: None,
                ttl: lease.ttl,
            };
            self.tap.record(call, outcome, start);
        }
        result
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        let start = now_us();
        let result = self.inner.release(lease).await;
        let outcome = lease_outcome(&result, |released| {
            if *released {
                Outcome::Ok
            } else {
                Outcome::Denied
            }
        });
        let call = Call {
            holder: &lease.holder,
            key: &lease.key,
            op: Op::Release,
            token: Some(lease.token.get()),
            replaced: None,
            ttl: lease.ttl,
        };
        self.tap.record(call, outcome, start);
        result
    }

    async fn current(&self, key: &str) -> Result<Option<Lease>> {
        self.inner.current(key).await
    }

    async fn take_over(&self, stale: &Lease, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        let start = now_us();
        let result = self.inner.take_over(stale, holder, ttl).await;
        let token = result
            .as_ref()
            .ok()
            .and_then(|l| l.as_ref())
            .map(|l| l.token.get());
        let outcome = lease_outcome(&result, |l| match l {
            Some(_) => Outcome::Ok,
            None => Outcome::Denied,
        });
        let call = Call {
            holder,
            key: &stale.key,
            op: Op::TakeOver,
            token,
            replaced: Some(stale.token.get()),
            ttl,
        };
        self.tap.record(call, outcome, start);
        result
    }
}

/// A [`TranscodeJobStore`] that records every fenced write (claim, progress, state).
#[derive(Debug)]
struct RecordedJobs {
    inner: Arc<dyn TranscodeJobStore>,
    tap: Tap,
}

impl RecordedJobs {
    fn write(&self, key: &str, token: FencingToken, result: &Result<JobRecord>, start: u64) {
        let call = Call {
            holder: &self.tap.process,
            key,
            op: Op::Write,
            token: Some(token.get()),
            replaced: None,
            ttl: Duration::ZERO,
        };
        self.tap
            .record(call, lease_outcome(result, |_| Outcome::Ok), start);
    }
}

#[async_trait]
impl TranscodeJobStore for RecordedJobs {
    async fn claim(&self, claim: &JobClaim) -> Result<JobRecord> {
        let start = now_us();
        let result = self.inner.claim(claim).await;
        self.write(&claim.key, claim.token, &result, start);
        result
    }

    async fn get(&self, key: &str) -> Result<Option<JobRecord>> {
        self.inner.get(key).await
    }

    async fn record_progress(
        &self,
        key: &str,
        token: FencingToken,
        segment: u32,
    ) -> Result<JobRecord> {
        let start = now_us();
        let result = self.inner.record_progress(key, token, segment).await;
        self.write(key, token, &result, start);
        result
    }

    async fn set_state(
        &self,
        key: &str,
        token: FencingToken,
        state: JobState,
        failure: Option<&str>,
    ) -> Result<JobRecord> {
        let start = now_us();
        let result = self.inner.set_state(key, token, state, failure).await;
        self.write(key, token, &result, start);
        result
    }

    async fn list(&self) -> Result<Vec<JobRecord>> {
        self.inner.list().await
    }

    async fn remove(&self, key: &str) -> Result<bool> {
        self.inner.remove(key).await
    }
}
