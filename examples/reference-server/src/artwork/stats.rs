//! Counters of this replica's artwork work, for `/metrics`, tests and benchmarks (the time
//! extractions take is a histogram, `media_ha_artwork_extraction_seconds`).

use std::sync::atomic::AtomicU64;

/// What this replica did for artwork since it started.
#[derive(Debug, Default)]
pub struct ArtworkStats {
    /// Frames extracted from videos (each at most once per cluster with shared storage).
    pub extractions: AtomicU64,
    /// Videos no frame could be taken from.
    pub extraction_failures: AtomicU64,
    /// Pictures resized or re-encoded (cache misses).
    pub renders: AtomicU64,
    /// Requests answered from the resize cache.
    pub cache_hits: AtomicU64,
}
