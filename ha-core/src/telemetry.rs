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
//! | [`STORE_CALL_SECONDS`] | histogram `{store}` | one call to a shared store, sent → answered (or failed) |
//! | [`STORE_ERRORS_TOTAL`] | counter `{store, op, kind}` | store calls that failed: the store was unreachable, ran out of time, or erred |
//!
//! The last two are emitted by the store backends (`ha-store-redis`: `store="redis"`,
//! `ha-store-pg`: `store="postgres"`) through [`store_call`], so both backends report under
//! the same names. `op` is the backend's fixed name of the operation (`"lease renew"`,
//! `"session list"`, …: a string in its code, so a bounded set); `kind` is one of
//! [`StoreFailure`]'s labels. A contract answer that is not a failure of the store (a fenced
//! write, a unique name taken, a value refused) is not an error here. An error series appears
//! on its first error: alert on `sum(rate(media_ha_store_errors_total[5m])) or vector(0)`.
//!
//! Call [`describe`] once after installing a recorder to attach units and help texts.

use std::time::Duration;

/// Histogram, seconds: how long each lease renewal took from sending it to the store's answer
/// (success or error), on the keeper's clock. A renewal unanswered at the safety deadline ends
/// the tenure instead and is counted in [`LEASES_LOST_TOTAL`].
pub const LEASE_RENEW_SECONDS: &str = "media_ha_lease_renew_seconds";

/// Counter: lease tenures a [`LeaseKeeper`](crate::LeaseKeeper) lost.
pub const LEASES_LOST_TOTAL: &str = "media_ha_leases_lost_total";

/// Histogram `{store}`, seconds: one call to a shared store, from sending it to its answer
/// or failure (the backend's own deadline included).
pub const STORE_CALL_SECONDS: &str = "media_ha_store_call_seconds";

/// Counter `{store, op, kind}`: calls to a shared store that failed (see [`StoreFailure`]).
pub const STORE_ERRORS_TOTAL: &str = "media_ha_store_errors_total";

/// How a store call failed, as the `kind` label of [`STORE_ERRORS_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// The store could not be reached or the connection broke (`kind="unavailable"`).
    Unavailable,
    /// The call ran out of time (`kind="timeout"`).
    Timeout,
    /// The store answered with an error, or with something that could not be understood
    /// (`kind="error"`).
    Error,
}

impl StoreFailure {
    /// The `kind` label.
    pub fn label(self) -> &'static str {
        match self {
            StoreFailure::Unavailable => "unavailable",
            StoreFailure::Timeout => "timeout",
            StoreFailure::Error => "error",
        }
    }
}

/// Records one call to a shared store: its time under [`STORE_CALL_SECONDS`], and a failure
/// under [`STORE_ERRORS_TOTAL`]. For backends; `store` names the backend (`"redis"`,
/// `"postgres"`), `op` the operation.
pub fn store_call(
    store: &'static str,
    op: &'static str,
    took: Duration,
    failure: Option<StoreFailure>,
) {
    metrics::histogram!(STORE_CALL_SECONDS, "store" => store).record(took);
    if let Some(failure) = failure {
        metrics::counter!(
            STORE_ERRORS_TOTAL,
            "store" => store,
            "op" => op,
            "kind" => failure.label()
        )
        .increment(1);
    }
}

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
    metrics::describe_histogram!(
        STORE_CALL_SECONDS,
        metrics::Unit::Seconds,
        "How long calls to a shared store took, from sending to the answer or failure."
    );
    metrics::describe_counter!(
        STORE_ERRORS_TOTAL,
        "Calls to a shared store that failed: unreachable, out of time, or an error answer."
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    #[test]
    fn a_store_call_is_timed_and_only_a_failure_is_counted_with_its_labels() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let _guard = metrics::set_default_local_recorder(&recorder);
        store_call("redis", "lease renew", Duration::from_millis(2), None);
        store_call(
            "redis",
            "lease renew",
            Duration::from_millis(3),
            Some(StoreFailure::Timeout),
        );
        store_call(
            "postgres",
            "session list",
            Duration::from_millis(1),
            Some(StoreFailure::Unavailable),
        );
        let mut timed = Vec::new();
        let mut errors = Vec::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            match (key.key().name(), value) {
                (STORE_CALL_SECONDS, DebugValue::Histogram(samples)) => {
                    timed.push((labels.join(","), samples.len()));
                }
                (STORE_ERRORS_TOTAL, DebugValue::Counter(n)) => {
                    errors.push((labels.join(","), n));
                }
                other => panic!("unexpected metric {other:?}"),
            }
        }
        timed.sort();
        errors.sort();
        assert_eq!(
            timed,
            [
                ("store=postgres".to_owned(), 1),
                ("store=redis".to_owned(), 2)
            ]
        );
        assert_eq!(
            errors,
            [
                (
                    "store=postgres,op=session list,kind=unavailable".to_owned(),
                    1
                ),
                ("store=redis,op=lease renew,kind=timeout".to_owned(), 1),
            ]
        );
    }
}
