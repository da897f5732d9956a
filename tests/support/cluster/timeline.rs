//! When each segment reached the viewer, and the stalls that follow from it. A stall is the
//! time between two consecutive segment responses: what a player with no buffer would freeze
//! for. Measured, printed and benchmarked; the tests only bound it generously.

use std::time::{Duration, Instant};

/// Segment arrivals, in order.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// When the first segment was asked for.
    pub start: Instant,
    /// When each segment's response arrived, and from which replica.
    pub arrivals: Vec<(Instant, String)>,
}

impl Timeline {
    /// An empty timeline starting now.
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            arrivals: Vec::new(),
        }
    }

    /// The gap before each segment (the first: since the first request).
    pub fn gaps(&self) -> Vec<Duration> {
        let mut prev = self.start;
        self.arrivals
            .iter()
            .map(|(at, _)| {
                let gap = *at - prev;
                prev = *at;
                gap
            })
            .collect()
    }

    /// The longest gap after the first segment, and the segment it preceded.
    pub fn longest(&self) -> (Duration, usize) {
        self.gaps()
            .into_iter()
            .enumerate()
            .skip(1)
            .map(|(i, d)| (d, i))
            .max()
            .unwrap_or_default()
    }

    /// The longest gap that overlaps `[from, to]`: the stall an event in that window caused.
    /// A window after the last arrival counts until the last arrival only.
    pub fn longest_during(&self, from: Instant, to: Instant) -> Option<(Duration, usize)> {
        self.arrivals
            .windows(2)
            .enumerate()
            .filter(|(_, w)| w[1].0 >= from && w[0].0 <= to)
            .map(|(i, w)| (w[1].0 - w[0].0, i + 1))
            .max()
    }

    /// The median gap after the first segment: the normal pace of the stream in this run.
    pub fn median_gap(&self) -> Duration {
        let mut gaps: Vec<Duration> = self.gaps().into_iter().skip(1).collect();
        gaps.sort();
        gaps.get(gaps.len() / 2).copied().unwrap_or_default()
    }

    /// Which replica served each segment.
    pub fn served_by(&self) -> Vec<&str> {
        self.arrivals.iter().map(|(_, n)| n.as_str()).collect()
    }

    /// The gaps in seconds with two decimals, for printing.
    pub fn gaps_text(&self) -> String {
        let gaps: Vec<String> = self
            .gaps()
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect();
        format!("[{}]", gaps.join(", "))
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}
