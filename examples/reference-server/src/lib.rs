//! # The media-ha reference server
//!
//! A subset of Jellyfin's HTTP API built only from media-ha's public crates, so that real
//! Jellyfin clients work against it — and against several replicas of it behind any plain load
//! balancer, because every piece of state a request needs lives in the stores.
//!
//! The package is a library and a binary. [`start`] opens the stores, binds, and returns a
//! [`Server`] handle; [`run::main`] is the whole process (arguments, signals, shutdown), and the
//! `media-ha-server` binary only calls it. The integration tests (the `ha-test-support` package
//! under `tests/`) start real servers in-process through [`start`], and as processes through a
//! binary that calls [`run::main`] too.
//!
//! ```no_run
//! # async fn demo() -> Result<(), media_ha_server::StartError> {
//! use clap::Parser;
//! let args = media_ha_server::config::Args::parse_from(["media-ha-server", "--listen", "127.0.0.1:0"]);
//! let server = media_ha_server::start(media_ha_server::Config::from(args)).await?;
//! println!("listening on {}", server.base_url());
//! server.shutdown(std::time::Duration::from_secs(10)).await;
//! # Ok(()) }
//! ```
//!
//! ## Layout
//!
//! | module | what |
//! |---|---|
//! | `run` | the process: arguments, worker re-execution, signals, shutdown |
//! | `config` | command line / environment → [`Config`] |
//! | `serve` | the accept loop: HTTP/1.1, header-read timeout, graceful shutdown |
//! | `conn_io`, `conn_limit` | write-stall timeout and 408 on a late head; connection caps |
//! | `limits` | length caps on client-supplied strings kept in memory or stored |
//! | `signin_brake` | cluster-wide back-off on failed sign-ins |
//! | `client_addr` | the client address behind trusted reverse proxies (`X-Forwarded-For`) |
//! | `peer_auth` | the cluster secret: replicas sign what they forward to one another |
//! | `device_jobs` | which transcode jobs each (user, device) fetched, bounded |
//! | `body_timeout` | a request body not complete in time is answered 408 |
//! | `stores` | which backend serves each contract (the one file that changes with the store crates) |
//! | `startup` | opening the stores at start-up: `--wait-for-stores` backoff, errors naming store, hosts and what to check |
//! | `state` | what handlers share; the server id |
//! | `auth` | Jellyfin's authorization header (pure parsing) and the `Caller` extractor |
//! | `artwork` | posters and backdrops beside the media, frames of videos, resizing, caching |
//! | `live` | `/socket`: the WebSocket clients keep open; cluster events pushed to it |
//! | `dto` | Jellyfin's JSON shapes |
//! | `routes/*` | the API, one file per area |
//! | `readiness` | `/health/ready`'s verdict changes, logged once each |
//! | `metadata_cache` | items and user-independent pages answered from memory, changes spread on the event bus |
//! | `progress` | playback progress coalesced per session (one write per interval; start, stop and drain write through) |
//! | `drain` | SIGTERM: fail readiness, hand transcodes over, keep serving, then stop; a second signal exits |
//! | `scan`, `probe` | the lease-guarded library scan and what it learns per file |
//! | `triage` | which files the scan leaves out (FIFOs, empty, unreadable, undecodable), and why |
//! | `decision` | PlaybackInfo's verdict (`ha-transcode`'s decision, feature `transcode`) |
//! | `demo` | the generated demo library |
//! | `bootstrap` | the first administrator |
//! | `transcoder` | the seam the HLS routes call (`TranscodeManager` plugs in there) |
//! | `paths` | case-insensitive request paths (Jellyfin's routing ignores case) |
//! | `filters` | `Filters=IsPlayed,IsResumable,…` on listings (matched on the user's marks) |
//! | `error`, `timefmt` | the handlers' error type; Jellyfin's date format |
//! | `web` | the jellyfin-web client at `/web/` (`--web-dir`), or a page saying how to get one |

pub mod artwork;
pub mod auth;
pub mod body_timeout;
pub mod bootstrap;
pub mod client_addr;
pub mod cluster_gauges;
pub mod config;
pub mod conn_io;
pub mod conn_limit;
pub mod decision;
pub mod demo;
pub mod device_jobs;
pub mod drain;
pub mod dto;
pub mod error;
pub mod filters;
#[cfg(feature = "transcode")]
pub mod hls;
pub mod item_json;
pub mod library_file;
pub mod limits;
pub mod listing;
pub mod live;
pub mod metadata_cache;
pub mod paths;
pub mod peer_auth;
pub mod probe;
pub mod progress;
#[cfg(feature = "transcode")]
pub mod proxy;
pub mod readiness;
#[cfg(feature = "redis")]
pub mod redis_ca;
pub mod routes;
pub mod run;
pub mod scan;
pub mod serve;
pub mod session_limit;
pub mod signin_brake;
pub mod startup;
pub mod state;
pub mod stores;
pub mod stream_title;
pub mod telemetry;
pub mod timefmt;
pub mod transcoder;
pub mod triage;
pub mod user_config;
pub mod web;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::Router;
use media_ha::core::{BusMessage, EventPublisher};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use config::Config;

use crate::state::{AppState, Shared};
use crate::stores::Stores;

/// Why the server could not start.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    shutdown: watch::Sender<bool>,
    serve: JoinHandle<std::io::Result<()>>,
    background: Vec<JoinHandle<()>>,
}

impl Server {
    /// The address it listens on (the real port when the config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<local_addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared state (stores, scan trigger), for tests and embedding.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Starts the drain ([`drain`]): `/health/ready` fails from now on so load balancers
    /// stop sending traffic, and this replica's transcodes are handed over to the others
    /// (their leases released) in the background, while every request is still answered.
    /// Call [`shutdown`](Self::shutdown) when the drain window is over.
    pub fn start_drain(&self) {
        drain::start(&self.state);
    }

    /// Stops accepting connections, lets in-flight requests finish (for up to `grace`), shuts
    /// the transcoder down (its jobs' leases are released), stops the scan loop — releasing its
    /// lease too, so other replicas take over at once.
    pub async fn shutdown(self, grace: Duration) {
        // Sockets are not requests: close them now (1012), clients reconnect elsewhere.
        self.state.live.close_all();
        let _ = self.shutdown.send(true);
        match tokio::time::timeout(grace, self.serve).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => tracing::warn!(error = %err, "server ended with an error"),
            Ok(Err(err)) => tracing::warn!(error = %err, "server task failed"),
            Err(_) => tracing::warn!(
                ?grace,
                "requests still running after the grace period; dropping them"
            ),
        }
        // No request adds to it any more: the coalesced progress reports reach the stores.
        progress::flush_all(&self.state).await;
        if let Some(transcoder) = &self.state.transcoder {
            transcoder.shutdown(grace).await;
        }
        for task in self.background {
            if tokio::time::timeout(grace, task).await.is_err() {
                tracing::warn!("a background task did not stop in time");
            }
        }
        tracing::info!("server stopped");
    }
}

/// Opens the stores, prepares the library, binds `config.listen` and starts serving.
///
/// # Errors
/// When the data directory, a store or the listening socket cannot be opened.
pub async fn start(config: Config) -> Result<Server, StartError> {
    tokio::fs::create_dir_all(&config.data_dir).await?;
    if let Some(dir) = &config.web_dir {
        web::check_dir(dir)?;
    }
    let library_roots = if config.media.is_empty() {
        vec![demo::ensure_demo_library(&config.data_dir, 15).await]
    } else {
        config.media.clone()
    };
    let mut stores = startup::open_stores(&config).await?;
    if let Some(layer) = config.store_layer {
        stores = layer(stores);
    }
    bootstrap::ensure_admin(&stores, config.admin.as_ref()).await?;
    let server_id = state::server_id(&config)?;

    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let local_address = config
        .advertise
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    tracing::info!(%addr, node = %config.node_id, server_id = %server_id, stores = %stores.description, roots = ?library_roots, "media-ha reference server starting");

    telemetry::install();
    let transcoder = start_transcoder(&config, &stores, &local_address).await?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let (scanner, scan_loop) = scan::channel();
    let publisher = EventPublisher::new(stores.events.clone(), &config.node_id);
    let events = stores.events.clone();
    let session_cache = stores.session_cache.clone();
    let metadata_cache = stores.metadata_cache.clone();
    let artwork = artwork::Artwork::new(&config, stores.leases.clone());
    let live = live::Live::new(publisher.clone());
    let progress_interval = config.progress_interval;
    let state = AppState::new(Shared {
        server_name: format!("media-ha ({})", config.node_id),
        config,
        stores,
        server_id,
        local_address,
        library_roots,
        publisher,
        scanner,
        transcoder,
        readiness: Default::default(),
        artwork,
        live,
        draining: Default::default(),
        progress: progress::ProgressCoalescer::new(progress_interval),
        item_json: item_json::ItemJsonMemo::new(),
    });

    let mut background = vec![
        tokio::spawn(scan_loop.run(state.clone(), shutdown_rx.clone())),
        tokio::spawn(cluster_gauges::run(state.clone(), shutdown_rx.clone())),
        tokio::spawn(progress::run(state.clone(), shutdown_rx.clone())),
    ];
    match events.subscribe().await {
        Ok(sub) => background.push(tokio::spawn(log_events(sub, shutdown_rx.clone()))),
        Err(err) => tracing::warn!(error = %err, "cannot subscribe to cluster events"),
    }
    // Before serving: a change through another replica must reach this one's sockets.
    match events.subscribe().await {
        Ok(sub) => background.push(tokio::spawn(live::follow(
            state.live.hub.clone(),
            sub,
            shutdown_rx.clone(),
        ))),
        Err(err) => {
            tracing::warn!(error = %err, "cannot subscribe to cluster events: sockets get no pushes")
        }
    }
    // Before serving: a sign-out on another replica must reach the session cache.
    match events.subscribe().await {
        Ok(sub) => background.push(tokio::spawn(follow_revocations(
            session_cache,
            sub,
            shutdown_rx.clone(),
        ))),
        Err(err) => tracing::warn!(
            error = %err,
            "cannot subscribe to cluster events: sign-outs on other replicas take effect here only after the session cache's bound"
        ),
    }

    // Before serving: a change through another replica must reach the metadata cache.
    if let Some(cache) = metadata_cache {
        match events.subscribe().await {
            Ok(sub) => background.push(tokio::spawn(follow_metadata(
                cache,
                sub,
                shutdown_rx.clone(),
            ))),
            Err(err) => tracing::warn!(
                error = %err,
                "cannot subscribe to cluster events: changes on other replicas reach this one only after the metadata cache's bound"
            ),
        }
    }

    let app = app(state.clone());
    let limits = serve::ConnLimits {
        header_read_timeout: state.config.header_read_timeout,
        write_timeout: state.config.write_timeout,
        caps: conn_limit::ConnCaps {
            per_ip: state.config.max_connections_per_ip,
            total: state.config.max_connections,
        },
    };
    let serve = tokio::spawn(serve::serve(listener, app, limits, shutdown_rx));
    Ok(Server {
        addr,
        state,
        shutdown,
        serve,
        background,
    })
}

/// The HLS routes' transcoder: `ha-transcode`'s TranscodeManager running worker processes.
#[cfg(feature = "transcode")]
async fn start_transcoder(
    config: &Config,
    stores: &Stores,
    advertise: &str,
) -> Result<Option<std::sync::Arc<dyn transcoder::Transcoder>>, StartError> {
    use media_ha::transcode::worker::{WorkerCommand, RENDER_NODE_ENV};
    let mut worker = match &config.transcode_worker {
        Some((program, args)) => {
            let mut command = WorkerCommand::new(program);
            command.args = args.iter().map(Into::into).collect();
            command
        }
        None => WorkerCommand::current_exe([WORKER_FLAG])?,
    };
    // The workers probe and open the render node this replica was told to use.
    worker
        .env
        .push((RENDER_NODE_ENV.into(), config.render_node.clone().into()));
    let t = hls::ManagerTranscoder::start(config, stores, advertise, worker).await?;
    Ok(Some(std::sync::Arc::new(t)))
}

/// Without the `transcode` feature the server direct-plays only (HLS routes answer 501).
#[cfg(not(feature = "transcode"))]
async fn start_transcoder(
    _config: &Config,
    _stores: &Stores,
    _advertise: &str,
) -> Result<Option<std::sync::Arc<dyn transcoder::Transcoder>>, StartError> {
    Ok(None)
}

/// The first argument that makes the server binary run as a transcode worker process.
pub const WORKER_FLAG: &str = "--transcode-worker";

/// The routes with every layer: HTTP metrics, request id, tracing, CORS, timeout, body limit, and the
/// case-insensitive path rewrite (`paths.rs`), which runs before routing.
pub fn app(state: AppState) -> Router {
    let config = &state.config;
    let timeout = config.request_timeout;
    let max_body = config.max_body_bytes;
    let body_limits = body_timeout::BodyLimits {
        timeout: config.body_read_timeout,
        max_bytes: max_body,
    };
    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
        let request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
    });
    // Jellyfin allows any origin: web clients are often served from another host.
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .max_age(Duration::from_secs(3600));
    let routed = routes::router()
        .route_layer(axum::middleware::from_fn(telemetry::stamp_route))
        .with_state(state);
    // A layer on a router runs after its routing, so the rewrite sits on an outer router whose
    // only route is the inner one (as its fallback).
    let case = std::sync::Arc::new(paths::PathCase::from_templates(routes::templates()));
    Router::new()
        .fallback_service(routed)
        .layer(axum::middleware::map_request(
            move |req: Request<axum::body::Body>| {
                let case = case.clone();
                async move { canonical_path(&case, req) }
            },
        ))
        .layer(DefaultBodyLimit::max(max_body))
        // The handler's time: 503 when it does not answer in time (the body is read by then).
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        // The client's time: 408 when the body does not arrive in time (body_timeout.rs).
        .layer(axum::middleware::from_fn(move |req, next| {
            body_timeout::read_body_in_time(body_limits, req, next)
        }))
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(cors)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(axum::middleware::from_fn(telemetry::record_http))
}

/// `req` with its path in the routes' spelling (query untouched).
fn canonical_path(
    case: &paths::PathCase,
    mut req: Request<axum::body::Body>,
) -> Request<axum::body::Body> {
    let Some(path) = case.canonicalize(req.uri().path()) else {
        return req;
    };
    let path_and_query = match req.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = req.uri().clone().into_parts();
    match path_and_query.parse() {
        Ok(pq) => {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
        Err(err) => tracing::debug!(error = %err, "cannot rewrite the path; routing it as sent"),
    }
    req
}

/// Feeds the metadata cache the cluster's changes until shutdown.
async fn follow_metadata(
    cache: std::sync::Arc<metadata_cache::CachedMetadata>,
    mut sub: media_ha::core::Subscription,
    mut stop: watch::Receiver<bool>,
) {
    tokio::select! {
        () = cache.follow(&mut sub) => tracing::warn!("cluster event bus closed: changes elsewhere now reach this replica only after the metadata cache's bound"),
        _ = stop.wait_for(|s| *s) => {}
    }
}

/// Feeds the session cache the cluster's revocations until shutdown.
async fn follow_revocations(
    cache: std::sync::Arc<media_ha::core::session_cache::CachedSessionStore>,
    mut sub: media_ha::core::Subscription,
    mut stop: watch::Receiver<bool>,
) {
    tokio::select! {
        () = cache.follow(&mut sub) => tracing::warn!("cluster event bus closed: sign-outs elsewhere now reach this replica only after the session cache's bound"),
        _ = stop.wait_for(|s| *s) => {}
    }
}

/// The most of an event's payload written to the log.
const LOGGED_PAYLOAD: usize = 512;

/// Logs cluster events (the session cache follows them on its own subscription); a gap or
/// resync is logged so an operator sees a flaky bus.
async fn log_events(mut sub: media_ha::core::Subscription, mut stop: watch::Receiver<bool>) {
    loop {
        let msg = tokio::select! {
            m = sub.next() => m,
            _ = stop.wait_for(|s| *s) => return,
        };
        match msg {
            Some(BusMessage::Event(e)) => {
                // The payload may carry a client's text (a remote-control message): log its
                // start and its size, not all of it on every replica.
                let full = e.payload.to_string();
                let bytes = full.len();
                let payload = limits::cap(full, LOGGED_PAYLOAD);
                tracing::info!(topic = %e.topic, origin = %e.origin, seq = e.seq, bytes, %payload, "cluster event")
            }
            Some(BusMessage::Gap {
                origin,
                expected,
                received,
            }) => tracing::warn!(%origin, expected, received, "cluster events missed"),
            Some(BusMessage::Resync { reason }) => {
                tracing::warn!(%reason, "cluster event bus resync")
            }
            None => return,
        }
    }
}
