//! This node's counters, kept twice on purpose: atomics a caller reads as one snapshot
//! ([`super::TranscodeManager::stats`], no recorder needed) and the same events through the
//! `metrics` facade under the names in [`crate::telemetry`], for whatever exporter the
//! application installed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::telemetry;

/// Live counters of one manager.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    jobs_started: AtomicU64,
    takeovers: AtomicU64,
    liveness_takeovers: AtomicU64,
    jobs_failed: AtomicU64,
    segments_served: AtomicU64,
    waits: AtomicU64,
    wait_micros: AtomicU64,
    max_wait_micros: AtomicU64,
}

/// A copy of a manager's counters since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ManagerStats {
    /// Jobs this node started fresh.
    pub jobs_started: u64,
    /// Jobs this node took over from another owner.
    pub takeovers: u64,
    /// Of those, jobs taken from an owner whose liveness record had lapsed while its job
    /// lease still ran (a dead owner found out early; see `ha_core::liveness`).
    pub liveness_takeovers: u64,
    /// Runs on this node that ended in failure.
    pub jobs_failed: u64,
    /// Segments served by this node.
    pub segments_served: u64,
    /// Segment requests that had to wait for their segment.
    pub waits: u64,
    /// Total time those requests waited.
    pub wait_total: Duration,
    /// The longest single wait.
    pub wait_max: Duration,
    /// Jobs running on this node now.
    pub local_jobs: u64,
}

impl Stats {
    pub(crate) fn started(&self, takeover: bool) {
        let (counter, name) = if takeover {
            (&self.takeovers, telemetry::TAKEOVERS_TOTAL)
        } else {
            (&self.jobs_started, telemetry::JOBS_STARTED_TOTAL)
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(name).increment(1);
    }

    pub(crate) fn took_over_by_liveness(&self) {
        self.liveness_takeovers.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(telemetry::LIVENESS_TAKEOVERS_TOTAL).increment(1);
    }

    pub(crate) fn failed(&self) {
        self.jobs_failed.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(telemetry::JOBS_FAILED_TOTAL).increment(1);
    }

    pub(crate) fn served(&self, waited: Duration, counts_as_wait: bool) {
        self.segments_served.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(telemetry::SEGMENTS_SERVED_TOTAL).increment(1);
        if counts_as_wait {
            metrics::histogram!(telemetry::SEGMENT_WAIT_SECONDS).record(waited);
            let micros = waited.as_micros() as u64;
            self.waits.fetch_add(1, Ordering::Relaxed);
            self.wait_micros.fetch_add(micros, Ordering::Relaxed);
            self.max_wait_micros.fetch_max(micros, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self, local_jobs: usize) -> ManagerStats {
        ManagerStats {
            jobs_started: self.jobs_started.load(Ordering::Relaxed),
            takeovers: self.takeovers.load(Ordering::Relaxed),
            liveness_takeovers: self.liveness_takeovers.load(Ordering::Relaxed),
            jobs_failed: self.jobs_failed.load(Ordering::Relaxed),
            segments_served: self.segments_served.load(Ordering::Relaxed),
            waits: self.waits.load(Ordering::Relaxed),
            wait_total: Duration::from_micros(self.wait_micros.load(Ordering::Relaxed)),
            wait_max: Duration::from_micros(self.max_wait_micros.load(Ordering::Relaxed)),
            local_jobs: local_jobs as u64,
        }
    }
}
