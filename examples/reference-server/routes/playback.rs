//! PlaybackInfo and HLS: where playback meets the transcoder.
//!
//! Why the seam: `POST /Items/{id}/PlaybackInfo` tells a client how to play an item, and the HLS
//! routes serve transcodes that any replica may have produced. The playback decision (device
//! profile in, direct play / direct stream / transcode out) and the cluster-wide
//! `TranscodeManager` live in `ha-transcode` and are still being written. Until they land:
//!
//! * PlaybackInfo offers the file as it is (direct play / direct stream of the static file —
//!   real, not faked) and `SupportsTranscoding: false` unless a transcoder is wired;
//! * the HLS routes delegate to [`Transcoder`](crate::server::transcoder::Transcoder) when
//!   `Shared::transcoder` is set, and answer 501 otherwise. No segment is ever faked.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use media_ha::core::{ids, Item};
use serde_json::{json, Value};

use crate::server::auth::{query_map, Caller};
use crate::server::error::{ApiError, ApiResult};
use crate::server::routes::items::load_item;
use crate::server::state::AppState;
use crate::server::transcoder::{HlsRequest, Transcoder};

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/Items/{item_id}/PlaybackInfo",
            get(playback_info).post(playback_info),
        )
        .route("/Videos/{item_id}/master.m3u8", get(master))
        .route("/Videos/{item_id}/main.m3u8", get(main_playlist))
        .route(
            "/Videos/{item_id}/hls1/{playlist_id}/{segment}",
            get(segment),
        )
        .route("/Videos/ActiveEncodings", delete(stop_encodings))
}

/// Jellyfin's `MediaSourceInfo` for the file as it is.
fn media_source(state: &AppState, item: &Item) -> Value {
    let container = item.container.clone().unwrap_or_default();
    let direct_url = format!(
        "/Videos/{}/stream.{}?Static=true&MediaSourceId={}",
        item.id, container, item.id
    );
    json!({
        "Protocol": "File",
        "Id": item.id,
        "Type": "Default",
        "Container": container,
        "Size": item.size_bytes,
        "Name": item.name,
        "IsRemote": false,
        "ETag": item.id,
        "RunTimeTicks": item.runtime_ticks,
        "ReadAtNativeFramerate": false,
        "IgnoreDts": false,
        "IgnoreIndex": false,
        "GenPtsInput": false,
        "SupportsTranscoding": state.transcoder.is_some(),
        "SupportsDirectStream": true,
        "SupportsDirectPlay": true,
        "IsInfiniteStream": false,
        "RequiresOpening": false,
        "RequiresClosing": false,
        "RequiresLooping": false,
        "SupportsProbing": true,
        "MediaStreams": [],
        "MediaAttachments": [],
        "Formats": [],
        "DirectStreamUrl": direct_url,
        "TranscodingSubProtocol": "http",
    })
}

async fn playback_info(
    State(state): State<AppState>,
    _caller: Caller,
    Path(item_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let item = load_item(&state, &item_id).await?;
    if item.kind.is_folder() {
        return Err(ApiError::bad_request(format!(
            "item {item_id} is a folder, not playable"
        )));
    }
    Ok(Json(json!({
        "MediaSources": [media_source(&state, &item)],
        "PlaySessionId": ids::new_id(),
    })))
}

/// The wired transcoder, or 501.
fn transcoder(state: &AppState) -> ApiResult<&dyn Transcoder> {
    state.transcoder.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "transcoding is not available on this server; use the static stream",
        )
    })
}

async fn hls_request(
    state: &AppState,
    caller: &Caller,
    item_id: &str,
    uri: &Uri,
) -> ApiResult<HlsRequest> {
    let item = load_item(state, item_id).await?;
    let params = query_map(uri.query());
    Ok(HlsRequest {
        item,
        user_id: caller.user.id.clone(),
        device_id: params
            .get("deviceid")
            .cloned()
            .unwrap_or_else(|| caller.session.device_id.clone()),
        play_session_id: params.get("playsessionid").cloned(),
        params,
    })
}

fn playlist(body: String) -> Response {
    (
        [(header::CONTENT_TYPE, "application/vnd.apple.mpegurl")],
        body,
    )
        .into_response()
}

async fn master(
    State(s): State<AppState>,
    c: Caller,
    Path(item_id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let t = transcoder(&s)?;
    let req = hls_request(&s, &c, &item_id, &uri).await?;
    Ok(playlist(t.master_playlist(&req).await?))
}

async fn main_playlist(
    State(s): State<AppState>,
    c: Caller,
    Path(item_id): Path<String>,
    uri: Uri,
) -> ApiResult<Response> {
    let t = transcoder(&s)?;
    let req = hls_request(&s, &c, &item_id, &uri).await?;
    Ok(playlist(t.media_playlist(&req).await?))
}

async fn segment(
    State(s): State<AppState>,
    c: Caller,
    Path((item_id, _playlist_id, segment)): Path<(String, String, String)>,
    uri: Uri,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    let t = transcoder(&s)?;
    let index: u32 = segment
        .split_once('.')
        .map_or(segment.as_str(), |(n, _)| n)
        .parse()
        .map_err(|_| ApiError::bad_request(format!("segment {segment:?} is not <number>.<ext>")))?;
    let req = hls_request(&s, &c, &item_id, &uri).await?;
    let path = t.segment(&req, index).await?;
    use tower::ServiceExt;
    let response = tower_http::services::ServeFile::new(path)
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    Ok(response.map(axum::body::Body::new))
}

async fn stop_encodings(State(s): State<AppState>, c: Caller, uri: Uri) -> ApiResult<StatusCode> {
    let params = query_map(uri.query());
    let device_id = params
        .get("deviceid")
        .cloned()
        .unwrap_or_else(|| c.session.device_id.clone());
    if let Some(t) = s.transcoder.as_deref() {
        t.stop(&device_id, params.get("playsessionid").map(String::as_str))
            .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
