//! Readiness: what `/health/ready` answers while stores fail ([`verdict`]), and its
//! transitions, each logged once.
//!
//! Why: an orchestrator probes `/health/ready` every few seconds. Logging every failing probe
//! buries the line an operator needs ("Redis unreachable") under identical ones, and nothing
//! said when the store came back or how long it was gone. [`ReadinessLog`] remembers the last
//! verdict and turns a stream of probe results into transitions: down (with what failed),
//! what-is-failing changed, and up again (with the outage's length). It never reads the clock:
//! the probe passes its own instant, so the logic is tested without sleeping.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// What one probe result means, given the ones before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Every store answers, as at the last probe.
    StillUp,
    /// A store stopped answering.
    Down,
    /// Still not ready; `changed` when the set of failing stores differs from the last probe.
    StillDown {
        /// The failing stores changed.
        changed: bool,
    },
    /// Every store answers again after being down this long.
    Up {
        /// From the first failing probe to this one.
        after: Duration,
    },
}

/// The last readiness verdict of one server.
#[derive(Debug, Default)]
pub struct ReadinessLog {
    down: Mutex<Option<Outage>>,
}

#[derive(Debug)]
struct Outage {
    since: Instant,
    failing: Vec<String>,
}

impl ReadinessLog {
    /// Records a probe taken at `now` in which the stores named in `failing` did not answer.
    pub fn observe(&self, now: Instant, failing: &[&str]) -> Transition {
        let mut down = media_ha::core::sync::lock(&self.down);
        match (down.as_mut(), failing.is_empty()) {
            (None, true) => Transition::StillUp,
            (Some(outage), true) => {
                let after = now.saturating_duration_since(outage.since);
                *down = None;
                Transition::Up { after }
            }
            (None, false) => {
                *down = Some(Outage {
                    since: now,
                    failing: failing.iter().map(|s| (*s).to_owned()).collect(),
                });
                Transition::Down
            }
            (Some(outage), false) => {
                let changed = outage.failing.len() != failing.len()
                    || outage.failing.iter().zip(failing).any(|(a, b)| a != b);
                if changed {
                    outage.failing = failing.iter().map(|s| (*s).to_owned()).collect();
                }
                Transition::StillDown { changed }
            }
        }
    }
}

/// What `/health/ready` answers while a store fails (`--readiness-policy`).
///
/// Why `stay-ready` is the default: Redis and PostgreSQL are shared, so when one is down every
/// replica sees the same outage at the same moment. Failing readiness everywhere would empty
/// the Service (or the load balancer's pool): clients would get connection errors for
/// everything, including what still works without the store (segments already on disk, the web
/// client, `/System/Info/Public`), and nothing would be gained, since no replica could serve
/// better. So a replica stays ready and the requests that need the store answer 503 with
/// `Retry-After` at once; `/health/ready` says `Degraded` and names the store.
///
/// The failure this trades away: a replica that alone lost its way to the store (a partition
/// of its node) also stays in the pool, and its requests fail until the network heals, where
/// `strict` would have moved them to its peers. Pick `strict` where that is the likelier
/// failure (replicas spread over networks, stores highly available on their own).
/// A store local to this replica (its in-process metadata on disk) fails readiness under
/// either policy: only this replica is affected, so its peers can serve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadinessPolicy {
    /// A shared store outage keeps the replica ready (`Degraded`); requests needing the store
    /// answer 503 with `Retry-After`.
    #[default]
    StayReady,
    /// Any failing store makes the replica unready (503), as a single-replica server expects.
    Strict,
}

/// One store's answer to a readiness check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCheck {
    /// The contract (`leases`, `metadata`, …).
    pub name: &'static str,
    /// Whether the store behind it is shared by every replica (Redis, PostgreSQL).
    pub shared: bool,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// The answer of `/health/ready`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every store answers: 200 `Healthy`.
    Ready,
    /// Only shared stores fail and the policy keeps the replica in the pool: 200 `Degraded`.
    Degraded,
    /// 503: take this replica out of the pool.
    NotReady,
}

/// The verdict for `checks` under `policy`.
pub fn verdict(policy: ReadinessPolicy, checks: &[StoreCheck]) -> Verdict {
    let mut failing = checks.iter().filter(|c| c.error.is_some()).peekable();
    if failing.peek().is_none() {
        return Verdict::Ready;
    }
    match policy {
        ReadinessPolicy::Strict => Verdict::NotReady,
        ReadinessPolicy::StayReady if failing.all(|c| c.shared) => Verdict::Degraded,
        ReadinessPolicy::StayReady => Verdict::NotReady,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_is_reported_once_down_and_once_up() {
        let log = ReadinessLog::default();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert_eq!(log.observe(at(0), &[]), Transition::StillUp);
        assert_eq!(log.observe(at(100), &["leases", "jobs"]), Transition::Down);
        assert_eq!(
            log.observe(at(200), &["leases", "jobs"]),
            Transition::StillDown { changed: false }
        );
        assert_eq!(
            log.observe(at(300), &["leases", "jobs", "metadata"]),
            Transition::StillDown { changed: true }
        );
        assert_eq!(
            log.observe(at(400), &["leases", "jobs", "metadata"]),
            Transition::StillDown { changed: false }
        );
        assert_eq!(
            log.observe(at(1600), &[]),
            Transition::Up {
                after: Duration::from_millis(1500)
            }
        );
        assert_eq!(log.observe(at(1700), &[]), Transition::StillUp);
        assert_eq!(log.observe(at(1800), &["metadata"]), Transition::Down);
    }

    fn check(name: &'static str, shared: bool, ok: bool) -> StoreCheck {
        StoreCheck {
            name,
            shared,
            error: (!ok).then(|| "connection refused".to_owned()),
        }
    }

    #[test]
    fn a_shared_outage_keeps_the_replica_ready_unless_strict() {
        let all_up = [check("leases", true, true), check("metadata", true, true)];
        let redis_down = [check("leases", true, false), check("metadata", true, true)];
        for policy in [ReadinessPolicy::StayReady, ReadinessPolicy::Strict] {
            assert_eq!(verdict(policy, &all_up), Verdict::Ready);
        }
        assert_eq!(
            verdict(ReadinessPolicy::StayReady, &redis_down),
            Verdict::Degraded
        );
        assert_eq!(
            verdict(ReadinessPolicy::Strict, &redis_down),
            Verdict::NotReady
        );
    }

    #[test]
    fn a_local_store_failure_is_never_ready() {
        // --redis alone: metadata stays on this replica's disk.
        let disk_down = [check("leases", true, true), check("metadata", false, false)];
        let both_down = [
            check("leases", true, false),
            check("metadata", false, false),
        ];
        for policy in [ReadinessPolicy::StayReady, ReadinessPolicy::Strict] {
            assert_eq!(verdict(policy, &disk_down), Verdict::NotReady);
            assert_eq!(verdict(policy, &both_down), Verdict::NotReady);
        }
    }
}
