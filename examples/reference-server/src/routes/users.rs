//! Signing in and out, and the user listings.
//!
//! Why sessions live in the store and not in a cookie or a signed token: Jellyfin clients keep
//! one opaque access token for months and expect "sign out" and "revoke device" to work at once
//! on every replica. The token itself is never stored, only its SHA-256.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use media_ha::core::{auth, ids, Device, NewActivity, Session, User, UserConfiguration};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use crate::auth::{credentials, query_map, Caller};
use crate::bootstrap::{hash, verify};
use crate::dto::{session_dto, user_dto, AuthenticateByName, CreateUser, JsonBody};
use crate::error::{ApiError, ApiResult};
use crate::limits::MAX_USER_NAME;
use crate::progress::{self, SessionWrite};
use crate::signin_brake::{Brake, Braked};
use crate::state::{normalize_id, AppState};
use crate::timefmt::now_ms;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/Users/AuthenticateByName", post(authenticate_by_name))
        .route("/Sessions/Logout", post(logout))
        .route("/Devices", delete(revoke_device))
        .route("/Users/Me", get(me))
        .route("/Users", get(list_users))
        .route("/Users/New", post(create_user))
        .route("/Users/{user_id}", get(get_user))
        .route("/Users/{user_id}/Configuration", post(configuration))
        .route("/Users/Configuration", post(configuration_q))
}

/// `POST /Users/{id}/Configuration` (and the 10.9 `/Users/Configuration?userId=`, whose user
/// defaults to the caller): a user's playback and display settings, posted by jellyfin-web's
/// settings pages, kept in the metadata store and returned in the user DTO's `Configuration`.
/// Only the user themself or an administrator may write them (403 otherwise). The body must
/// be a JSON object whose known fields have their types (400 naming the field; see
/// `user_config.rs`); unknown fields are ignored, and a post replaces the whole configuration.
async fn configuration(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let user = resolve_user(&state, &caller, &user_id).await?;
    store_configuration(&state, &user, &body).await
}

async fn configuration_q(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
    JsonBody(body): JsonBody<serde_json::Map<String, Value>>,
) -> ApiResult<StatusCode> {
    let user = match query_map(uri.query())
        .get("userid")
        .filter(|u| !u.is_empty())
    {
        Some(raw) => resolve_user(&state, &caller, raw).await?,
        None => caller.user.clone(),
    };
    store_configuration(&state, &user, &body).await
}

async fn store_configuration(
    state: &AppState,
    user: &User,
    body: &serde_json::Map<String, Value>,
) -> ApiResult<StatusCode> {
    let doc = crate::user_config::normalize(body).map_err(ApiError::bad_request)?;
    let config = UserConfiguration {
        user_id: user.id.clone(),
        json: Value::Object(doc).to_string(),
        updated_ms: now_ms(),
    };
    state
        .stores
        .metadata
        .put_user_configuration(&config)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The user DTO with the user's stored configuration.
async fn user_view(state: &AppState, user: &User) -> ApiResult<Value> {
    let stored = state
        .stores
        .metadata
        .get_user_configuration(&user.id)
        .await?;
    let configuration = crate::user_config::effective(stored.as_ref().map(|c| c.json.as_str()));
    Ok(user_dto(user, &state.server_id, configuration))
}

/// Verifies against a hash of nothing in particular, so that "no such user" takes as long as
/// "wrong password" (user names cannot be probed by timing).
async fn verify_dummy(password: String) {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    let dummy = DUMMY
        .get_or_init(|| async { hash("media-ha").await.unwrap_or_default() })
        .await;
    verify(&password, dummy).await;
}

async fn authenticate_by_name(
    State(state): State<AppState>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    uri: Uri,
    JsonBody(body): JsonBody<AuthenticateByName>,
) -> ApiResult<Response> {
    let info = credentials(&headers, &query_map(uri.query()));
    let password = body.pw.unwrap_or_default();
    let metadata = &state.stores.metadata;
    // Unknown in tests that call the router directly: they share one address. Behind a
    // trusted reverse proxy, the client it forwards for (`client_addr.rs`).
    let peer = connect.map_or(IpAddr::from([0, 0, 0, 0]), |Extension(ConnectInfo(a))| {
        a.ip()
    });
    let ip = state.config.trusted_proxies.client_ip(peer, &headers);
    let slots = state.stores.slots.as_ref();
    let brake = Brake::default();
    let found = metadata.get_user_by_name(body.username.trim()).await?;
    let account = found.as_ref().map(|u| u.name.clone());
    if let Some(which) = brake.check(slots, account.as_deref(), ip).await? {
        return Ok(braked(&brake, which));
    }
    let user = match found {
        Some(user) if verify(&password, &user.password_hash).await => user,
        found => {
            if found.is_none() {
                verify_dummy(password).await;
            }
            if let Some(which) = brake.failed(slots, account.as_deref(), ip).await? {
                let entry = NewActivity {
                    at_ms: now_ms(),
                    user_id: found.as_ref().map(|u| u.id.clone()),
                    kind: "AuthenticationFailed".into(),
                    message: format!(
                        "sign-in braked for {} after repeated failures from {ip} ({which:?})",
                        account.as_deref().unwrap_or("unknown users")
                    ),
                };
                tracing::warn!(%ip, ?which, "sign-in brake engaged");
                if let Err(err) = metadata.append_activity(&entry).await {
                    tracing::warn!(error = %err, "could not append to the activity log");
                }
            }
            return Err(ApiError::unauthorized("invalid user name or password"));
        }
    };

    let now = now_ms();
    let token = auth::generate_token();
    let device_id = info
        .device_id
        .unwrap_or_else(|| format!("unknown-{}", &ids::new_id()[..8]));
    let session = Session {
        id: ids::new_id(),
        token_hash: auth::hash_token(&token),
        user_id: user.id.clone(),
        user_name: user.name.clone(),
        device_id: device_id.clone(),
        device_name: info.device.unwrap_or_else(|| "Unknown device".into()),
        client: info.client.unwrap_or_else(|| "Unknown client".into()),
        client_version: info.version.unwrap_or_default(),
        now_playing: None,
        created_ms: now,
        last_activity_ms: now,
    };
    state
        .stores
        .sessions
        .put(&session, state.config.session_ttl())
        .await?;
    // Sessions do not expire by themselves: the user's count is what bounds the store.
    match crate::session_limit::enforce(
        state.stores.sessions.as_ref(),
        &user.id,
        &session.token_hash,
        state.config.max_sessions_per_user,
    )
    .await
    {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(user = %user.name, signed_out = n, "session cap: least recently used sessions signed out")
        }
        Err(err) => tracing::warn!(error = %err, "could not apply the per-user session cap"),
    }
    let device = Device {
        id: device_id,
        user_id: user.id.clone(),
        name: session.device_name.clone(),
        app_name: session.client.clone(),
        app_version: session.client_version.clone(),
        last_seen_ms: now,
    };
    if let Err(err) = metadata.upsert_device(&device).await {
        tracing::warn!(error = %err, "could not record the device");
    }
    let activity = NewActivity {
        at_ms: now,
        user_id: Some(user.id.clone()),
        kind: "SessionStarted".into(),
        message: format!("{} signed in from {}", user.name, session.client),
    };
    if let Err(err) = metadata.append_activity(&activity).await {
        tracing::warn!(error = %err, "could not append to the activity log");
    }
    tracing::info!(user = %user.name, session = %session.id, client = %session.client, "signed in");
    Ok(Json(json!({
        "User": user_view(&state, &user).await?,
        "SessionInfo": session_dto(&session, &state.server_id, None),
        "AccessToken": token,
        "ServerId": state.server_id,
    }))
    .into_response())
}

/// `429 Too Many Requests` with `Retry-After` (the brake's window: the latest the failures
/// that engaged it expire).
fn braked(brake: &Brake, which: Braked) -> Response {
    let retry_after = brake.window().as_secs().max(1);
    let message = match which {
        Braked::Pair => "too many failed sign-ins for this user from this address",
        Braked::Address => "too many failed sign-ins from this address",
        Braked::Account => "too many failed sign-ins for this user",
    };
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, retry_after.to_string())],
        format!("{message}; try again in {retry_after} s"),
    )
        .into_response()
}

async fn logout(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    // A progress report still waiting here keeps the user's position, but not the session:
    // written as the user's data only, before the session goes (`progress/mod.rs`).
    let hash = &caller.session.token_hash;
    if let Some(pending) = state.progress.finish(hash).await {
        progress::write(&state, &pending, SessionWrite::Skip).await?;
    }
    state.stores.sessions.remove(hash).await?;
    tracing::info!(user = %caller.user.name, session = %caller.session.id, "signed out");
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /Devices?id=<DeviceId>` (administrators): revokes a device, as Jellyfin's dashboard
/// does: every session signed in from it is signed out at once, on every replica (the session
/// cache spreads the revocation). 404 when no session has that device.
async fn revoke_device(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<StatusCode> {
    caller.ensure_admin()?;
    let query = query_map(uri.query());
    let device_id = query
        .get("id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::bad_request("id (the DeviceId to revoke) is required"))?;
    // Stored DeviceIds are cut where they enter (`limits.rs`): cut this one alike.
    let device_id = &crate::limits::cap(device_id.clone(), crate::limits::MAX_ID);
    let sessions = state.stores.sessions.list().await?;
    let mut revoked = 0usize;
    for session in sessions.iter().filter(|s| &s.device_id == device_id) {
        if state.stores.sessions.remove(&session.token_hash).await? {
            revoked += 1;
        }
    }
    if revoked == 0 {
        return Err(ApiError::not_found(
            "no session is signed in from this device",
        ));
    }
    tracing::info!(by = %caller.user.name, device = %device_id, sessions = revoked, "device revoked");
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(user_view(&state, &caller.user).await?))
}

async fn list_users(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<Value>>> {
    let users = if caller.user.is_admin {
        state.stores.metadata.list_users().await?
    } else {
        vec![caller.user.clone()]
    };
    let mut out = Vec::with_capacity(users.len());
    for user in &users {
        out.push(user_view(&state, user).await?);
    }
    Ok(Json(out))
}

/// `POST /Users/New` (administrators): a new, non-administrator user.
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateUser>,
) -> ApiResult<Json<Value>> {
    caller.ensure_admin()?;
    let name = body.name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_request("Name must not be empty"));
    }
    if name.len() > MAX_USER_NAME {
        return Err(ApiError::bad_request(format!(
            "Name must be at most {MAX_USER_NAME} bytes"
        )));
    }
    let user = User {
        id: ids::new_id(),
        name: name.to_owned(),
        password_hash: hash(body.password.as_deref().unwrap_or("")).await?,
        is_admin: false,
        created_ms: now_ms(),
    };
    state.stores.metadata.create_user(&user).await?;
    tracing::info!(user = %user.name, by = %caller.user.name, "user created");
    Ok(Json(user_view(&state, &user).await?))
}

async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user = resolve_user(&state, &caller, &user_id).await?;
    Ok(Json(user_view(&state, &user).await?))
}

/// The user a path or query names, as the caller may see it: themself, or anyone for an
/// administrator (403 otherwise, before looking, so ids do not leak; 404 when absent).
pub async fn resolve_user(state: &AppState, caller: &Caller, raw_id: &str) -> ApiResult<User> {
    let id = normalize_id(raw_id);
    if id.as_deref() == Some(caller.user.id.as_str()) {
        return Ok(caller.user.clone());
    }
    if !caller.user.is_admin {
        return Err(ApiError::forbidden(
            "not allowed to access another user's data",
        ));
    }
    let id = id.ok_or_else(|| ApiError::not_found(format!("user {raw_id} not found")))?;
    state
        .stores
        .metadata
        .get_user(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {raw_id} not found")))
}
