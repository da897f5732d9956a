//! An item's extras as jellyfin-web asks for them on an item's page and before playing:
//! `/Items/{id}/ThemeMedia` (theme songs and videos) and the legacy
//! `/Users/{userId}/Items/{id}/Intros` form of `/Items/{id}/Intros`.
//!
//! Why empty answers: this server's library has no extras, and the web client treats a 404 on
//! either as an error (the item page logs "failed to load theme media"; a play starts only
//! after its intros are known). Both still check the caller and the item: an unknown item is
//! a 404, as in Jellyfin.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::dto::QueryResult;
use crate::error::ApiResult;
use crate::routes::items::load_item;
use crate::routes::users::resolve_user;
use crate::state::AppState;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/Items/{item_id}/ThemeMedia", get(theme_media))
        .route("/Users/{user_id}/Items/{item_id}/Intros", get(user_intros))
}

/// `GET /Items/{id}/ThemeMedia`: no theme songs, videos or soundtracks.
async fn theme_media(
    State(state): State<AppState>,
    _caller: Caller,
    Path(item_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let item = load_item(&state, &item_id).await?;
    let none = json!({ "Items": [], "TotalRecordCount": 0, "StartIndex": 0, "OwnerId": item.id });
    Ok(Json(json!({
        "ThemeVideosResult": none,
        "ThemeSongsResult": none,
        "SoundtrackSongsResult": none,
    })))
}

/// `GET /Users/{userId}/Items/{id}/Intros`: no intros.
async fn user_intros(
    State(state): State<AppState>,
    caller: Caller,
    Path((user_id, item_id)): Path<(String, String)>,
) -> ApiResult<Json<QueryResult<Value>>> {
    resolve_user(&state, &caller, &user_id).await?;
    load_item(&state, &item_id).await?;
    Ok(Json(QueryResult {
        items: Vec::new(),
        total_record_count: 0,
        start_index: 0,
    }))
}
