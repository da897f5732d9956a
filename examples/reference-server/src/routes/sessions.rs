//! Playback reports and the session list.
//!
//! Why the resume rules are a pure function ([`on_stop`]): they decide what "Continue watching"
//! shows and are the same as Jellyfin's defaults — stopping past 90 % marks the item played
//! (play count + 1, position reset); stopping before 5 % keeps no resume point; anything in
//! between is the resume point. Progress reports only move the position; they never mark
//! played (a client seeking to the end and back must not count as a view).

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use media_ha::core::{NewActivity, NowPlaying, UserItemData};
use serde::Deserialize;
use serde_json::Value;

use crate::auth::{query_map, Caller};
use crate::dto::{session_dto, BaseItemDto, JsonBody, PlaybackReport, UserItemDataDto};
use crate::error::{ApiError, ApiResult};
use crate::limits::{cap_opt, MAX_ID};
use crate::live::LiveEvent;
use crate::progress::{self, Decision, Report, SessionWrite};
use crate::routes::items::{load_item, user_data};
use crate::state::AppState;
use crate::timefmt::now_ms;

/// Past this share of the runtime, stopping marks the item played.
pub const MAX_RESUME_PCT: f64 = 0.90;
/// Before this share of the runtime, stopping keeps no resume point.
pub const MIN_RESUME_PCT: f64 = 0.05;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/Sessions/Playing", post(started))
        .route("/Sessions/Playing/Progress", post(progress))
        .route("/Sessions/Playing/Stopped", post(stopped))
        .route("/Sessions/Playing/Ping", post(ping))
        .route("/Sessions", get(list))
        .route("/Sessions/Capabilities", post(capabilities))
        .route("/Sessions/Capabilities/Full", post(capabilities_full))
}

/// `POST /Sessions/Capabilities/Full`: what a client can play and be told (the fields checked,
/// the rest of Jellyfin's `ClientCapabilitiesDto` ignored).
#[derive(Debug, Deserialize)]
#[allow(dead_code)] // checked for shape; see `capabilities_full`
struct CapabilitiesBody {
    #[serde(rename = "playablemediatypes", default)]
    playable_media_types: Option<Vec<String>>,
    #[serde(rename = "supportedcommands", default)]
    supported_commands: Option<Vec<String>>,
    #[serde(rename = "supportsmediacontrol", default)]
    supports_media_control: Option<bool>,
    #[serde(rename = "supportspersistentidentifier", default)]
    supports_persistent_identifier: Option<bool>,
    #[serde(rename = "deviceprofile", default)]
    device_profile: Option<Value>,
}

/// `POST /Sessions/Capabilities?playableMediaTypes=&supportedCommands=...`: jellyfin-web posts
/// this (and `/Full`) right after sign-in and stops on an error. Acknowledged: remote control
/// here goes through the live channel (`routes/remote.rs`), which every client that can be
/// controlled opens, so the capabilities are not kept.
async fn capabilities(_caller: Caller) -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `POST /Sessions/Capabilities/Full`: as [`capabilities`], the body checked (malformed: 400).
async fn capabilities_full(
    _caller: Caller,
    JsonBody(_body): JsonBody<CapabilitiesBody>,
) -> StatusCode {
    StatusCode::NO_CONTENT
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Progress,
    Stop,
}

/// The user's data after playback stopped at `position` of an item `runtime` long.
pub fn on_stop(
    mut data: UserItemData,
    position: i64,
    runtime: Option<i64>,
    now: u64,
) -> UserItemData {
    data.last_played_ms = Some(now);
    match runtime.filter(|r| *r > 0) {
        Some(r) if position as f64 >= r as f64 * MAX_RESUME_PCT => {
            data.played = true;
            data.play_count = data.play_count.saturating_add(1);
            data.position_ticks = 0;
        }
        Some(r) if (position as f64) < r as f64 * MIN_RESUME_PCT => data.position_ticks = 0,
        _ => data.position_ticks = position,
    }
    data
}

async fn report(
    state: &AppState,
    caller: Caller,
    body: PlaybackReport,
    phase: Phase,
) -> ApiResult<StatusCode> {
    let raw_item = body
        .item_id
        .as_deref()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("ItemId is required"))?;
    let item = load_item(state, raw_item).await?;
    if body.position_ticks.is_some_and(|p| p < 0) {
        return Err(ApiError::bad_request("PositionTicks must not be negative"));
    }
    // A start or stop first waits for a deferred write of this session that is under way,
    // then takes out what was pending (`progress/mod.rs`): nothing older lands after it.
    let hash = caller.session.token_hash.clone();
    let finished = match phase {
        Phase::Progress => None,
        Phase::Start | Phase::Stop => state.progress.finish(&hash).await,
    };
    // The newest state of this session is the one a report still waiting here left, if any
    // (the cached copy lags while reports are coalesced).
    let base = match &finished {
        Some(pending) => pending.session.clone(),
        None => state
            .progress
            .pending_session(&hash)
            .unwrap_or_else(|| caller.session.clone()),
    };
    let previous = base.now_playing.as_ref().filter(|np| np.item_id == item.id);
    let position = body
        .position_ticks
        .or_else(|| previous.map(|np| np.position_ticks))
        .unwrap_or(0);

    let mut session = base.clone();
    session.last_activity_ms = now_ms();
    session.now_playing = match phase {
        Phase::Stop => None,
        Phase::Start | Phase::Progress => Some(NowPlaying {
            item_id: item.id.clone(),
            // Stored in the session: cut to size (limits.rs).
            play_session_id: cap_opt(body.play_session_id.clone(), MAX_ID)
                .or_else(|| previous.and_then(|p| p.play_session_id.clone())),
            media_source_id: cap_opt(body.media_source_id.clone(), MAX_ID)
                .or_else(|| previous.and_then(|p| p.media_source_id.clone())),
            position_ticks: position,
            is_paused: body.is_paused.unwrap_or(false),
        }),
    };
    if phase == Phase::Progress {
        // Coalesced (`progress/mod.rs`): the first report of the session and one per interval
        // are written now, the rest by the flusher.
        let report = Report {
            session: session.clone(),
            item_id: item.id.clone(),
            runtime_ticks: item.runtime_ticks,
            position_ticks: body.position_ticks,
            at_ms: session.last_activity_ms,
        };
        let (decision, displaced) = state.progress.report(report.clone());
        if let Some(displaced) = displaced {
            // The session moved to another item: the last position on the old one is kept.
            progress::write(state, &displaced, SessionWrite::Skip).await?;
        }
        if decision == Decision::Write
            && !progress::write(state, &report, SessionWrite::Required).await?
        {
            return Err(ApiError::unauthorized("the session was signed out"));
        }
        return Ok(StatusCode::NO_CONTENT);
    }
    // A start or stop supersedes what was pending for the same item; a report on another
    // item still holds that item's resume point, written first.
    if let Some(pending) = finished.filter(|p| p.item_id != item.id) {
        progress::write(state, &pending, SessionWrite::Skip).await?;
    }
    // Only a session still live is written: a report in flight while the client signs out
    // must not bring the token back (`update` never creates a session).
    let live = state
        .stores
        .sessions
        .update(&session, state.config.session_ttl())
        .await?;
    if !live {
        return Err(ApiError::unauthorized("the session was signed out"));
    }

    let now = now_ms();
    let mut data = user_data(state, &caller.user.id, &item.id).await?;
    match phase {
        Phase::Start => data.last_played_ms = Some(now),
        // Returned above.
        Phase::Progress => {}
        Phase::Stop => data = on_stop(data, position, item.runtime_ticks, now),
    }
    state.stores.metadata.put_user_data(&data).await?;
    // The user's other clients (resume rows, played marks) and session watchers hear of it.
    let dto = UserItemDataDto::new(&data, item.runtime_ticks);
    state
        .live
        .publish(LiveEvent::UserData {
            user_id: caller.user.id.clone(),
            data: vec![serde_json::json!(dto)],
        })
        .await;
    state.live.publish(LiveEvent::Sessions).await;

    {
        let (kind, verb) = match phase {
            Phase::Start => ("VideoPlayback", "started"),
            _ => ("VideoPlaybackStopped", "stopped"),
        };
        let entry = NewActivity {
            at_ms: now,
            user_id: Some(caller.user.id.clone()),
            kind: kind.into(),
            message: format!(
                "{} {verb} playing {} on {}",
                caller.user.name, item.name, session.device_name
            ),
        };
        if let Err(err) = state.stores.metadata.append_activity(&entry).await {
            tracing::warn!(error = %err, "could not append to the activity log");
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn started(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(b): JsonBody<PlaybackReport>,
) -> ApiResult<StatusCode> {
    report(&s, c, b, Phase::Start).await
}

async fn progress(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(b): JsonBody<PlaybackReport>,
) -> ApiResult<StatusCode> {
    report(&s, c, b, Phase::Progress).await
}

async fn stopped(
    State(s): State<AppState>,
    c: Caller,
    JsonBody(b): JsonBody<PlaybackReport>,
) -> ApiResult<StatusCode> {
    report(&s, c, b, Phase::Stop).await
}

/// Keeps the session alive (the `Caller` extractor already touched it).
async fn ping(_caller: Caller) -> StatusCode {
    StatusCode::NO_CONTENT
}

/// Live sessions: all for an administrator, the caller's own otherwise.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Json<Vec<Value>>> {
    let params = query_map(uri.query());
    let active_within_ms = params
        .get("activewithinseconds")
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                ApiError::bad_request("ActiveWithinSeconds must be a non-negative integer")
            })
        })
        .transpose()?
        .map(|s| s.saturating_mul(1000));
    let now = now_ms();
    let mut out = Vec::new();
    for session in state.stores.sessions.list().await? {
        if !caller.user.is_admin && session.user_id != caller.user.id {
            continue;
        }
        if params
            .get("deviceid")
            .is_some_and(|d| *d != session.device_id)
        {
            continue;
        }
        if active_within_ms.is_some_and(|w| now.saturating_sub(session.last_activity_ms) > w) {
            continue;
        }
        let now_playing = match &session.now_playing {
            Some(np) => match state.stores.metadata.get_item(&np.item_id).await? {
                Some(item) => {
                    let data = user_data(&state, &session.user_id, &item.id).await?;
                    Some(BaseItemDto::new(&item, &state.server_id, &data))
                }
                None => None,
            },
            None => None,
        };
        out.push(session_dto(&session, &state.server_id, now_playing));
    }
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_rules() {
        let empty = UserItemData::empty("u", "i");
        let near_end = on_stop(empty.clone(), 95, Some(100), 1);
        assert!(near_end.played);
        assert_eq!((near_end.play_count, near_end.position_ticks), (1, 0));
        let early = on_stop(empty.clone(), 4, Some(100), 1);
        assert!(!early.played);
        assert_eq!(early.position_ticks, 0);
        let middle = on_stop(empty.clone(), 50, Some(100), 1);
        assert_eq!(
            (middle.played, middle.position_ticks, middle.last_played_ms),
            (false, 50, Some(1))
        );
        let unknown = on_stop(empty, 7, None, 1);
        assert_eq!(unknown.position_ticks, 7);
    }
}
