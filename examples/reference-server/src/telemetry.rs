//! The server's half of metrics: one Prometheus recorder per process, HTTP metrics with
//! bounded labels, and the process's own figures.
//!
//! # Why this shape
//!
//! The crates (`ha-core`, `ha-transcode`) emit through the `metrics` facade and never pick an
//! exporter; the application installs one recorder. Here that is `metrics-exporter-prometheus`
//! without its HTTP listener (`/metrics` is a route of the API, behind `--metrics-token`, so
//! there is one port to secure), and `metrics-process` for CPU, memory and file descriptors.
//!
//! A recorder is global to a process, so several servers started in one process (tests do)
//! share it: counters add up across them. Each server process of a real deployment has its own.
//!
//! # HTTP labels stay bounded
//!
//! `route` is the matched route template (`/Items/{item_id}`), never the raw path (item ids
//! and hostile paths would make every request a new series); a request no route matched is
//! `unmatched`. `method` is one of the standard methods or `other`. `status` is the code.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Counter `{method, route, status}`: requests answered.
pub const HTTP_REQUESTS_TOTAL: &str = "media_ha_http_requests_total";
/// Histogram `{method, route}`, seconds: from the request's arrival to its response head (a
/// streamed body may take longer).
pub const HTTP_REQUEST_SECONDS: &str = "media_ha_http_request_duration_seconds";

/// Bucket bounds of every `*_seconds` histogram: 0.5 ms (a lease renewal on a local Redis) to
/// 30 s (the longest segment wait).
const SECONDS_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
    30.0,
];

/// How often histograms and idle series are tidied (the exporter's upkeep).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

struct Telemetry {
    prometheus: PrometheusHandle,
    process: metrics_process::Collector,
}

static TELEMETRY: OnceLock<Option<Telemetry>> = OnceLock::new();

/// Installs the process's recorder on first call (later calls, and a process whose recorder
/// someone else installed, change nothing). Returns whether this module's recorder is the
/// one installed, i.e. whether [`render`] has anything to say.
pub fn install() -> bool {
    TELEMETRY.get_or_init(build).is_some()
}

fn build() -> Option<Telemetry> {
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .and_then(PrometheusBuilder::install_recorder);
    let prometheus = match prometheus {
        Ok(handle) => handle,
        Err(err) => {
            tracing::warn!(error = %err, "metrics recorder not installed: /metrics reports nothing");
            return None;
        }
    };
    let upkeep = prometheus.clone();
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            upkeep.run_upkeep();
        });
    if let Err(err) = spawned {
        tracing::warn!(error = %err, "no metrics upkeep thread: histograms grow until scraped");
    }
    let process = metrics_process::Collector::default();
    process.describe();
    describe();
    Some(Telemetry {
        prometheus,
        process,
    })
}

/// Every metric in Prometheus text, the process's figures read now; `None` when this module's
/// recorder is not the installed one.
pub fn render() -> Option<String> {
    let telemetry = TELEMETRY.get()?.as_ref()?;
    telemetry.process.collect();
    Some(telemetry.prometheus.render())
}

fn describe() {
    use metrics::{describe_counter, describe_histogram, Unit};
    media_ha::core::telemetry::describe();
    #[cfg(feature = "transcode")]
    media_ha::transcode::telemetry::describe();
    describe_counter!(HTTP_REQUESTS_TOTAL, "HTTP requests answered.");
    describe_histogram!(
        HTTP_REQUEST_SECONDS,
        Unit::Seconds,
        "Time from a request's arrival to its response head."
    );
    crate::routes::metrics::describe();
    crate::cluster_gauges::describe();
}

/// The route template a request matched, carried from inside the router (where it is known)
/// to [`record_http`] outside it.
#[derive(Clone)]
struct RouteLabel(MatchedPath);

/// Route layer: stamps the matched route template on the response.
pub async fn stamp_route(request: Request, next: Next) -> Response {
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(matched) = matched {
        response.extensions_mut().insert(RouteLabel(matched));
    }
    response
}

/// Outermost layer: counts and times every request with bounded labels.
pub async fn record_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteLabel>()
        .map_or("unmatched".to_owned(), |r| r.0.as_str().to_owned());
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_REQUEST_SECONDS, "method" => method, "route" => route.clone())
        .record(started.elapsed());
    metrics::counter!(
        HTTP_REQUESTS_TOTAL,
        "method" => method,
        "route" => route,
        "status" => status
    )
    .increment(1);
    response
}

/// `method` as a label: the standard ones by name, anything else `other` (a client may send any
/// token as a method).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
        let invented = Method::from_bytes(b"X-EVERY-REQUEST-A-NEW-ONE").expect("a token");
        assert_eq!(method_label(&invented), "other");
        assert_eq!(method_label(&Method::TRACE), "other");
    }
}
