//! What ha-core reports through the [`metrics`] facade, and under which names.
//!
//! # Why the facade
//!
//! A library must not pick the exporter: a server may scrape Prometheus, push OpenTelemetry or
//! record nothing. The crates emit through [`metrics`] (the `log` of metrics) and the
//! application installs one recorder (the reference server installs
//! `metrics-exporter-prometheus`). With no recorder installed every call here is a no-op that
//! costs an atomic load, so a [`LeaseKeeper`](crate::LeaseKeeper), whose timing must not
//! suffer, can record every renewal.
//!
//! No metric carries a lease key or a holder as a label: keys name jobs, which are unbounded.
//!
//! # Names
//!
//! | name | kind | what |
//! |---|---|---|
//! | [`LEASE_RENEW_SECONDS`] | histogram | send → answer of every renewal a keeper made |
//! | [`LEASES_LOST_TOTAL`] | counter | tenures a keeper gave up (store said lost, or no answer before the safety deadline) |
//!
//! Call [`describe`] once after installing a recorder to attach units and help texts.

/// Histogram, seconds: how long each lease renewal took from sending it to the store's answer
/// (success or error), on the keeper's clock. A renewal unanswered at the safety deadline ends
/// the tenure instead and is counted in [`LEASES_LOST_TOTAL`].
pub const LEASE_RENEW_SECONDS: &str = "media_ha_lease_renew_seconds";

/// Counter: lease tenures a [`LeaseKeeper`](crate::LeaseKeeper) lost.
pub const LEASES_LOST_TOTAL: &str = "media_ha_leases_lost_total";

/// Registers units and help texts of this crate's metrics with the installed recorder, and
/// makes the counter appear at 0 (a series that appears only on its first event breaks
/// `rate()` and alerts on its absence).
pub fn describe() {
    metrics::counter!(LEASES_LOST_TOTAL).increment(0);
    metrics::describe_histogram!(
        LEASE_RENEW_SECONDS,
        metrics::Unit::Seconds,
        "How long lease renewals took, from sending to the store's answer."
    );
    metrics::describe_counter!(
        LEASES_LOST_TOTAL,
        "Lease tenures lost: the store said so, or no renewal was answered in time."
    );
}
