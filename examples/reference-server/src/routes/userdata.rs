//! Marking items played, unplayed and favourite.
//!
//! Both the old (`/Users/{userId}/PlayedItems/{itemId}`) and the 10.9 (`/UserPlayedItems/{itemId}`)
//! spellings are served: clients in the wild use both. Each answers the new `UserItemDataDto`.

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::post;
use axum::{Json, Router};
use media_ha::core::UserItemData;

use crate::auth::{query_map, Caller};
use crate::dto::UserItemDataDto;
use crate::error::{ApiError, ApiResult};
use crate::live::LiveEvent;
use crate::routes::items::{load_item, user_data};
use crate::routes::users::resolve_user;
use crate::state::AppState;
use crate::timefmt::{now_ms, parse_iso8601};

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/Users/{user_id}/PlayedItems/{item_id}",
            post(mark_played).delete(mark_unplayed),
        )
        .route(
            "/UserPlayedItems/{item_id}",
            post(mark_played_q).delete(mark_unplayed_q),
        )
        .route(
            "/Users/{user_id}/FavoriteItems/{item_id}",
            post(favorite).delete(unfavorite),
        )
        .route(
            "/UserFavoriteItems/{item_id}",
            post(favorite_q).delete(unfavorite_q),
        )
}

/// What a mark does to the stored data.
#[derive(Debug, Clone, Copy)]
enum Mark {
    Played(u64),
    Unplayed,
    Favorite(bool),
}

/// Applies a mark (pure, so the rules are visible in one place).
fn apply(mut data: UserItemData, mark: Mark) -> UserItemData {
    match mark {
        Mark::Played(at) => {
            data.played = true;
            data.play_count = data.play_count.saturating_add(1);
            data.position_ticks = 0;
            data.last_played_ms = Some(at);
        }
        Mark::Unplayed => {
            data.played = false;
            data.position_ticks = 0;
        }
        Mark::Favorite(f) => data.is_favorite = f,
    }
    data
}

async fn mark(
    state: &AppState,
    caller: &Caller,
    raw_user: Option<&str>,
    raw_item: &str,
    mark: Mark,
) -> ApiResult<Json<UserItemDataDto>> {
    let user = match raw_user {
        Some(raw) => resolve_user(state, caller, raw).await?,
        None => caller.user.clone(),
    };
    let item = load_item(state, raw_item).await?;
    let data = apply(user_data(state, &user.id, &item.id).await?, mark);
    state.stores.metadata.put_user_data(&data).await?;
    let dto = UserItemDataDto::new(&data, item.runtime_ticks);
    // Every client of the user hears of it, on whichever replica its socket is.
    state
        .live
        .publish(LiveEvent::UserData {
            user_id: user.id.clone(),
            data: vec![serde_json::json!(dto)],
        })
        .await;
    Ok(Json(dto))
}

/// `DatePlayed` query parameter, else now.
fn played_at(uri: &Uri) -> ApiResult<u64> {
    match query_map(uri.query())
        .get("dateplayed")
        .filter(|d| !d.is_empty())
    {
        Some(d) => parse_iso8601(d).ok_or_else(|| {
            ApiError::bad_request(format!(
                "DatePlayed {d:?} is not an RFC 3339 date-time (with seconds; an offset or Z)"
            ))
        }),
        None => Ok(now_ms()),
    }
}

/// The `userId` query parameter of the 10.9 spellings.
fn user_param(uri: &Uri) -> Option<String> {
    query_map(uri.query())
        .get("userid")
        .filter(|u| !u.is_empty())
        .cloned()
}

async fn mark_played(
    State(s): State<AppState>,
    c: Caller,
    Path((u, i)): Path<(String, String)>,
    uri: Uri,
) -> ApiResult<Json<UserItemDataDto>> {
    mark(&s, &c, Some(&u), &i, Mark::Played(played_at(&uri)?)).await
}

async fn mark_unplayed(
    State(s): State<AppState>,
    c: Caller,
    Path((u, i)): Path<(String, String)>,
) -> ApiResult<Json<UserItemDataDto>> {
    mark(&s, &c, Some(&u), &i, Mark::Unplayed).await
}

async fn mark_played_q(
    State(s): State<AppState>,
    c: Caller,
    Path(i): Path<String>,
    uri: Uri,
) -> ApiResult<Json<UserItemDataDto>> {
    mark(
        &s,
        &c,
        user_param(&uri).as_deref(),
        &i,
        Mark::Played(played_at(&uri)?),
    )
    .await
}

async fn mark_unplayed_q(
    State(s): State<AppState>,
    c: Caller,
    Path(i): Path<String>,
    uri: Uri,
) -> ApiResult<Json<UserItemDataDto>> {
    mark(&s, &c, user_param(&uri).as_deref(), &i, Mark::Unplayed).await
}

async fn favorite(
    State(s): State<AppState>,
    c: Caller,
    Path((u, i)): Path<(String, String)>,
) -> ApiResult<Json<UserItemDataDto>> {
    mark(&s, &c, Some(&u), &i, Mark::Favorite(true)).await
}

async fn unfavorite(
    State(s): State<AppState>,
    c: Caller,
    Path((u, i)): Path<(String, String)>,
) -> ApiResult<Json<UserItemDataDto>> {
    mark(&s, &c, Some(&u), &i, Mark::Favorite(false)).await
}

async fn favorite_q(
    State(s): State<AppState>,
    c: Caller,
    Path(i): Path<String>,
    uri: Uri,
) -> ApiResult<Json<UserItemDataDto>> {
    mark(
        &s,
        &c,
        user_param(&uri).as_deref(),
        &i,
        Mark::Favorite(true),
    )
    .await
}

async fn unfavorite_q(
    State(s): State<AppState>,
    c: Caller,
    Path(i): Path<String>,
    uri: Uri,
) -> ApiResult<Json<UserItemDataDto>> {
    mark(
        &s,
        &c,
        user_param(&uri).as_deref(),
        &i,
        Mark::Favorite(false),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_follow_jellyfin() {
        let mut d = UserItemData::empty("u", "i");
        d.position_ticks = 50;
        let played = apply(d, Mark::Played(7));
        assert!(played.played);
        assert_eq!(
            (
                played.play_count,
                played.position_ticks,
                played.last_played_ms
            ),
            (1, 0, Some(7))
        );
        let again = apply(played, Mark::Played(8));
        assert_eq!(again.play_count, 2);
        let unplayed = apply(again, Mark::Unplayed);
        assert!(!unplayed.played);
        assert_eq!(
            unplayed.play_count, 2,
            "the count is history; unmarking does not erase it"
        );
        assert!(apply(unplayed, Mark::Favorite(true)).is_favorite);
    }
}
