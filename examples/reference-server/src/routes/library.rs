//! Library maintenance requests.
//!
//! `POST /Library/Refresh` only *asks* for a scan: the scan loop runs it when this replica can
//! take the `library-scan` lease (see `scan.rs`), so a refresh clicked on every replica at once
//! still scans once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::AppState;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new().route("/Library/Refresh", post(refresh))
}

async fn refresh(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    caller.ensure_admin()?;
    tracing::info!(user = %caller.user.name, "library refresh requested");
    state.scanner.trigger();
    Ok(StatusCode::NO_CONTENT)
}
