//! `GET/POST /DisplayPreferences/{id}?userId=&client=`: what a client remembers per user.
//!
//! Why it matters: jellyfin-web reads `usersettings` for client `emby` right after sign-in and
//! throws when the answer is not a preferences document, so without this route nobody leaves
//! the login page. Home sections, landing pages, per-library sort orders and skip lengths live
//! in it, and a user expects them on every device and every replica: the document is kept
//! through the [`MetadataRepo`](media_ha::core::MetadataRepo), never in a replica's memory.
//!
//! A document never written answers Jellyfin's defaults. A written one is the client's body
//! checked field by field (a wrong type or an unknown `SortOrder`/`ScrollDirection` is a 400
//! naming the field, unknown fields are dropped) and stored normalised; bodies over
//! [`MAX_BODY`] are refused with 413, and the stores cap the documents per user
//! ([`DISPLAY_PREFERENCES_PER_USER`]): a client choosing fresh ids cannot grow them.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use axum::{Json, Router};
use media_ha::core::metadata::{DISPLAY_PREFERENCES_PER_USER, MAX_DISPLAY_PREFERENCES_BYTES};
use media_ha::core::{DisplayPreferences, Error as CoreError, User};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::{query_map, Caller};
use crate::dto::decode_body;
use crate::error::{ApiError, ApiResult};
use crate::limits::{MAX_ID, MAX_NAME};
use crate::routes::users::resolve_user;
use crate::state::AppState;
use crate::timefmt::now_ms;

/// The largest body accepted (the stored document adds a few defaults to it).
pub const MAX_BODY: usize = MAX_DISPLAY_PREFERENCES_BYTES - 2048;
/// The most `CustomPrefs` entries a document keeps (jellyfin-web writes about thirty).
pub const MAX_CUSTOM_PREFS: usize = 512;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/DisplayPreferences/{prefs_id}",
        get(get_prefs).post(post_prefs),
    )
}

/// Jellyfin's `DisplayPreferencesDto`, as stored and answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PrefsDto {
    /// The preferences' id.
    pub id: String,
    /// `ViewType`, when the client set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_type: Option<String>,
    /// Sort field.
    pub sort_by: String,
    /// Grouping, when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_by: Option<String>,
    /// Remember the grouping.
    pub remember_indexing: bool,
    /// Poster height.
    pub primary_image_height: i32,
    /// Poster width.
    pub primary_image_width: i32,
    /// Everything else the client keeps (home sections, landing pages, ...).
    pub custom_prefs: BTreeMap<String, Option<String>>,
    /// `Horizontal` or `Vertical`.
    pub scroll_direction: String,
    /// Show backdrops.
    pub show_backdrop: bool,
    /// Remember the sort order.
    pub remember_sorting: bool,
    /// `Ascending` or `Descending`.
    pub sort_order: String,
    /// Show the side bar.
    pub show_sidebar: bool,
    /// The client.
    pub client: String,
}

impl PrefsDto {
    /// What Jellyfin answers for preferences never written.
    pub fn defaults(id: &str, client: &str) -> Self {
        Self {
            id: id.to_owned(),
            view_type: None,
            sort_by: "SortName".into(),
            index_by: None,
            remember_indexing: false,
            primary_image_height: 0,
            primary_image_width: 0,
            custom_prefs: BTreeMap::new(),
            scroll_direction: "Horizontal".into(),
            show_backdrop: true,
            remember_sorting: false,
            sort_order: "Ascending".into(),
            show_sidebar: false,
            client: client.to_owned(),
        }
    }
}

/// A POSTed body: every field optional, keys matched case-insensitively ([`decode_body`]).
#[derive(Debug, Deserialize)]
struct PrefsBody {
    #[serde(rename = "viewtype", default)]
    view_type: Option<String>,
    #[serde(rename = "sortby", default)]
    sort_by: Option<String>,
    #[serde(rename = "indexby", default)]
    index_by: Option<String>,
    #[serde(rename = "rememberindexing", default)]
    remember_indexing: Option<bool>,
    #[serde(rename = "primaryimageheight", default)]
    primary_image_height: Option<i32>,
    #[serde(rename = "primaryimagewidth", default)]
    primary_image_width: Option<i32>,
    #[serde(rename = "customprefs", default)]
    custom_prefs: Option<BTreeMap<String, Option<String>>>,
    #[serde(rename = "scrolldirection", default)]
    scroll_direction: Option<String>,
    #[serde(rename = "showbackdrop", default)]
    show_backdrop: Option<bool>,
    #[serde(rename = "remembersorting", default)]
    remember_sorting: Option<bool>,
    #[serde(rename = "sortorder", default)]
    sort_order: Option<String>,
    #[serde(rename = "showsidebar", default)]
    show_sidebar: Option<bool>,
}

/// One of `allowed`, spelled as listed (ASP.NET parses enums case-insensitively).
fn one_of(field: &str, value: Option<String>, allowed: [&str; 2]) -> ApiResult<Option<String>> {
    let Some(value) = value else {
        return Ok(None);
    };
    allowed
        .into_iter()
        .find(|a| a.eq_ignore_ascii_case(&value))
        .map(|a| Some(a.to_owned()))
        .ok_or_else(|| {
            ApiError::bad_request(format!("{field} must be {} or {}", allowed[0], allowed[1]))
        })
}

/// The stored document: `body` checked and laid over the defaults.
fn merge(id: &str, client: &str, body: PrefsBody) -> ApiResult<PrefsDto> {
    let mut dto = PrefsDto::defaults(id, client);
    let custom = body.custom_prefs.unwrap_or_default();
    if custom.len() > MAX_CUSTOM_PREFS {
        return Err(ApiError::bad_request(format!(
            "CustomPrefs has {} entries (at most {MAX_CUSTOM_PREFS})",
            custom.len()
        )));
    }
    dto.custom_prefs = custom;
    if let Some(v) = one_of("SortOrder", body.sort_order, ["Ascending", "Descending"])? {
        dto.sort_order = v;
    }
    if let Some(v) = one_of(
        "ScrollDirection",
        body.scroll_direction,
        ["Horizontal", "Vertical"],
    )? {
        dto.scroll_direction = v;
    }
    if let Some(v) = body.sort_by.filter(|s| !s.is_empty()) {
        dto.sort_by = v;
    }
    dto.view_type = body.view_type.filter(|s| !s.is_empty());
    dto.index_by = body.index_by.filter(|s| !s.is_empty());
    dto.remember_indexing = body.remember_indexing.unwrap_or(false);
    dto.remember_sorting = body.remember_sorting.unwrap_or(false);
    dto.primary_image_height = body.primary_image_height.unwrap_or(0);
    dto.primary_image_width = body.primary_image_width.unwrap_or(0);
    dto.show_backdrop = body.show_backdrop.unwrap_or(true);
    dto.show_sidebar = body.show_sidebar.unwrap_or(false);
    Ok(dto)
}

/// Whose preferences, for which client: `userId` (the caller when absent; another user's for
/// administrators only) and the required `client`.
async fn target(
    state: &AppState,
    caller: &Caller,
    prefs_id: &str,
    uri: &Uri,
) -> ApiResult<(User, String)> {
    let query = query_map(uri.query());
    let user = match query.get("userid").filter(|u| !u.is_empty()) {
        Some(raw) => resolve_user(state, caller, raw).await?,
        None => caller.user.clone(),
    };
    let client = query
        .get("client")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("the client query parameter is required"))?;
    if client.len() > MAX_NAME {
        return Err(ApiError::bad_request(format!(
            "client must be at most {MAX_NAME} bytes"
        )));
    }
    if prefs_id.len() > MAX_ID || prefs_id.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "a display preferences id is at most {MAX_ID} bytes, without control characters"
        )));
    }
    Ok((user, client.clone()))
}

async fn get_prefs(
    State(state): State<AppState>,
    caller: Caller,
    Path(prefs_id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let (user, client) = target(&state, &caller, &prefs_id, &uri).await?;
    let stored = state
        .stores
        .metadata
        .get_display_preferences(&user.id, &prefs_id, &client)
        .await?;
    let dto = match stored {
        // Written by this server, so it decodes; a document that does not (a hand-edited
        // database) answers the defaults rather than locking the user out of the client.
        Some(p) => serde_json::from_str::<PrefsDto>(&p.json).unwrap_or_else(|e| {
            tracing::warn!(user = %user.id, error = %e, "stored display preferences unreadable");
            PrefsDto::defaults(&prefs_id, &client)
        }),
        None => PrefsDto::defaults(&prefs_id, &client),
    };
    Ok(Json(serde_json::json!(dto)))
}

async fn post_prefs(
    State(state): State<AppState>,
    caller: Caller,
    Path(prefs_id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let (user, client) = target(&state, &caller, &prefs_id, &uri).await?;
    if body.len() > MAX_BODY {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("display preferences are at most {MAX_BODY} bytes"),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "a display preferences body is required",
        ));
    }
    let dto = merge(&prefs_id, &client, decode_body(&body)?)?;
    let json = serde_json::to_string(&dto)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let prefs = DisplayPreferences {
        user_id: user.id.clone(),
        id: prefs_id,
        client,
        json,
        updated_ms: now_ms(),
    };
    match state.stores.metadata.put_display_preferences(&prefs).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(CoreError::Conflict(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "a user keeps at most {DISPLAY_PREFERENCES_PER_USER} display preferences; \
                 this would be a new one"
            ),
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> PrefsBody {
        decode_body(json.as_bytes()).unwrap()
    }

    #[test]
    fn a_body_is_laid_over_the_defaults() {
        let dto = merge(
            "usersettings",
            "emby",
            body(r#"{"customPrefs":{"homesection0":"resume","x":null},"SortOrder":"descending"}"#),
        )
        .unwrap();
        assert_eq!(dto.sort_order, "Descending");
        assert_eq!(dto.scroll_direction, "Horizontal");
        assert_eq!(dto.custom_prefs.len(), 2);
        assert_eq!(
            (dto.id.as_str(), dto.client.as_str()),
            ("usersettings", "emby")
        );
        assert!(dto.show_backdrop);
    }

    #[test]
    fn bad_fields_are_400() {
        for bad in [r#"{"SortOrder":"Sideways"}"#, r#"{"ScrollDirection":"Up"}"#] {
            let err = merge("a", "b", body(bad)).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        for bad in [
            r#"{"CustomPrefs":["a"]}"#,
            r#"{"CustomPrefs":{"a":1}}"#,
            r#"{"ShowBackdrop":"yes"}"#,
            r#"{"PrimaryImageHeight":1e99}"#,
            "[]",
            "{",
        ] {
            let err = decode_body::<PrefsBody>(bad.as_bytes()).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad}");
        }
        let many: BTreeMap<String, Option<String>> = (0..=MAX_CUSTOM_PREFS)
            .map(|i| (format!("k{i}"), None))
            .collect();
        let big = serde_json::json!({ "CustomPrefs": many }).to_string();
        assert_eq!(
            merge("a", "b", body(&big)).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }
}
