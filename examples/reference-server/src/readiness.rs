//! Readiness transitions, each logged once.
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
        let mut down = self.down.lock().unwrap_or_else(|p| p.into_inner());
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
}
