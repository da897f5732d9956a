//! A latency histogram cheap enough for hot paths: how long lease renewals take.
//!
//! # Why a histogram, and why these buckets
//!
//! A lease is only as safe as its renewals are quick: a renewal that takes a third of the TTL
//! leaves no room for a retry before the keeper must give the lease up. An operator needs the
//! distribution (a mean hides the slow tail that costs a takeover), and needs it from every
//! replica summed, which Prometheus histograms allow and quantile summaries do not. The fixed
//! bucket bounds ([`LATENCY_BUCKETS`]) cover what a renewal costs here (≈ 80 µs on a local
//! Redis) up to a TTL (seconds), so no bound needs configuring.
//!
//! Observing is a few relaxed atomic adds and never blocks or allocates, so a [`LeaseKeeper`]
//! (whose timing must not suffer) can record every renewal. A [`LatencyHistogram`] is a shared
//! handle: clone it into every keeper whose renewals should count, and read one
//! [`snapshot`](LatencyHistogram::snapshot) for all of them.
//!
//! [`LeaseKeeper`]: crate::LeaseKeeper

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds of the histogram's buckets (plus an implicit `+Inf` one).
pub const LATENCY_BUCKETS: [Duration; 12] = [
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_millis(2),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

#[derive(Debug, Default)]
struct Counts {
    /// Per bucket (not cumulative); the last slot is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// A shared, lock-free latency histogram (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram {
    counts: Arc<Counts>,
}

/// A copy of a histogram's counts, Prometheus-style.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LatencySnapshot {
    /// `(upper bound, observations ≤ bound)`, cumulative, for each of [`LATENCY_BUCKETS`].
    pub buckets: Vec<(Duration, u64)>,
    /// Every observation (the `+Inf` bucket).
    pub count: u64,
    /// Their sum (microsecond resolution).
    pub sum: Duration,
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one observation.
    pub fn observe(&self, latency: Duration) {
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|bound| latency <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        let c = &self.counts;
        c.buckets[slot].fetch_add(1, Ordering::Relaxed);
        c.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        c.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counts so far. Taken without a lock: while observations race with it, `count` may
    /// differ from the last bucket by the few in flight.
    pub fn snapshot(&self) -> LatencySnapshot {
        let c = &self.counts;
        let mut cumulative = 0;
        let buckets = LATENCY_BUCKETS
            .iter()
            .zip(&c.buckets)
            .map(|(bound, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (*bound, cumulative)
            })
            .collect();
        LatencySnapshot {
            buckets,
            count: c.count.load(Ordering::Relaxed),
            sum: Duration::from_micros(c.sum_micros.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let h = LatencyHistogram::new();
        assert_eq!(h.snapshot().count, 0);
        h.observe(Duration::from_micros(80));
        h.observe(Duration::from_millis(1)); // a bound is inclusive (Prometheus `le`)
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(5)); // past every bound: only in +Inf
        let shared = h.clone();
        shared.observe(Duration::from_millis(30));
        let s = h.snapshot();
        assert_eq!(s.count, 5);
        assert_eq!(
            s.sum,
            Duration::from_micros(80 + 1_000 + 60_000 + 5_000_000)
        );
        let le = |bound: Duration| s.buckets.iter().find(|(b, _)| *b == bound).unwrap().1;
        assert_eq!(le(Duration::from_micros(500)), 1);
        assert_eq!(le(Duration::from_millis(1)), 2);
        assert_eq!(le(Duration::from_millis(25)), 2);
        assert_eq!(le(Duration::from_millis(50)), 4);
        assert_eq!(le(Duration::from_secs(2)), 4);
        assert_eq!(s.buckets.len(), LATENCY_BUCKETS.len());
    }
}
