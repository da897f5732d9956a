//! `GET /metrics`: Prometheus text exposition of what an operator of a cluster watches —
//! sessions, transcode jobs, takeovers, how long lease renewals take and how long viewers
//! waited for segments.
//!
//! Why hand-written: a dozen series in a fixed text format do not justify a metrics registry;
//! the format is stable (Prometheus exposition 0.0.4) and a test reads it back.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use media_ha::core::LatencySnapshot;

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

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
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
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
