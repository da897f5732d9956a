//! A contender: acquires one of a few keys, claims the job record with its token, writes
//! progress, sometimes renews, sometimes releases, sometimes just walks away.
//!
//! # Why careless on purpose
//!
//! A well-behaved holder stops writing before its local deadline (the keeper does that), so
//! the store's fencing would rarely be exercised. These contenders never look at the clock:
//! they write until the store tells them to stop (`Fenced`, `LeaseLost`), sleep at random
//! between writes, and now and then stall for one to three TTLs right before a write (a GC
//! pause inside a task). Leases therefore expire under live writers all the time, and the
//! history shows whether the store's fencing, not the contenders' manners, kept writes safe.
//!
//! # With liveness records
//!
//! When the plan sets a liveness TTL, every contender process keeps one liveness record
//! (`ha_core::liveness`), and a contender denied a key looks at its holder: if the holder's
//! process has no live record (it is frozen, or its store connection is), the contender takes
//! the lease over at once (`LeaseManager::take_over`) instead of waiting for the TTL. Paused
//! processes then lose their tenures while they still believe in them, far more often than
//! TTL expiry alone would make happen.

use std::sync::Arc;
use std::time::Duration;

use ha_core::liveness::{is_alive, LivenessConfig, LivenessKeeper};
use ha_core::{Error, FencingToken, JobClaim, Lease, LeaseManager, TranscodeJobStore};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::history::{now_us, Entry, Event, Op, Outcome, Recorder};

/// What every contender of a run shares.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The contended keys (lease keys and job keys alike).
    pub keys: Vec<String>,
    /// Lease TTL.
    pub ttl: Duration,
    /// Stop starting new operations at this wall-clock instant (µs since the epoch).
    pub until_us: u64,
    /// Liveness record TTL; `Some`: keep one per process and take over the leases of holders
    /// whose record lapsed.
    pub liveness: Option<Duration>,
}

/// The stores a contender works against.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Leases.
    pub leases: Arc<dyn LeaseManager>,
    /// Job records, the fenced writes.
    pub jobs: Arc<dyn TranscodeJobStore>,
}

/// One contender: a holder name, its process's name, a recorder.
struct Contender {
    process: String,
    holder: String,
    stores: Stores,
    plan: Plan,
    recorder: Recorder,
    rng: StdRng,
}

/// Runs `tasks` contenders in this process until `plan.until_us`.
pub async fn run_tasks(
    process: &str,
    tasks: usize,
    stores: Stores,
    plan: Plan,
    recorder: Recorder,
    seed: u64,
) {
    let liveness = plan
        .liveness
        .map(|ttl| LivenessKeeper::spawn(stores.leases.clone(), process, LivenessConfig::new(ttl)));
    let handles: Vec<_> = (0..tasks)
        .map(|i| {
            let c = Contender {
                process: process.to_owned(),
                holder: format!("{process}/t{i}"),
                stores: stores.clone(),
                plan: plan.clone(),
                recorder: recorder.clone(),
                rng: StdRng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(i as u64)),
            };
            tokio::spawn(c.run())
        })
        .collect();
    for h in handles {
        h.await.expect("contender task panicked");
    }
    if let Some(keeper) = liveness {
        keeper.shutdown().await;
    }
}

/// The process a holder name (`<process>/t<i>`) belongs to: whose liveness record counts.
fn process_of(holder: &str) -> &str {
    holder.split('/').next().unwrap_or(holder)
}

pub(super) fn outcome_of(err: &Error) -> Outcome {
    match err {
        Error::Fenced { current, .. } => Outcome::Fenced {
            current: current.get(),
        },
        Error::LeaseLost { .. } => Outcome::Lost,
        Error::NotFound(_) => Outcome::Missing,
        other => Outcome::Error {
            message: other.to_string(),
        },
    }
}

impl Contender {
    fn record(&self, key: &str, op: Op, token: Option<u64>, outcome: Outcome, start_us: u64) {
        self.record_replacing(key, op, token, None, outcome, start_us);
    }

    fn record_replacing(
        &self,
        key: &str,
        op: Op,
        token: Option<u64>,
        replaced: Option<u64>,
        outcome: Outcome,
        start_us: u64,
    ) {
        self.recorder.record(Entry::Event(Event {
            process: self.process.clone(),
            holder: self.holder.clone(),
            key: key.to_owned(),
            op,
            token,
            replaced,
            ttl_us: self.plan.ttl.as_micros() as u64,
            outcome,
            start_us,
            end_us: now_us(),
        }));
    }

    fn running(&self) -> bool {
        now_us() < self.plan.until_us
    }

    async fn nap(&mut self, max: Duration) {
        let ms = self.rng.gen_range(0..=max.as_millis().max(1) as u64);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    async fn run(mut self) {
        while self.running() {
            let key = self.plan.keys[self.rng.gen_range(0..self.plan.keys.len())].clone();
            let start = now_us();
            match self
                .stores
                .leases
                .try_acquire(&key, &self.holder, self.plan.ttl)
                .await
            {
                Ok(Some(lease)) => {
                    let token = lease.token.get();
                    self.record(&key, Op::Acquire, Some(token), Outcome::Ok, start);
                    self.tenure(lease).await;
                }
                Ok(None) => {
                    self.record(&key, Op::Acquire, None, Outcome::Denied, start);
                    if self.plan.liveness.is_some() {
                        if let Some(lease) = self.take_over_if_dead(&key).await {
                            self.tenure(lease).await;
                            continue;
                        }
                    }
                    self.nap(Duration::from_millis(15)).await;
                }
                Err(e) => {
                    self.record(&key, Op::Acquire, None, outcome_of(&e), start);
                    self.nap(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Takes `key` over when its holder's process has no live liveness record.
    async fn take_over_if_dead(&mut self, key: &str) -> Option<Lease> {
        let leases = self.stores.leases.clone();
        let current = leases.current(key).await.ok()??;
        let holder_process = process_of(&current.holder);
        if holder_process == self.process || is_alive(leases.as_ref(), holder_process).await.ok()? {
            return None;
        }
        let start = now_us();
        let replaced = Some(current.token.get());
        match leases
            .take_over(&current, &self.holder, self.plan.ttl)
            .await
        {
            Ok(Some(lease)) => {
                let token = Some(lease.token.get());
                self.record_replacing(key, Op::TakeOver, token, replaced, Outcome::Ok, start);
                Some(lease)
            }
            Ok(None) => {
                self.record_replacing(key, Op::TakeOver, None, replaced, Outcome::Denied, start);
                None
            }
            Err(e) => {
                let outcome = outcome_of(&e);
                self.record_replacing(key, Op::TakeOver, None, replaced, outcome, start);
                None
            }
        }
    }

    /// Now and then, a "GC pause" of one to three TTLs just before a write.
    async fn maybe_stall(&mut self) {
        if self.rng.gen_ratio(1, 10) {
            let ttls = self.rng.gen_range(1.0..3.0);
            tokio::time::sleep(self.plan.ttl.mul_f64(ttls)).await;
        }
    }

    /// Claim, write, renew now and then, release or walk away. Stops at the first refusal.
    async fn tenure(&mut self, mut lease: Lease) {
        let key = lease.key.clone();
        let token = lease.token;
        self.maybe_stall().await;
        if !self.write(&key, token, None).await {
            return;
        }
        let writes = self.rng.gen_range(1..=5u32);
        for segment in 0..writes {
            let pause = self.plan.ttl / 2;
            self.nap(pause).await;
            if self.rng.gen_ratio(1, 4) {
                let start = now_us();
                match self.stores.leases.renew(&lease).await {
                    Ok(renewed) => {
                        self.record(&key, Op::Renew, Some(token.get()), Outcome::Ok, start);
                        lease = renewed;
                    }
                    Err(e) => {
                        let outcome = outcome_of(&e);
                        let lost = outcome == Outcome::Lost;
                        self.record(&key, Op::Renew, Some(token.get()), outcome, start);
                        if lost {
                            return;
                        }
                    }
                }
            }
            self.maybe_stall().await;
            if !self.write(&key, token, Some(segment)).await {
                return;
            }
        }
        if self.rng.gen_ratio(2, 3) {
            let start = now_us();
            let outcome = match self.stores.leases.release(&lease).await {
                Ok(true) => Outcome::Ok,
                Ok(false) => Outcome::Denied,
                Err(e) => outcome_of(&e),
            };
            self.record(&key, Op::Release, Some(token.get()), outcome, start);
        }
    }

    /// The protected write: a claim (`segment` None) or a progress record. True to go on.
    async fn write(&mut self, key: &str, token: FencingToken, segment: Option<u32>) -> bool {
        let start = now_us();
        let result = match segment {
            None => self
                .stores
                .jobs
                .claim(&JobClaim {
                    key: key.to_owned(),
                    source: "lease-safety".to_owned(),
                    profile: "{}".to_owned(),
                    owner_node: self.holder.clone(),
                    owner_addr: None,
                    token,
                    start_segment: 0,
                })
                .await
                .map(|_| ()),
            Some(s) => self
                .stores
                .jobs
                .record_progress(key, token, s)
                .await
                .map(|_| ()),
        };
        let outcome = match &result {
            Ok(()) => Outcome::Ok,
            Err(e) => outcome_of(e),
        };
        // Transient errors: go on (the next write may get through); refusals: stop.
        let go_on = matches!(outcome, Outcome::Ok | Outcome::Error { .. });
        self.record(key, Op::Write, Some(token.get()), outcome, start);
        go_on
    }
}
