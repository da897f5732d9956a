//! Liveness, readiness and what a client asks before signing in.
//!
//! Readiness checks every store, but what it answers while one fails depends on whose
//! failure it is (`readiness::verdict`): a shared store (Redis, PostgreSQL) that is down is down
//! for every replica, so by default the replica stays ready (200 `Degraded`, naming the store)
//! and requests that need the store answer 503 with `Retry-After`; a store of this replica
//! alone (in-process metadata on its disk) makes it unready (503), so the load balancer sends
//! its traffic to the others. `--readiness-policy strict` makes every failure 503. `/health`
//! (liveness) stays `Healthy` throughout: restarting the process would not bring a store back.
//! Each change of verdict is logged once (`readiness`), not every probe.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::auth::Caller;
use crate::dto::JELLYFIN_VERSION;
use crate::readiness::{verdict, StoreCheck, Transition, Verdict};
use crate::state::AppState;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route("/System/Info/Public", get(public_info))
        .route("/System/Info", get(info))
        .route("/System/Ping", get(ping).post(ping))
        .route("/Branding/Configuration", get(branding))
        .route("/QuickConnect/Enabled", get(quick_connect))
        .route("/Users/Public", get(public_users))
}

async fn health() -> &'static str {
    "Healthy"
}

async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    // SIGTERM: out of the load balancer's rotation at once, before any store check.
    if state.draining.load(std::sync::atomic::Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Draining: shutting down".to_owned(),
        );
    }
    let checks = check_stores(&state).await;
    let failing: Vec<&str> = checks
        .iter()
        .filter(|c| c.error.is_some())
        .map(|c| c.name)
        .collect();
    let failures: Vec<String> = checks
        .iter()
        .filter_map(|c| c.error.as_ref().map(|e| format!("{}: {e}", c.name)))
        .collect();
    match state.readiness.observe(Instant::now(), &failing) {
        Transition::StillUp => {}
        Transition::Down => tracing::warn!(?failures, "not ready: a store does not answer"),
        Transition::StillDown { changed: true } => {
            tracing::warn!(?failures, "still not ready; other stores fail now")
        }
        Transition::StillDown { changed: false } => tracing::debug!(?failures, "still not ready"),
        Transition::Up { after } => tracing::info!(
            down_for = ?after,
            "ready again: every store answers"
        ),
    }
    match verdict(state.config.readiness_policy, &checks) {
        Verdict::Ready => (StatusCode::OK, "Healthy".to_owned()),
        // Every replica sees a shared store's outage: staying in the pool serves what works
        // without it, and the rest answers 503 with Retry-After (see `readiness::ReadinessPolicy`).
        Verdict::Degraded => (
            StatusCode::OK,
            format!(
                "Degraded: {} (shared; requests that need it answer 503 with Retry-After)",
                failures.join("; ")
            ),
        ),
        Verdict::NotReady => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Unhealthy: {}", failures.join("; ")),
        ),
    }
}

/// Every contract's store asked once, concurrently (a hung store costs one 3 s timeout, not one
/// per check): what `/health/ready` decides on and what `/metrics` reports as
/// `media_ha_store_up`.
pub(crate) async fn check_stores(state: &AppState) -> [StoreCheck; 5] {
    let s = &state.stores;
    let limit = Duration::from_secs(3);
    let (leases, metadata, sessions, jobs, slots) = tokio::join!(
        check(limit, async { s.leases.current("health").await.map(drop) }),
        check(limit, async { s.metadata.list_users().await.map(drop) }),
        check(limit, async { s.sessions.get("health").await.map(drop) }),
        check(limit, async { s.jobs.get("health").await.map(drop) }),
        check(limit, async { s.slots.in_use("health").await.map(drop) }),
    );
    // Which contracts a shared store serves (stores.rs): metadata only with PostgreSQL, the
    // others with either Redis or PostgreSQL.
    let urls = &state.config.stores;
    let shared = urls.is_shared();
    let store_check = |name, shared, r: Result<(), String>| StoreCheck {
        name,
        shared,
        error: r.err(),
    };
    [
        store_check("leases", shared, leases),
        store_check("metadata", urls.postgres.is_some(), metadata),
        store_check("sessions", shared, sessions),
        store_check("jobs", shared, jobs),
        store_check("slots", shared, slots),
    ]
}

async fn check(
    limit: Duration,
    f: impl std::future::Future<Output = media_ha::core::Result<()>>,
) -> Result<(), String> {
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {limit:?}")),
    }
}

fn public_info_value(state: &AppState) -> Value {
    json!({
        "LocalAddress": state.local_address,
        "ServerName": state.server_name,
        "Version": JELLYFIN_VERSION,
        "ProductName": "Jellyfin Server",
        "OperatingSystem": "Linux",
        "Id": state.server_id,
        "StartupWizardCompleted": true,
    })
}

async fn public_info(State(state): State<AppState>) -> Json<Value> {
    Json(public_info_value(&state))
}

/// `GET /System/Info`. Where this replica keeps transcodes and which node answered are for
/// administrators only (issue 20: a non-admin learned nothing they need from them, and a path
/// and a node name help an attacker aim).
async fn info(State(state): State<AppState>, caller: Caller) -> Json<Value> {
    let mut value = public_info_value(&state);
    if let Some(map) = value.as_object_mut() {
        map.insert("OperatingSystemDisplayName".into(), json!("Linux"));
        map.insert("HasPendingRestart".into(), json!(false));
        map.insert("IsShuttingDown".into(), json!(false));
        map.insert("SupportsLibraryMonitor".into(), json!(false));
        map.insert("CanSelfRestart".into(), json!(false));
        map.insert("CanLaunchWebBrowser".into(), json!(false));
        map.insert("HasUpdateAvailable".into(), json!(false));
        if caller.user.is_admin {
            map.insert(
                "TranscodingTempPath".into(),
                json!(state.config.transcode_dir),
            );
            map.insert("NodeId".into(), json!(state.config.node_id));
        }
        map.insert(
            "WebSocketPortNumber".into(),
            json!(state.config.listen.port()),
        );
        map.insert("EncoderLocation".into(), json!("System"));
        map.insert("SystemArchitecture".into(), json!(std::env::consts::ARCH));
    }
    Json(value)
}

async fn ping(State(state): State<AppState>) -> String {
    state.server_name.clone()
}

async fn branding() -> Json<Value> {
    Json(json!({ "LoginDisclaimer": "", "CustomCss": "", "SplashscreenEnabled": false }))
}

async fn quick_connect() -> Json<bool> {
    Json(false)
}

/// Users are hidden from the sign-in screen: names are typed.
async fn public_users() -> Json<Vec<Value>> {
    Json(Vec::new())
}
