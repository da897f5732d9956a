//! Liveness, readiness and what a client asks before signing in.
//!
//! Why readiness checks every store: a replica that cannot reach Redis or Postgres answers
//! nothing useful, so the load balancer should stop sending it traffic (503) while `/health`
//! (liveness) stays `Healthy` — restarting the process would not bring the store back. Each
//! change of verdict is logged once (`readiness`), not every probe.

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
use crate::readiness::Transition;
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
    let s = &state.stores;
    let limit = Duration::from_secs(3);
    // Concurrently: a hung store costs one timeout, not one per check.
    let (leases, metadata, sessions, jobs, slots) = tokio::join!(
        check(limit, async { s.leases.current("health").await.map(drop) }),
        check(limit, async { s.metadata.list_users().await.map(drop) }),
        check(limit, async { s.sessions.get("health").await.map(drop) }),
        check(limit, async { s.jobs.get("health").await.map(drop) }),
        check(limit, async { s.slots.in_use("health").await.map(drop) }),
    );
    let checks = [
        ("leases", leases),
        ("metadata", metadata),
        ("sessions", sessions),
        ("jobs", jobs),
        ("slots", slots),
    ];
    let failing: Vec<&str> = checks
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(name, _)| *name)
        .collect();
    let failures: Vec<String> = checks
        .iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}")))
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
    if failures.is_empty() {
        (StatusCode::OK, "Healthy".to_owned())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Unhealthy: {}", failures.join("; ")),
        )
    }
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

async fn info(State(state): State<AppState>, _caller: Caller) -> Json<Value> {
    let mut value = public_info_value(&state);
    if let Some(map) = value.as_object_mut() {
        map.insert("OperatingSystemDisplayName".into(), json!("Linux"));
        map.insert("HasPendingRestart".into(), json!(false));
        map.insert("IsShuttingDown".into(), json!(false));
        map.insert("SupportsLibraryMonitor".into(), json!(false));
        map.insert("CanSelfRestart".into(), json!(false));
        map.insert("CanLaunchWebBrowser".into(), json!(false));
        map.insert("HasUpdateAvailable".into(), json!(false));
        map.insert(
            "TranscodingTempPath".into(),
            json!(state.config.transcode_dir),
        );
        map.insert(
            "WebSocketPortNumber".into(),
            json!(state.config.listen.port()),
        );
        map.insert("EncoderLocation".into(), json!("System"));
        map.insert("SystemArchitecture".into(), json!(std::env::consts::ARCH));
        map.insert("NodeId".into(), json!(state.config.node_id));
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
