//! The live channel's routes: `/socket`, and remote control of another session.
//!
//! Remote control (`POST /Sessions/{id}/Playing/{command}`, `/Command`, `/Message`, …) is how
//! one Jellyfin client drives another: the web client's "play on" menu, a phone pausing the
//! TV. The command travels as a [`LiveEvent::Command`] on the cluster bus and is delivered by
//! whichever replica holds the target's socket, so the two clients may sit on different
//! replicas. Like Jellyfin, the answer is `204` whether or not the target is connected; a
//! session that does not exist is `404`, one of another user is `403` unless the caller is an
//! administrator. A command's data is capped ([`MAX_COMMAND_BYTES`], `413` above it): each one
//! is queued for every socket of the target session on every replica.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::Router;
use media_ha::core::Session;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::{query_map, Caller};
use crate::dto::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::live::events::SessionCommand;
use crate::live::protocol::MAX_COMMAND_BYTES;
use crate::live::socket::upgrade;
use crate::live::LiveEvent;
use crate::state::AppState;

/// Jellyfin's `PlaystateCommand` names.
const PLAYSTATE: &[&str] = &[
    "Stop",
    "Pause",
    "Unpause",
    "NextTrack",
    "PreviousTrack",
    "Seek",
    "Rewind",
    "FastForward",
    "PlayPause",
];
/// Jellyfin's `PlayCommand` names.
const PLAY: &[&str] = &[
    "PlayNow",
    "PlayNext",
    "PlayLast",
    "PlayInstantMix",
    "PlayShuffle",
];

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/socket", get(upgrade))
        .route("/embywebsocket", get(upgrade))
        .route("/Sessions/{session_id}/Playing", post(play))
        .route("/Sessions/{session_id}/Playing/{command}", post(playstate))
        .route("/Sessions/{session_id}/Command", post(general_full))
        .route("/Sessions/{session_id}/Command/{command}", post(general))
        .route("/Sessions/{session_id}/System/{command}", post(general))
        .route("/Sessions/{session_id}/Message", post(message))
}

/// The target session, if the caller may control it.
async fn target(state: &AppState, caller: &Caller, session_id: &str) -> ApiResult<Session> {
    let session = state
        .stores
        .sessions
        .list()
        .await?
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(session_id))
        .ok_or_else(|| ApiError::not_found(format!("no session {session_id}")))?;
    if session.user_id != caller.user.id && !caller.user.is_admin {
        return Err(ApiError::forbidden(
            "only an administrator may control another user's session",
        ));
    }
    Ok(session)
}

/// Publishes a command for `session`; `413` when its `Data` is over [`MAX_COMMAND_BYTES`]
/// (every replica queues it for each of the session's sockets, see `live/hub.rs`).
async fn send(
    state: &AppState,
    session: &Session,
    message_type: &str,
    data: Value,
) -> ApiResult<StatusCode> {
    let size = data.to_string().len();
    if size > MAX_COMMAND_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a command is at most {MAX_COMMAND_BYTES} bytes of JSON; this one is {size}"),
        ));
    }
    state
        .live
        .publish(LiveEvent::Command(SessionCommand {
            session_id: session.id.clone(),
            message_type: message_type.to_owned(),
            data,
        }))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The canonical spelling of `name` among `names`, ignoring case.
fn canonical<'a>(names: &[&'a str], name: &str, what: &str) -> ApiResult<&'a str> {
    names
        .iter()
        .find(|n| n.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| ApiError::bad_request(format!("{name:?} is not a {what}")))
}

fn ticks(params: &HashMap<String, String>, key: &str, name: &str) -> ApiResult<Option<i64>> {
    params
        .get(key)
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<i64>().ok().filter(|t| *t >= 0).ok_or_else(|| {
                ApiError::bad_request(format!("{name} must be a non-negative integer"))
            })
        })
        .transpose()
}

/// `POST /Sessions/{id}/Playing/{command}`: pause, seek, stop, … (`Playstate`).
async fn playstate(
    State(state): State<AppState>,
    caller: Caller,
    Path((session_id, command)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    let command = canonical(PLAYSTATE, &command, "playstate command")?;
    let params = query_map(uri.query());
    let seek = ticks(&params, "seekpositionticks", "seekPositionTicks")?;
    let session = target(&state, &caller, &session_id).await?;
    let mut data = json!({ "Command": command, "ControllingUserId": caller.user.id });
    if let (Some(seek), Some(map)) = (seek, data.as_object_mut()) {
        map.insert("SeekPositionTicks".into(), json!(seek));
    }
    send(&state, &session, "Playstate", data).await
}

/// `POST /Sessions/{id}/Playing?playCommand=…&itemIds=…`: start playback there (`Play`).
async fn play(
    State(state): State<AppState>,
    caller: Caller,
    Path(session_id): Path<String>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    let params = query_map(uri.query());
    let command = canonical(
        PLAY,
        params.get("playcommand").map_or("PlayNow", String::as_str),
        "play command",
    )?;
    // Repeated keys and comma lists alike (the TypeScript SDK repeats keys).
    let item_ids: Vec<String> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k.eq_ignore_ascii_case("itemids"))
        .flat_map(|(_, v)| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    if item_ids.is_empty() {
        return Err(ApiError::bad_request("itemIds is required"));
    }
    if item_ids.len() > 1000 {
        return Err(ApiError::bad_request("at most 1000 itemIds"));
    }
    let start = ticks(&params, "startpositionticks", "startPositionTicks")?;
    let session = target(&state, &caller, &session_id).await?;
    let mut data = Map::new();
    data.insert("ItemIds".into(), json!(item_ids));
    data.insert("PlayCommand".into(), json!(command));
    data.insert("ControllingUserId".into(), json!(caller.user.id));
    if let Some(start) = start {
        data.insert("StartPositionTicks".into(), json!(start));
    }
    for (key, name) in [
        ("mediasourceid", "MediaSourceId"),
        ("audiostreamindex", "AudioStreamIndex"),
        ("subtitlestreamindex", "SubtitleStreamIndex"),
        ("startindex", "StartIndex"),
    ] {
        if let Some(v) = params.get(key).filter(|v| !v.is_empty()) {
            let value = match v.parse::<i64>() {
                Ok(n) if key != "mediasourceid" => json!(n),
                _ => json!(v),
            };
            data.insert(name.into(), value);
        }
    }
    send(&state, &session, "Play", Value::Object(data)).await
}

/// A command name as Jellyfin's `GeneralCommandType` spells them (letters only).
fn command_name(name: &str) -> ApiResult<&str> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Err(ApiError::bad_request(format!("{name:?} is not a command")));
    }
    Ok(name)
}

/// `POST /Sessions/{id}/Command/{command}` and `/System/{command}` (`GeneralCommand`).
async fn general(
    State(state): State<AppState>,
    caller: Caller,
    Path((session_id, command)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let name = command_name(&command)?;
    let session = target(&state, &caller, &session_id).await?;
    let data = json!({ "Name": name, "ControllingUserId": caller.user.id, "Arguments": {} });
    send(&state, &session, "GeneralCommand", data).await
}

/// `POST /Sessions/{id}/Command` with a `GeneralCommand` body.
#[derive(Debug, Deserialize)]
struct FullCommand {
    #[serde(rename = "name")]
    name: String,
    #[serde(rename = "arguments", default)]
    arguments: HashMap<String, Value>,
}

async fn general_full(
    State(state): State<AppState>,
    caller: Caller,
    Path(session_id): Path<String>,
    JsonBody(body): JsonBody<FullCommand>,
) -> ApiResult<StatusCode> {
    let name = command_name(&body.name)?;
    if body.arguments.len() > 64 {
        return Err(ApiError::bad_request("at most 64 arguments"));
    }
    let arguments: Map<String, Value> = body
        .arguments
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, Value::String(text))
        })
        .collect();
    let session = target(&state, &caller, &session_id).await?;
    let data = json!({ "Name": name, "ControllingUserId": caller.user.id, "Arguments": arguments });
    send(&state, &session, "GeneralCommand", data).await
}

/// `POST /Sessions/{id}/Message` with `{Header, Text, TimeoutMs}`: shown by the client.
#[derive(Debug, Deserialize)]
struct MessageBody {
    #[serde(rename = "header", default)]
    header: Option<String>,
    #[serde(rename = "text")]
    text: String,
    #[serde(rename = "timeoutms", default)]
    timeout_ms: Option<u64>,
}

async fn message(
    State(state): State<AppState>,
    caller: Caller,
    Path(session_id): Path<String>,
    JsonBody(body): JsonBody<MessageBody>,
) -> ApiResult<StatusCode> {
    let session = target(&state, &caller, &session_id).await?;
    let mut arguments = Map::new();
    arguments.insert("Header".into(), json!(body.header.unwrap_or_default()));
    arguments.insert("Text".into(), json!(body.text));
    if let Some(ms) = body.timeout_ms {
        arguments.insert("TimeoutMs".into(), json!(ms.to_string()));
    }
    let data = json!({
        "Name": "DisplayMessage",
        "ControllingUserId": caller.user.id,
        "Arguments": arguments,
    });
    send(&state, &session, "GeneralCommand", data).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_matched_and_checked() {
        assert_eq!(canonical(PLAYSTATE, "playpause", "x").unwrap(), "PlayPause");
        assert!(canonical(PLAYSTATE, "Explode", "x").is_err());
        assert!(command_name("DisplayContent").is_ok());
        assert!(command_name("Display Content").is_err());
        assert!(command_name(&"A".repeat(65)).is_err());
        let params = query_map(Some("seekPositionTicks=-5"));
        assert!(ticks(&params, "seekpositionticks", "s").is_err());
        let params = query_map(Some("seekPositionTicks=50"));
        assert_eq!(ticks(&params, "seekpositionticks", "s").unwrap(), Some(50));
    }
}
