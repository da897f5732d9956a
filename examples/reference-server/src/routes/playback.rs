//! PlaybackInfo and HLS: where playback meets the transcoder.
//!
//! Why the seam: `POST /Items/{id}/PlaybackInfo` tells a client how to play an item, and the HLS
//! routes serve transcodes that any replica may have produced. The playback decision (device
//! profile in, direct play / direct stream / transcode out) and the cluster-wide
//! `TranscodeManager` live in `ha-transcode`:
//!
//! * PlaybackInfo runs `ha-transcode`'s decision when built with `transcode` (see
//!   `decision.rs`): direct play gets the static `DirectStreamUrl`; otherwise a
//!   `TranscodingUrl` to `master.m3u8` is offered *only when a transcoder is wired*
//!   (`SupportsTranscoding` says which);
//! * the HLS routes delegate to [`Transcoder`](crate::transcoder::Transcoder) when
//!   `Shared::transcoder` is set, and answer 501 otherwise. No segment is ever faked.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use media_ha::core::{ids, Item};
use serde_json::{json, Map, Value};

use crate::auth::{credentials, query_map, Caller};
use crate::decision::{decide, encode, media_streams, Verdict};
use crate::device_jobs::StopScope;
use crate::dto::{decode_body, ItemFields};
use crate::error::{ApiError, ApiResult};
use crate::item_json::{ItemJson, ItemMedia, RawJson};
use crate::limits::{cap, cap_opt, MAX_ID};
use crate::peer_auth::{canonical_target, FORWARDED_HEADER};
use crate::routes::items::load_item;
use crate::state::AppState;
use crate::transcoder::{HlsRequest, SegmentId, Transcoder};

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

/// Jellyfin's `MediaSourceInfo` for `item` with the decision's `verdict`.
fn media_source(
    state: &AppState,
    item: &Item,
    verdict: &Verdict,
    play_session_id: &str,
    token: Option<&str>,
    streams: &RawJson,
) -> Value {
    let container = item.container.clone().unwrap_or_default();
    let direct_url = format!(
        "/Videos/{}/stream.{}?Static=true&MediaSourceId={}",
        item.id, container, item.id
    );
    let can_transcode = state.transcoder.is_some();
    let mut source = json!({
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
        "SupportsTranscoding": can_transcode,
        "SupportsDirectStream": verdict.direct_play,
        "SupportsDirectPlay": verdict.direct_play,
        "IsInfiniteStream": false,
        "RequiresOpening": false,
        "RequiresClosing": false,
        "RequiresLooping": false,
        "SupportsProbing": true,
        "MediaStreams": streams,
        "MediaAttachments": [],
        "Formats": [],
        "TranscodeReasons": verdict.reasons,
    });
    if let Some(map) = source.as_object_mut() {
        if verdict.direct_play {
            map.insert("DirectStreamUrl".into(), json!(direct_url));
        }
        if let (Some(query), true) = (&verdict.transcode_query, can_transcode) {
            let mut url = format!(
                "/Videos/{}/master.m3u8?MediaSourceId={}&PlaySessionId={play_session_id}&{query}",
                item.id, item.id
            );
            if let Some(token) = token {
                url.push_str(&format!("&api_key={}", encode(token)));
            }
            map.insert("TranscodingUrl".into(), json!(url));
            map.insert("TranscodingSubProtocol".into(), json!("hls"));
            let container = if verdict.fmp4 { "mp4" } else { "ts" };
            map.insert("TranscodingContainer".into(), json!(container));
        }
    }
    source
}

/// The `MediaSources` and `MediaStreams` of an item's DTO (its page, or a listing with
/// `Fields=MediaSources`): the one file as Jellyfin describes it, offered for direct play, built
/// once per item version (`item_json.rs`). Whether a client may really play it directly, and
/// the transcode URL when not, is what PlaybackInfo decides with the client's device profile.
pub fn item_media(state: &AppState, item: &Item) -> ItemMedia {
    let json = state
        .item_json
        .get(item, || ItemFields::new(item, &state.server_id));
    media_of(state, &json, item)
}

/// [`item_media`] from the item's finished JSON (`json`, of `item`).
pub fn media_of(state: &AppState, json: &ItemJson, item: &Item) -> ItemMedia {
    state
        .item_json
        .media(json, || {
            let streams = RawJson::new(&media_streams(item));
            let source = media_source(state, item, &Verdict::direct(), "", None, &streams);
            ItemMedia {
                sources: RawJson::new(&[source]),
                streams,
            }
        })
        .clone()
}

async fn playback_info(
    State(state): State<AppState>,
    _caller: Caller,
    Path(item_id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let body: Map<String, Value> = decode_body(&body)?;
    let query = query_map(uri.query());
    let item = load_item(&state, &item_id).await?;
    if item.kind.is_folder() {
        return Err(ApiError::bad_request(format!(
            "item {item_id} is a folder, not playable"
        )));
    }
    let verdict = decide(&item, &body, &query).map_err(ApiError::bad_request)?;
    let play_session_id = ids::new_id();
    let token = credentials(&headers, &query).token;
    let streams = item_media(&state, &item).streams.clone();
    let source = media_source(
        &state,
        &item,
        &verdict,
        &play_session_id,
        token.as_deref(),
        &streams,
    );
    Ok(Json(json!({
        "MediaSources": [source],
        "PlaySessionId": play_session_id,
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
    request_for(
        state,
        &caller.user.id,
        &caller.session.device_id,
        item_id,
        uri,
    )
    .await
}

/// The HLS request of `user_id` (whose session's device is `session_device`) for `item_id`.
async fn request_for(
    state: &AppState,
    user_id: &str,
    session_device: &str,
    item_id: &str,
    uri: &Uri,
) -> ApiResult<HlsRequest> {
    let item = load_item(state, item_id).await?;
    let params = query_map(uri.query());
    Ok(HlsRequest {
        item,
        user_id: user_id.to_owned(),
        // Client input kept in memory (the device map): cut to size (limits.rs).
        device_id: cap(
            params
                .get("deviceid")
                .cloned()
                .unwrap_or_else(|| session_device.to_owned()),
            MAX_ID,
        ),
        play_session_id: cap_opt(params.get("playsessionid").cloned(), MAX_ID),
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

/// A segment: for a signed-in caller, or for the viewer another replica vouched for (the
/// forwarded request carries the cluster's signature instead of the viewer's token, see
/// `peer_auth.rs`).
async fn segment(
    State(s): State<AppState>,
    Path((item_id, _playlist_id, segment)): Path<(String, String, String)>,
    uri: Uri,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    let t = transcoder(&s)?;
    let id = SegmentId::parse(&segment).ok_or_else(|| {
        ApiError::bad_request(format!("segment {segment:?} is not <number>.<ext>"))
    })?;
    let (mut parts, body) = request.into_parts();
    let (user_id, session_device) = if parts.headers.contains_key(FORWARDED_HEADER) {
        let target = canonical_target(uri.path(), &query_map(uri.query()));
        let user_id = t.vouch(&parts.headers, &target)?;
        let user = s
            .stores
            .metadata
            .get_user(&user_id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the viewer no longer exists"))?;
        (user.id, String::new())
    } else {
        let caller = Caller::from_request_parts(&mut parts, &s).await?;
        (caller.user.id, caller.session.device_id)
    };
    let req = request_for(&s, &user_id, &session_device, &item_id, &uri).await?;
    t.segment_response(&req, id, axum::extract::Request::from_parts(parts, body))
        .await
}

async fn stop_encodings(State(s): State<AppState>, c: Caller, uri: Uri) -> ApiResult<StatusCode> {
    let params = query_map(uri.query());
    let device_id = params
        .get("deviceid")
        .cloned()
        .unwrap_or_else(|| c.session.device_id.clone());
    if let Some(t) = s.transcoder.as_deref() {
        // Only the caller's own device's jobs, unless the caller is an administrator.
        let scope = StopScope {
            user_id: &c.user.id,
            is_admin: c.user.is_admin,
        };
        t.stop(
            scope,
            &device_id,
            params.get("playsessionid").map(String::as_str),
        )
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
