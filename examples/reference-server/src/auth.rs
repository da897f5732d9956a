//! Who is calling: Jellyfin's authorization header, token lookup, and the [`Caller`] extractor.
//!
//! Why the parsing is a pure function: Jellyfin clients send credentials five different ways
//! (`Authorization: MediaBrowser …`, the older `X-Emby-Authorization`, `X-Emby-Token`,
//! `X-MediaBrowser-Token`, or an `api_key`/`ApiKey` query parameter for URLs handed to a video
//! element), with quoted, sometimes percent-encoded values. Getting that right is easiest to
//! test without a server. The extractor then only looks the token's *hash* up in the shared
//! [`SessionStore`](media_ha::core::SessionStore) — any replica can answer — and touches the
//! session so it lives on while used.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use media_ha::core::{auth, Session, User};

use crate::error::{ApiError, ApiResult};
use crate::limits::{cap_opt, MAX_ID, MAX_NAME, MAX_VERSION};

/// Longer than any token this server issues; a longer one is refused without being kept.
const MAX_TOKEN: usize = 256;
use crate::state::AppState;

/// What a client says about itself in the authorization header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Application name (`Client="Jellyfin Web"`).
    pub client: Option<String>,
    /// Device name.
    pub device: Option<String>,
    /// Client-chosen device id.
    pub device_id: Option<String>,
    /// Application version.
    pub version: Option<String>,
    /// Access token, when signed in.
    pub token: Option<String>,
}

/// Parses `MediaBrowser Client="…", Device="…", DeviceId="…", Version="…", Token="…"`.
///
/// The scheme (`MediaBrowser` or `Emby`) is required; keys are case-insensitive; values may be
/// quoted or bare and are percent-decoded. Returns `None` for any other scheme (e.g. `Bearer`).
pub fn parse_authorization(value: &str) -> Option<ClientInfo> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("mediabrowser") && !scheme.eq_ignore_ascii_case("emby") {
        return None;
    }
    let mut info = ClientInfo::default();
    for (key, val) in split_params(rest) {
        let val = percent_decode(&val);
        let slot = match key.to_ascii_lowercase().as_str() {
            "client" => &mut info.client,
            "device" => &mut info.device,
            "deviceid" => &mut info.device_id,
            "version" => &mut info.version,
            "token" => &mut info.token,
            _ => continue,
        };
        if !val.is_empty() {
            *slot = Some(val);
        }
    }
    // Kept in sessions, devices and the activity log: cut to size here, where they enter.
    info.client = cap_opt(info.client, MAX_NAME);
    info.device = cap_opt(info.device, MAX_NAME);
    info.device_id = cap_opt(info.device_id, MAX_ID);
    info.version = cap_opt(info.version, MAX_VERSION);
    if info.token.as_ref().is_some_and(|t| t.len() > MAX_TOKEN) {
        // No token of ours is that long: treat it as no token (401), and keep nothing of it.
        info.token = Some(String::new());
    }
    Some(info)
}

/// Splits `a="x, y", b=z` into pairs, honouring quotes (a comma inside quotes is data).
fn split_params(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.trim().is_empty() {
            break;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                val.push(c);
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                val.push(*c);
                chars.next();
            }
        }
        out.push((key.trim().to_owned(), val.trim().to_owned()));
    }
    out
}

/// Decodes `%XX` escapes (invalid escapes and invalid UTF-8 are kept as they are).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| s.to_owned())
}

/// The client info and token of a request, from whichever place the client used.
///
/// `query` holds the query parameters with lower-cased keys.
pub fn credentials(headers: &HeaderMap, query: &HashMap<String, String>) -> ClientInfo {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut info = header("authorization")
        .and_then(parse_authorization)
        .or_else(|| header("x-emby-authorization").and_then(parse_authorization))
        .unwrap_or_default();
    if info.token.is_none() {
        info.token = header("x-emby-token")
            .or_else(|| header("x-mediabrowser-token"))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .or_else(|| {
                query
                    .get("api_key")
                    .or_else(|| query.get("apikey"))
                    .filter(|t| !t.is_empty())
                    .cloned()
            });
    }
    info
}

/// Query parameters with lower-cased keys (Jellyfin matches them case-insensitively).
///
/// A key given more than once has its values joined with commas, in order: Jellyfin's list
/// parameters (`IncludeItemTypes`, `Ids`, `Fields`, `Filters`, `SortBy`, ...) come either as
/// one comma list (jellyfin-web, the Python client) or as repeated keys (`@jellyfin/sdk`), and
/// joined they read the same way. A repeated scalar (`Limit=1&Limit=2`) then fails to parse
/// and is answered 400, rather than one of its values being picked silently.
pub fn query_map(query: Option<&str>) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = HashMap::new();
    let Some(query) = query else {
        return map;
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let plus = |s: &str| percent_decode(&s.replace('+', " "));
        let value = plus(v);
        match map.entry(plus(k).to_ascii_lowercase()) {
            std::collections::hash_map::Entry::Occupied(mut joined) => {
                let joined = joined.get_mut();
                joined.push(',');
                joined.push_str(&value);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(value);
            }
        }
    }
    map
}

/// The items of a list parameter: comma-separated (repeated keys were joined by
/// [`query_map`]), trimmed, empty ones dropped.
pub fn query_list<'a>(params: &'a HashMap<String, String>, key: &str) -> Vec<&'a str> {
    params
        .get(key)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// An authenticated caller: the session (from any replica) and its user.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The session.
    pub session: Session,
    /// The user, as stored now: read from the store, or from the metadata cache, which every
    /// change through any replica invalidates at once (so a demoted admin loses rights at once;
    /// `metadata_cache/mod.rs` gives the bound for changes made behind the servers' backs).
    pub user: User,
}

impl Caller {
    /// 403 unless the caller is an administrator.
    pub fn ensure_admin(&self) -> ApiResult<()> {
        if self.user.is_admin {
            Ok(())
        } else {
            Err(ApiError::forbidden("administrator rights required"))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let query = query_map(parts.uri.query());
        let token = credentials(&parts.headers, &query)
            .token
            .ok_or_else(|| ApiError::unauthorized("no access token"))?;
        let hash = auth::hash_token(&token);
        let stores = &state.stores;
        let session = stores
            .sessions
            .get(&hash)
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid or expired access token"))?;
        let user = stores
            .metadata
            .get_user(&session.user_id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("the session's user no longer exists"))?;
        // The session may have been signed out since the lookup: a dead one is not served.
        if !stores
            .sessions
            .touch(&hash, state.config.session_ttl())
            .await?
        {
            return Err(ApiError::unauthorized("invalid or expired access token"));
        }
        Ok(Caller { session, user })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn parses_the_mediabrowser_header() {
        let info = parse_authorization(
            r#"MediaBrowser Client="Jellyfin Web", Device="Firefox", DeviceId="TW96aWxsYQ%3D%3D", Version="10.9.0", Token="abc""#,
        )
        .unwrap();
        assert_eq!(info.client.as_deref(), Some("Jellyfin Web"));
        assert_eq!(info.device.as_deref(), Some("Firefox"));
        assert_eq!(info.device_id.as_deref(), Some("TW96aWxsYQ=="));
        assert_eq!(info.version.as_deref(), Some("10.9.0"));
        assert_eq!(info.token.as_deref(), Some("abc"));
    }

    #[test]
    fn tolerates_case_bare_values_and_commas_in_quotes() {
        let info =
            parse_authorization(r#"emby client=Kodi,device="Living, Room",  token=t1"#).unwrap();
        assert_eq!(info.client.as_deref(), Some("Kodi"));
        assert_eq!(info.device.as_deref(), Some("Living, Room"));
        assert_eq!(info.token.as_deref(), Some("t1"));
        assert_eq!(parse_authorization("Bearer xyz"), None);
        assert_eq!(
            parse_authorization("MediaBrowser").unwrap(),
            ClientInfo::default()
        );
        assert_eq!(
            parse_authorization(r#"MediaBrowser Token="#).unwrap().token,
            None
        );
    }

    #[test]
    fn repeated_keys_read_as_comma_lists() {
        let q = query_map(Some(
            "includeItemTypes=Movie&IncludeItemTypes=Video,Episode&ids=a&ids=&Ids=b&limit=5",
        ));
        assert_eq!(
            query_list(&q, "includeitemtypes"),
            ["Movie", "Video", "Episode"]
        );
        assert_eq!(query_list(&q, "ids"), ["a", "b"]);
        assert_eq!(q.get("limit").map(String::as_str), Some("5"));
        assert!(query_list(&q, "fields").is_empty());
    }

    #[test]
    fn token_sources_in_order() {
        let mut headers = HeaderMap::new();
        let q = query_map(Some("ApiKey=q1&x=%20y"));
        assert_eq!(q.get("x").map(String::as_str), Some(" y"));
        assert_eq!(credentials(&headers, &q).token.as_deref(), Some("q1"));
        headers.insert("x-mediabrowser-token", HeaderValue::from_static("m1"));
        assert_eq!(credentials(&headers, &q).token.as_deref(), Some("m1"));
        headers.insert("x-emby-token", HeaderValue::from_static("e1"));
        assert_eq!(credentials(&headers, &q).token.as_deref(), Some("e1"));
        headers.insert(
            "x-emby-authorization",
            HeaderValue::from_static(r#"MediaBrowser Client="c", Token="x1""#),
        );
        assert_eq!(credentials(&headers, &q).token.as_deref(), Some("x1"));
        headers.insert(
            "authorization",
            HeaderValue::from_static(r#"MediaBrowser Client="c", Token="a1""#),
        );
        assert_eq!(credentials(&headers, &q).token.as_deref(), Some("a1"));
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
        assert_eq!(percent_decode("%FF"), "%FF");
    }
}
