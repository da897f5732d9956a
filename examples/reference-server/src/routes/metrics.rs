//! `GET /metrics`: Prometheus text exposition of what an operator of a cluster watches —
//! requests by route and status, stores up or down, sessions, transcode jobs, takeovers, how
//! long lease renewals take, how long viewers waited for segments, and the process itself.
//!
//! # Where the figures come from
//!
//! The crates emit through the `metrics` facade (`ha_core::telemetry`,
//! `ha_transcode::telemetry`), the server's layers and tasks too (`telemetry.rs`: HTTP;
//! `cluster_gauges.rs`: the cluster's session count, from one replica), and this route renders
//! the process's recorder. What only this replica knows as state rather than as events (stores
//! answering, jobs running, sockets open, artwork counters) is read here at scrape time.
//!
//! # Who may read it
//!
//! By default whoever reaches the port: Prometheus scrapes every replica directly and carries
//! no Jellyfin token, and what is here are counters and gauges of the replica (sessions,
//! jobs, takeovers, latencies, connection counts) — no user or device names, item ids, paths
//! or tokens (a test keeps it so). What it does tell a stranger (how busy the cluster is)
//! is worth hiding on a public deployment; two ways, either or both:
//! - keep `/metrics` off the public route (the ingress or load balancer forwards only the
//!   API paths; Prometheus scrapes the pods, as `deploy/kubernetes` does);
//! - `--metrics-token <token>` (`MEDIA_HA_METRICS_TOKEN`): `/metrics` then answers 401
//!   unless the request carries `Authorization: Bearer <token>` (Prometheus
//!   `authorization: { credentials_file: ... }`; a ServiceMonitor's `bearerTokenSecret`).
//!
//! A viewer's token is deliberately not accepted instead: a scraper should not hold a user's
//! credentials, and an admin session expires.

use std::sync::atomic::Ordering::Relaxed;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::config::MetricsToken;
use crate::state::AppState;

/// Histogram, seconds: how long extracting a frame for artwork took.
pub const ARTWORK_EXTRACTION_SECONDS: &str = "media_ha_artwork_extraction_seconds";
/// Gauge `{contract}`: 1 when the store behind the contract answered this scrape's check.
pub const STORE_UP: &str = "media_ha_store_up";

/// This replica's counters kept as atomics (artwork, the owner proxy), mirrored at scrape time:
/// `(name, help)`.
const MIRRORED: [(&str, &str); 6] = [
    (
        "media_ha_artwork_extractions_total",
        "Frames this replica extracted from videos without a poster.",
    ),
    (
        "media_ha_artwork_extraction_failures_total",
        "Videos this replica could take no frame from.",
    ),
    (
        "media_ha_artwork_renders_total",
        "Pictures this replica resized or re-encoded.",
    ),
    (
        "media_ha_artwork_cache_hits_total",
        "Resized pictures answered from this replica's cache.",
    ),
    (
        "media_ha_segments_proxied_total",
        "Segments this replica relayed from the job's owner to the end (node-local storage).",
    ),
    (
        "media_ha_segment_proxy_failures_total",
        "Segment requests this replica forwarded that failed: owner unreachable, no answer in \
         time, or the body broke off.",
    ),
];
const TRANSCODE_JOBS_LOCAL: &str = "media_ha_transcode_jobs_local";
const LIVE_SOCKETS: &str = "media_ha_live_sockets";

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Registers units and help texts of the series this file sets.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    for (name, help) in MIRRORED {
        describe_counter!(name, help);
    }
    describe_histogram!(
        ARTWORK_EXTRACTION_SECONDS,
        Unit::Seconds,
        "How long extracting a frame for artwork took."
    );
    describe_gauge!(
        STORE_UP,
        "1 when the store behind the contract answered the last scrape's check, 0 when not."
    );
    describe_gauge!(
        TRANSCODE_JOBS_LOCAL,
        "Transcode jobs running on this replica."
    );
    describe_gauge!(LIVE_SOCKETS, "WebSockets open on this replica.");
}

/// True when `headers` carry the configured bearer token (or none is configured). The
/// tokens are compared as SHA-256 digests, so the comparison's timing tells nothing about
/// the token.
fn authorized(expected: Option<&MetricsToken>, headers: &HeaderMap) -> bool {
    use sha2::{Digest, Sha256};
    let Some(expected) = expected else {
        return true;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    Sha256::digest(given.trim().as_bytes()) == Sha256::digest(expected.0.as_bytes())
}

async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !authorized(state.config.metrics_token.as_ref(), &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "this server's /metrics needs its bearer token (--metrics-token)\n",
        )
            .into_response();
    }
    set_replica_state(&state).await;
    match crate::telemetry::render() {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no metrics recorder: another one was installed in this process first\n",
        )
            .into_response(),
    }
}

/// What this replica knows as state, read now.
async fn set_replica_state(state: &AppState) {
    for check in crate::routes::system::check_stores(state).await {
        let up = if check.error.is_none() { 1.0 } else { 0.0 };
        metrics::gauge!(STORE_UP, "contract" => check.name).set(up);
    }
    let t = state
        .transcoder
        .as_deref()
        .and_then(|t| t.metrics())
        .unwrap_or_default();
    metrics::gauge!(TRANSCODE_JOBS_LOCAL).set(t.local_jobs as f64);
    metrics::gauge!(LIVE_SOCKETS).set(state.live.hub.len() as f64);
    let a = &state.artwork.stats;
    let values = [
        a.extractions.load(Relaxed),
        a.extraction_failures.load(Relaxed),
        a.renders.load(Relaxed),
        a.cache_hits.load(Relaxed),
        t.segments_proxied,
        t.proxy_failures,
    ];
    for ((name, _), value) in MIRRORED.into_iter().zip(values) {
        metrics::counter!(name).absolute(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            value.parse().expect("a header value"),
        );
        h
    }

    #[test]
    fn open_without_a_token_and_closed_to_anything_but_it_with_one() {
        assert!(authorized(None, &HeaderMap::new()));
        let token = MetricsToken("scrape-me".into());
        assert!(!authorized(Some(&token), &HeaderMap::new()));
        assert!(!authorized(Some(&token), &bearer("Bearer wrong")));
        assert!(!authorized(Some(&token), &bearer("scrape-me")));
        assert!(!authorized(Some(&token), &bearer("Bearer ")));
        assert!(authorized(Some(&token), &bearer("Bearer scrape-me")));
    }
}
