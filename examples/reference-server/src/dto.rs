//! Jellyfin's JSON shapes: what clients send and what they expect back.
//!
//! Why a separate layer: the stores' types ([`Item`], [`UserItemData`], [`Session`]) are ours
//! and stay small; clients expect Jellyfin's DTOs with PascalCase names, dates as ISO strings,
//! ids as 32 hex digits and a few always-present fields (`ImageTags`, `UserData`) whose absence
//! breaks some of them. Only the fields this server can fill truthfully are sent.
//!
//! Request bodies are matched case-insensitively (ASP.NET does, and clients differ between
//! `ItemId` and `itemId`): [`JsonBody`] lower-cases the top-level keys before decoding, so
//! request structs name their fields in lower case.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use media_ha::core::{ImageKind, Item, ItemKind, Session, User, UserItemData};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::item_json::{ItemJson, RawJson};
use crate::timefmt::iso8601;

/// The Jellyfin version whose API this server follows.
pub const JELLYFIN_VERSION: &str = "10.11.0";

/// A JSON request body, keys matched case-insensitively; any malformed body is a 400.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::new(e.status(), e.body_text()))?;
        decode_body(&bytes).map(JsonBody)
    }
}

/// Decodes a body as [`JsonBody`] does (empty body: an empty object).
pub fn decode_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))?
    };
    let value = match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        ),
        _ => return Err(ApiError::bad_request("the JSON body must be an object")),
    };
    serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))
}

/// `POST /Users/AuthenticateByName`.
#[derive(Debug, Deserialize)]
pub struct AuthenticateByName {
    /// User name.
    #[serde(rename = "username")]
    pub username: String,
    /// Password (Jellyfin calls it `Pw`; absent means empty).
    #[serde(rename = "pw", default)]
    pub pw: Option<String>,
}

/// `POST /Users/New`.
#[derive(Debug, Deserialize)]
pub struct CreateUser {
    /// User name.
    #[serde(rename = "name")]
    pub name: String,
    /// Password (absent: empty).
    #[serde(rename = "password", default)]
    pub password: Option<String>,
}

/// `POST /Sessions/Playing`, `/Progress`, `/Stopped` (the fields this server uses).
#[derive(Debug, Deserialize)]
pub struct PlaybackReport {
    /// The item played.
    #[serde(rename = "itemid", default)]
    pub item_id: Option<String>,
    /// Position in ticks.
    #[serde(rename = "positionticks", default)]
    pub position_ticks: Option<i64>,
    /// Paused?
    #[serde(rename = "ispaused", default)]
    pub is_paused: Option<bool>,
    /// Play session id.
    #[serde(rename = "playsessionid", default)]
    pub play_session_id: Option<String>,
    /// Media source id.
    #[serde(rename = "mediasourceid", default)]
    pub media_source_id: Option<String>,
}

/// Jellyfin's paged result.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueryResult<T> {
    /// This page.
    pub items: Vec<T>,
    /// Matches in all.
    pub total_record_count: u64,
    /// Offset of this page.
    pub start_index: u32,
}

/// Per-user item state.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserItemDataDto {
    /// Resume position.
    pub playback_position_ticks: i64,
    /// Times played.
    pub play_count: u32,
    /// Favourite?
    pub is_favorite: bool,
    /// Watched?
    pub played: bool,
    /// Last played.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_played_date: Option<String>,
    /// Percentage watched (for a resume bar).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub played_percentage: Option<f64>,
    /// The user-data key (the item id here).
    pub key: String,
    /// The item.
    pub item_id: String,
}

impl UserItemDataDto {
    /// From the stored data; `runtime_ticks` gives the percentage.
    pub fn new(data: &UserItemData, runtime_ticks: Option<i64>) -> Self {
        let played_percentage = runtime_ticks
            .filter(|r| *r > 0 && data.position_ticks > 0)
            .map(|r| (data.position_ticks as f64 / r as f64 * 100.0).min(100.0));
        Self {
            playback_position_ticks: data.position_ticks,
            play_count: data.play_count,
            is_favorite: data.is_favorite,
            played: data.played,
            last_played_date: data.last_played_ms.map(iso8601),
            played_percentage,
            key: data.item_id.clone(),
            item_id: data.item_id.clone(),
        }
    }
}

/// Jellyfin's `BaseItemDto` (subset): the [`ItemFields`] of the item, finished once per version
/// of it (`item_json.rs`), and the caller's part, built per request.
#[derive(Debug, Clone)]
pub struct BaseItemDto {
    /// The fields that depend only on the item.
    pub item: Arc<ItemJson>,
    /// The caller's state for this item.
    pub user_data: UserItemDataDto,
    /// The playable file(s) with their streams: on an item's page, and in listings asked
    /// `Fields=MediaSources` (see `routes/items.rs`).
    pub media_sources: Option<RawJson>,
    /// The streams of the item's file (`Fields=MediaStreams`, and an item's page).
    pub media_streams: Option<RawJson>,
}

impl BaseItemDto {
    /// From a stored item and the caller's data for it (the item's fields built now; the hot
    /// routes take them from [`ItemJsonMemo`](crate::item_json::ItemJsonMemo) instead).
    pub fn new(item: &Item, server_id: &str, data: &UserItemData) -> Self {
        let json = ItemJson::new(item, ItemFields::new(item, server_id));
        Self::with_item(Arc::new(json), item, data)
    }

    /// From the item's finished fields and the caller's data for it.
    pub fn with_item(json: Arc<ItemJson>, item: &Item, data: &UserItemData) -> Self {
        Self {
            item: json,
            user_data: UserItemDataDto::new(data, item.runtime_ticks),
            media_sources: None,
            media_streams: None,
        }
    }

    /// A folder?
    pub fn is_folder(&self) -> bool {
        self.item.fields.is_folder
    }
}

impl Serialize for BaseItemDto {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let fields = &self.item.fields.entries;
        let mut map = serializer.serialize_map(Some(fields.len() + 3))?;
        for (key, value) in fields {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry("UserData", &self.user_data)?;
        if let Some(sources) = &self.media_sources {
            map.serialize_entry("MediaSources", sources)?;
        }
        if let Some(streams) = &self.media_streams {
            map.serialize_entry("MediaStreams", streams)?;
        }
        map.end()
    }
}

/// The fields of an item's `BaseItemDto` that are the same for every caller, each finished as
/// JSON (an item page or a listing copies them instead of building and escaping them again).
#[derive(Debug)]
pub struct ItemFields {
    entries: Vec<(String, RawJson)>,
    is_folder: bool,
}

impl ItemFields {
    /// The fields of `item` as this server (`server_id`) describes it.
    pub fn new(item: &Item, server_id: &str) -> Self {
        let typed = ItemFieldsDto::new(item, server_id);
        // A struct of strings, numbers and maps of strings always serializes to an object.
        let entries = match serde_json::to_value(&typed) {
            Ok(Value::Object(map)) => map
                .into_iter()
                .map(|(key, value)| (key, RawJson::new(&value)))
                .collect(),
            _ => Vec::new(),
        };
        Self {
            entries,
            is_folder: typed.is_folder,
        }
    }

    /// Bytes of JSON held.
    pub fn size(&self) -> usize {
        self.entries
            .iter()
            .map(|(k, v)| k.len() + v.get().len())
            .sum()
    }
}

/// Jellyfin's `SearchHint` for `item`, found by `term`.
pub fn search_hint(item: &Item, server_id: &str, term: &str) -> Value {
    let d = ItemFieldsDto::new(item, server_id);
    json!({
        "ItemId": d.id,
        "Id": d.id,
        "Name": d.name,
        "MatchedTerm": term,
        "Type": d.kind,
        "IsFolder": d.is_folder,
        "RunTimeTicks": d.run_time_ticks,
        "MediaType": d.media_type.unwrap_or("Unknown"),
        "PrimaryImageTag": d.image_tags.get("Primary"),
        "ThumbImageTag": d.image_tags.get("Thumb"),
        "BackdropImageTag": d.backdrop_image_tags.first(),
        "PrimaryImageAspectRatio": d.primary_image_aspect_ratio,
        "Artists": [],
    })
}

/// [`ItemFields`] as a typed struct (what they are made from).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ItemFieldsDto {
    /// Display name.
    pub name: String,
    /// Server id.
    pub server_id: String,
    /// Item id.
    pub id: String,
    /// Name for sorting.
    pub sort_name: String,
    /// Added.
    pub date_created: String,
    /// `Movie`, `Folder`, …
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// Folder?
    pub is_folder: bool,
    /// Parent, except for library roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// `movies` for a library root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub collection_type: Option<&'static str>,
    /// `Video`, `Audio`, or absent for folders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_type: Option<&'static str>,
    /// `VideoFile` for videos.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_type: Option<&'static str>,
    /// Container (`mp4`, `mkv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Duration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_time_ticks: Option<i64>,
    /// File size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Always `FileSystem`.
    pub location_type: &'static str,
    /// Always `Full`.
    pub play_access: &'static str,
    /// Files can be downloaded.
    pub can_download: bool,
    /// Nothing can be deleted through this server.
    pub can_delete: bool,
    /// `{"Primary": tag, "Thumb": tag}`: the item's artwork by kind (always present: clients
    /// need the field). A client builds `Items/{id}/Images/{kind}?tag=…` from it.
    pub image_tags: Value,
    /// The backdrops' tags, in index order (always present).
    pub backdrop_image_tags: Vec<String>,
    /// Width over height of the Primary image, when known (clients shape cards by it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_image_aspect_ratio: Option<f64>,
}

impl ItemFieldsDto {
    fn new(item: &Item, server_id: &str) -> Self {
        let (media_type, video_type) = match item.kind {
            ItemKind::Movie | ItemKind::Video | ItemKind::Episode => {
                (Some("Video"), Some("VideoFile"))
            }
            ItemKind::Audio => (Some("Audio"), None),
            ItemKind::CollectionFolder | ItemKind::Folder => (None, None),
        };
        Self {
            name: item.name.clone(),
            server_id: server_id.to_owned(),
            id: item.id.clone(),
            sort_name: item.name.to_lowercase(),
            date_created: iso8601(item.date_added_ms),
            kind: item.kind.as_str(),
            is_folder: item.kind.is_folder(),
            parent_id: item.parent_id.clone(),
            collection_type: (item.kind == ItemKind::CollectionFolder).then_some("movies"),
            media_type,
            video_type,
            container: item.container.clone(),
            run_time_ticks: item.runtime_ticks,
            size: item.size_bytes,
            location_type: "FileSystem",
            play_access: "Full",
            can_download: !item.kind.is_folder(),
            can_delete: false,
            image_tags: image_tags(item),
            backdrop_image_tags: item
                .images
                .iter()
                .filter(|i| i.kind == ImageKind::Backdrop)
                .map(|i| i.tag.clone())
                .collect(),
            primary_image_aspect_ratio: item
                .images
                .iter()
                .find(|i| i.kind == ImageKind::Primary)
                .and_then(|i| Some((i.width?, i.height?)))
                .filter(|(w, h)| *w > 0 && *h > 0)
                .map(|(w, h)| f64::from(w) / f64::from(h)),
        }
    }
}

/// `ImageTags`: the first Primary and Thumb image's tag (backdrops are listed apart).
fn image_tags(item: &Item) -> Value {
    let mut tags = serde_json::Map::new();
    for kind in [ImageKind::Primary, ImageKind::Thumb] {
        if let Some(image) = item.images.iter().find(|i| i.kind == kind) {
            tags.insert(kind.as_str().into(), Value::String(image.tag.clone()));
        }
    }
    Value::Object(tags)
}

/// Jellyfin's `UserDto`.
pub fn user_dto(user: &User, server_id: &str, configuration: Value) -> Value {
    json!({
        "Name": user.name,
        "ServerId": server_id,
        "Id": user.id,
        "HasPassword": true,
        "HasConfiguredPassword": true,
        "HasConfiguredEasyPassword": false,
        "EnableAutoLogin": false,
        "Configuration": configuration,
        "Policy": {
            "IsAdministrator": user.is_admin,
            "IsHidden": true,
            "IsDisabled": false,
            "EnableUserPreferenceAccess": true,
            "EnableRemoteControlOfOtherUsers": false,
            "EnableSharedDeviceControl": false,
            "EnableRemoteAccess": true,
            "EnableLiveTvManagement": false,
            "EnableLiveTvAccess": false,
            "EnableMediaPlayback": true,
            "EnableAudioPlaybackTranscoding": true,
            "EnableVideoPlaybackTranscoding": true,
            "EnablePlaybackRemuxing": true,
            "EnableContentDeletion": false,
            "EnableContentDownloading": true,
            "EnableSyncTranscoding": false,
            "EnableMediaConversion": false,
            "EnableAllDevices": true,
            "EnableAllChannels": true,
            "EnableAllFolders": true,
            "EnablePublicSharing": false,
            "InvalidLoginAttemptCount": 0,
            "LoginAttemptsBeforeLockout": -1,
            "MaxActiveSessions": 0,
            "RemoteClientBitrateLimit": 0,
            "AuthenticationProviderId": "Jellyfin.Server.Implementations.Users.DefaultAuthenticationProvider",
            "PasswordResetProviderId": "Jellyfin.Server.Implementations.Users.DefaultPasswordResetProvider",
            "SyncPlayAccess": "None"
        }
    })
}

/// Jellyfin's `SessionInfoDto`; `now_playing` is the playing item's DTO, when any.
pub fn session_dto(session: &Session, server_id: &str, now_playing: Option<BaseItemDto>) -> Value {
    let play_state = match &session.now_playing {
        Some(np) => json!({
            "PositionTicks": np.position_ticks,
            "IsPaused": np.is_paused,
            "CanSeek": true,
            "IsMuted": false,
            "RepeatMode": "RepeatNone",
            "PlaySessionId": np.play_session_id,
            "MediaSourceId": np.media_source_id,
        }),
        None => {
            json!({ "CanSeek": false, "IsPaused": false, "IsMuted": false, "RepeatMode": "RepeatNone" })
        }
    };
    let mut dto = json!({
        "Id": session.id,
        "UserId": session.user_id,
        "UserName": session.user_name,
        "Client": session.client,
        "DeviceId": session.device_id,
        "DeviceName": session.device_name,
        "ApplicationVersion": session.client_version,
        "LastActivityDate": iso8601(session.last_activity_ms),
        "IsActive": true,
        "PlayState": play_state,
        "PlayableMediaTypes": ["Audio", "Video"],
        "SupportedCommands": [],
        "SupportsMediaControl": false,
        "SupportsRemoteControl": false,
        "HasCustomDeviceName": false,
        "ServerId": server_id,
    });
    if let (Some(item), Some(map)) = (now_playing, dto.as_object_mut()) {
        map.insert("NowPlayingItem".into(), json!(item));
    }
    dto
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_keys_case_insensitively() {
        let a: AuthenticateByName = decode_body(br#"{"username":"bob","PW":"x"}"#).unwrap();
        assert_eq!((a.username.as_str(), a.pw.as_deref()), ("bob", Some("x")));
        let r: PlaybackReport = decode_body(br#"{"ItemId":"ab","PositionTicks":5}"#).unwrap();
        assert_eq!(r.position_ticks, Some(5));
        let empty: PlaybackReport = decode_body(b"").unwrap();
        assert!(empty.item_id.is_none());
    }

    #[test]
    fn malformed_bodies_are_400() {
        for body in [&b"{"[..], b"[1]", br#"{"Username": 5}"#, b"{}"] {
            let err = decode_body::<AuthenticateByName>(body).unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        }
    }
}
