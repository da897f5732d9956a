//! A closed-loop load driver: `C` tasks, each issuing one call after another for a fixed time.
//!
//! Why closed loop at fixed concurrency: `redis-benchmark -c C` and `pgbench -c C` are closed
//! loops too (each client waits for its answer before sending the next request), so ops/s at
//! the same `C` is a like-for-like comparison. Latencies are kept per call (µs) and sorted once
//! at the end: exact percentiles, no histogram bucketing to argue about.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// What one load phase measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadStats {
    /// Calls completed.
    pub ops: u64,
    /// Calls that returned an error (not counted in `ops`).
    pub errors: u64,
    /// Wall time of the phase in seconds.
    pub secs: f64,
    /// `ops / secs`.
    pub ops_per_sec: f64,
    /// Median latency in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency in milliseconds.
    pub p99_ms: f64,
}

impl LoadStats {
    /// Stats from raw per-call latencies in microseconds.
    pub fn from_latencies(mut lat_us: Vec<u32>, errors: u64, secs: f64) -> Self {
        lat_us.sort_unstable();
        let ops = lat_us.len() as u64;
        Self {
            ops,
            errors,
            secs,
            ops_per_sec: if secs > 0.0 { ops as f64 / secs } else { 0.0 },
            p50_ms: percentile(&lat_us, 0.50),
            p99_ms: percentile(&lat_us, 0.99),
        }
    }
}

/// The `q` quantile of sorted microsecond samples, in milliseconds.
pub fn percentile(sorted_us: &[u32], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * q).round() as usize;
    f64::from(sorted_us[i]) / 1000.0
}

/// Runs `call(task, seq)` from `concurrency` tasks for `duration` and returns the stats.
/// `call` gets the task index and that task's call counter so it can pick distinct keys; it
/// answers `Ok(true)` for a counted call and `Ok(false)` when the task has no work left (a
/// phase that consumes a finite set, such as releasing what an earlier phase acquired).
pub async fn closed_loop<F, Fut, E>(concurrency: usize, duration: Duration, call: F) -> LoadStats
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<bool, E>> + Send,
    E: std::fmt::Display,
{
    let call = Arc::new(call);
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(4096);
                let mut errors = 0u64;
                let mut seq = 0u64;
                loop {
                    let t0 = Instant::now();
                    if t0 >= deadline {
                        break;
                    }
                    match call(task, seq).await {
                        Ok(true) => lat.push(micros(t0.elapsed())),
                        Ok(false) => break,
                        Err(e) => {
                            if errors == 0 {
                                eprintln!("[harness] call failed (task {task}): {e}");
                            }
                            errors += 1;
                        }
                    }
                    seq += 1;
                }
                (lat, errors)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.expect("load task panicked");
        all.extend(lat);
        errors += e;
    }
    LoadStats::from_latencies(all, errors, start.elapsed().as_secs_f64())
}

/// A duration in whole microseconds, saturating at `u32::MAX` (71 minutes).
pub fn micros(d: Duration) -> u32 {
    d.as_micros().min(u128::from(u32::MAX)) as u32
}
