//! What the [`TranscodeManager`](crate::manager::TranscodeManager) reports through the
//! [`metrics`] facade, and under which names.
//!
//! The application installs the recorder (the reference server exports Prometheus); with none
//! installed each event costs an atomic load. The same counts are readable without a recorder
//! from [`TranscodeManager::stats`](crate::manager::TranscodeManager::stats). No metric carries
//! a job key, item or user as a label: those are unbounded.
//!
//! | name | kind | what |
//! |---|---|---|
//! | [`JOBS_STARTED_TOTAL`] | counter | jobs this node started fresh |
//! | [`TAKEOVERS_TOTAL`] | counter | jobs this node took over from another owner |
//! | [`LIVENESS_TAKEOVERS_TOTAL`] | counter | of those, taken because the owner's liveness record lapsed |
//! | [`JOBS_FAILED_TOTAL`] | counter | runs on this node that ended in failure |
//! | [`SEGMENTS_SERVED_TOTAL`] | counter | segments this node answered |
//! | [`SEGMENT_WAIT_SECONDS`] | histogram | how long segment requests that had to wait waited |
//!
//! Call [`describe`] once after installing a recorder for units and help texts.

/// Counter: jobs this node started fresh.
pub const JOBS_STARTED_TOTAL: &str = "media_ha_transcode_jobs_started_total";
/// Counter: jobs this node took over from another owner (dead, draining or paused).
pub const TAKEOVERS_TOTAL: &str = "media_ha_transcode_takeovers_total";
/// Counter: takeovers made because the owner's liveness record lapsed before its job lease.
pub const LIVENESS_TAKEOVERS_TOTAL: &str = "media_ha_transcode_liveness_takeovers_total";
/// Counter: transcode runs on this node that ended in failure.
pub const JOBS_FAILED_TOTAL: &str = "media_ha_transcode_jobs_failed_total";
/// Counter: HLS segments this node answered.
pub const SEGMENTS_SERVED_TOTAL: &str = "media_ha_segments_served_total";
/// Histogram, seconds: the wait of every segment request whose segment was not there yet.
pub const SEGMENT_WAIT_SECONDS: &str = "media_ha_segment_wait_seconds";

/// Registers units and help texts of this crate's metrics with the installed recorder, and
/// makes every counter appear at 0 (a series that appears only on its first event breaks
/// `rate()` and alerts on its absence).
pub fn describe() {
    use metrics::{describe_counter, describe_histogram, Unit};
    for counter in [
        JOBS_STARTED_TOTAL,
        TAKEOVERS_TOTAL,
        LIVENESS_TAKEOVERS_TOTAL,
        JOBS_FAILED_TOTAL,
        SEGMENTS_SERVED_TOTAL,
    ] {
        metrics::counter!(counter).increment(0);
    }
    describe_counter!(JOBS_STARTED_TOTAL, "Transcode jobs this replica started.");
    describe_counter!(
        TAKEOVERS_TOTAL,
        "Orphaned transcode jobs this replica took over."
    );
    describe_counter!(
        LIVENESS_TAKEOVERS_TOTAL,
        "Of those, jobs taken from an owner whose liveness record lapsed before its job lease."
    );
    describe_counter!(
        JOBS_FAILED_TOTAL,
        "Transcode runs that failed on this replica."
    );
    describe_counter!(
        SEGMENTS_SERVED_TOTAL,
        "HLS segments served by this replica."
    );
    describe_histogram!(
        SEGMENT_WAIT_SECONDS,
        Unit::Seconds,
        "How long segment requests waited for a segment that was not there yet."
    );
}
