//! `GET /metrics`: Prometheus text exposition of what an operator of a cluster watches —
//! sessions, transcode jobs, takeovers, how long lease renewals take and how long viewers
//! waited for segments.
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
//!
//! Why hand-written: a dozen series in a fixed text format do not justify a metrics registry;
//! the format is stable (Prometheus exposition 0.0.4) and a test reads it back.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use media_ha::core::LatencySnapshot;

use crate::config::MetricsToken;
use crate::state::AppState;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

fn series(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// A histogram in seconds: cumulative `_bucket{le=…}` lines, then `_sum` and `_count`.
fn histogram(out: &mut String, name: &str, help: &str, h: &LatencySnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (bound, count) in &h.buckets {
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"{}\"}} {count}",
            bound.as_secs_f64()
        );
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {}\n{name}_count {count}",
        h.sum.as_secs_f64(),
        count = h.count
    );
}

/// Artwork work of this replica and the sockets it holds.
fn artwork_series(out: &mut String, state: &AppState) {
    use std::sync::atomic::Ordering::Relaxed;
    let a = &state.artwork.stats;
    for (name, help, value) in [
        (
            "media_ha_artwork_extractions_total",
            "Frames this replica extracted from videos without a poster.",
            a.extractions.load(Relaxed),
        ),
        (
            "media_ha_artwork_extraction_failures_total",
            "Videos this replica could take no frame from.",
            a.extraction_failures.load(Relaxed),
        ),
        (
            "media_ha_artwork_renders_total",
            "Pictures this replica resized or re-encoded.",
            a.renders.load(Relaxed),
        ),
        (
            "media_ha_artwork_cache_hits_total",
            "Resized pictures answered from this replica's cache.",
            a.cache_hits.load(Relaxed),
        ),
    ] {
        series(out, name, "counter", help, value);
    }
    series(
        out,
        "media_ha_artwork_extraction_seconds_total",
        "counter",
        "Time this replica spent extracting frames.",
        a.extraction_micros.load(Relaxed) as f64 / 1e6,
    );
    series(
        out,
        "media_ha_live_sockets",
        "gauge",
        "WebSockets open on this replica.",
        state.live.hub.len(),
    );
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
    let mut out = String::new();
    // A store outage must not break the metrics endpoint: report -1 ("unknown") instead.
    let sessions = state
        .stores
        .sessions
        .list()
        .await
        .map_or(-1, |s| s.len() as i64);
    series(
        &mut out,
        "media_ha_active_sessions",
        "gauge",
        "Live client sessions (cluster-wide).",
        sessions,
    );
    histogram(
        &mut out,
        "media_ha_lease_renew_seconds",
        "How long this replica's lease renewals took (transcode jobs and library scan).",
        &state.renew_latency.snapshot(),
    );
    artwork_series(&mut out, &state);
    let t = state
        .transcoder
        .as_deref()
        .and_then(|t| t.metrics())
        .unwrap_or_default();
    series(
        &mut out,
        "media_ha_transcode_jobs_local",
        "gauge",
        "Transcode jobs running on this replica.",
        t.local_jobs,
    );
    series(
        &mut out,
        "media_ha_transcode_jobs_started_total",
        "counter",
        "Transcode jobs this replica started.",
        t.jobs_started,
    );
    series(
        &mut out,
        "media_ha_transcode_takeovers_total",
        "counter",
        "Orphaned jobs this replica took over.",
        t.takeovers,
    );
    series(
        &mut out,
        "media_ha_transcode_liveness_takeovers_total",
        "counter",
        "Of those, jobs taken from an owner whose liveness record lapsed before its job lease.",
        t.liveness_takeovers,
    );
    series(
        &mut out,
        "media_ha_transcode_jobs_failed_total",
        "counter",
        "Transcode runs that failed on this replica.",
        t.jobs_failed,
    );
    series(
        &mut out,
        "media_ha_segments_served_total",
        "counter",
        "HLS segments served by this replica.",
        t.segments_served,
    );
    series(
        &mut out,
        "media_ha_segment_waits_total",
        "counter",
        "Segment requests that waited for their segment.",
        t.segment_waits,
    );
    series(
        &mut out,
        "media_ha_segment_wait_seconds_total",
        "counter",
        "Total seconds segment requests waited.",
        t.segment_wait_seconds,
    );
    series(
        &mut out,
        "media_ha_segment_wait_max_seconds",
        "gauge",
        "Longest single segment wait.",
        t.segment_wait_max_seconds,
    );
    series(
        &mut out,
        "media_ha_segments_proxied_total",
        "counter",
        "Segments this replica relayed from the job's owner to the end (node-local storage).",
        t.segments_proxied,
    );
    series(
        &mut out,
        "media_ha_segment_proxy_failures_total",
        "counter",
        "Segment requests this replica forwarded that failed: owner unreachable, no answer in \
         time, or the body broke off.",
        t.proxy_failures,
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
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
