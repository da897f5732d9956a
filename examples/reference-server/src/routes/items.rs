//! Browsing the library: listings, single items, the user's views, resume and latest rows.
//!
//! Why the query parsing is a pure function ([`parse_item_query`]): Jellyfin clients send many
//! parameters this server does not implement (`Fields`, `EnableImageTypes`, `ImageTypeLimit`,
//! item types it has no notion of, like `Series`). Unknown parameters are ignored; bad values
//! of known ones (a non-numeric `Limit`) are a 400; a listing of only unknown item types is
//! simply empty. All of that is testable without a server.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use media_ha::core::{Item, ItemKind, ItemQuery, ItemSort, UserItemData};

use crate::auth::{query_map, Caller};
use crate::dto::{BaseItemDto, QueryResult};
use crate::error::{ApiError, ApiResult};
use crate::filters::ItemFilters;
use crate::routes::users::resolve_user;
use crate::state::{normalize_id, AppState};

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/Items", get(items))
        .route("/Users/{user_id}/Items", get(user_items))
        .route("/Items/Latest", get(latest))
        .route("/Users/{user_id}/Items/Latest", get(user_latest))
        .route("/UserItems/Resume", get(resume))
        .route("/Users/{user_id}/Items/Resume", get(user_resume))
        .route("/Items/{item_id}", get(item))
        .route("/Users/{user_id}/Items/{item_id}", get(user_item))
        .route("/UserViews", get(views))
        .route("/Users/{user_id}/Views", get(user_views))
}

/// The query as this server understands it; `None` when the listing is empty by construction
/// (every requested item type is one this server does not have).
pub fn parse_item_query(params: &HashMap<String, String>) -> ApiResult<Option<ItemQuery>> {
    let mut query = ItemQuery::default();
    if let Some(parent) = params.get("parentid").filter(|p| !p.is_empty()) {
        query.parent_id = Some(
            normalize_id(parent)
                .ok_or_else(|| ApiError::not_found(format!("item {parent} not found")))?,
        );
    }
    query.recursive = parse_bool(params, "recursive")?.unwrap_or(false);
    if let Some(types) = params.get("includeitemtypes").filter(|t| !t.is_empty()) {
        query.kinds = types
            .split(',')
            .filter_map(|t| ItemKind::parse(t.trim()).ok())
            .collect();
        if query.kinds.is_empty() {
            return Ok(None);
        }
    }
    query.search_term = params
        .get("searchterm")
        .filter(|s| !s.trim().is_empty())
        .cloned();
    if let Some(sort) = params.get("sortby") {
        for key in sort.split(',').map(str::trim) {
            match key.to_ascii_lowercase().as_str() {
                "sortname" | "name" => query.sort = ItemSort::Name,
                "datecreated" | "dateadded" => query.sort = ItemSort::DateAdded,
                _ => continue,
            }
            break;
        }
    }
    if let Some(order) = params.get("sortorder") {
        let first = order.split(',').next().unwrap_or("").trim();
        query.descending = match first.to_ascii_lowercase().as_str() {
            "descending" => true,
            "ascending" | "" => false,
            other => {
                return Err(ApiError::bad_request(format!(
                    "SortOrder {other:?} is neither Ascending nor Descending"
                )))
            }
        };
    }
    query.start_index = parse_u32(params, "startindex")?.unwrap_or(0);
    query.limit = parse_u32(params, "limit")?;
    Ok(Some(query))
}

fn parse_bool(params: &HashMap<String, String>, key: &str) -> ApiResult<Option<bool>> {
    match params.get(key).map(|v| v.to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" => Ok(Some(true)),
        Some(v) if v == "false" || v.is_empty() => Ok(Some(false)),
        Some(v) => Err(ApiError::bad_request(format!(
            "{key}={v:?} is not a boolean"
        ))),
    }
}

fn parse_u32(params: &HashMap<String, String>, key: &str) -> ApiResult<Option<u32>> {
    match params.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse::<u32>().map(Some).map_err(|_| {
            ApiError::bad_request(format!("{key}={v:?} is not a non-negative integer"))
        }),
    }
}

/// The item with this id (any GUID spelling), or 404.
pub async fn load_item(state: &AppState, raw_id: &str) -> ApiResult<Item> {
    let not_found = || ApiError::not_found(format!("item {raw_id} not found"));
    let id = normalize_id(raw_id).ok_or_else(not_found)?;
    state
        .stores
        .metadata
        .get_item(&id)
        .await?
        .ok_or_else(not_found)
}

/// The user's data for an item (the empty state when never touched).
pub async fn user_data(state: &AppState, user_id: &str, item_id: &str) -> ApiResult<UserItemData> {
    Ok(state
        .stores
        .metadata
        .get_user_data(user_id, item_id)
        .await?
        .unwrap_or_else(|| UserItemData::empty(user_id, item_id)))
}

/// DTOs for `items` with `user_id`'s data (one batched store call).
pub async fn to_dtos(
    state: &AppState,
    user_id: &str,
    items: &[Item],
) -> ApiResult<Vec<BaseItemDto>> {
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    let data: HashMap<String, UserItemData> = state
        .stores
        .metadata
        .list_user_data(user_id, &ids)
        .await?
        .into_iter()
        .map(|d| (d.item_id.clone(), d))
        .collect();
    Ok(items
        .iter()
        .map(|item| {
            let d = data
                .get(&item.id)
                .cloned()
                .unwrap_or_else(|| UserItemData::empty(user_id, &item.id));
            BaseItemDto::new(item, &state.server_id, &d)
        })
        .collect())
}

/// The user a request is about: `userId` in the query if present, else the caller.
async fn query_user(
    state: &AppState,
    caller: &Caller,
    params: &HashMap<String, String>,
) -> ApiResult<String> {
    match params.get("userid").filter(|u| !u.is_empty()) {
        Some(raw) => Ok(resolve_user(state, caller, raw).await?.id),
        None => Ok(caller.user.id.clone()),
    }
}

async fn list(
    state: &AppState,
    user_id: &str,
    params: &HashMap<String, String>,
) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    if let Some(ids) = params.get("ids").filter(|i| !i.is_empty()) {
        let mut items = Vec::new();
        for raw in ids.split(',') {
            if let Ok(item) = load_item(state, raw.trim()).await {
                items.push(item);
            }
        }
        let dtos = to_dtos(state, user_id, &items).await?;
        return Ok(Json(QueryResult {
            total_record_count: dtos.len() as u64,
            items: dtos,
            start_index: 0,
        }));
    }
    let Some(query) = parse_item_query(params)? else {
        return Ok(Json(QueryResult {
            items: Vec::new(),
            total_record_count: 0,
            start_index: 0,
        }));
    };
    if let Some(parent) = &query.parent_id {
        load_item(state, parent).await?;
    }
    let filters = ItemFilters::parse(params.get("filters").map(String::as_str));
    if !filters.is_empty() {
        return filtered_list(state, user_id, query, &filters, params).await;
    }
    let page = state.stores.metadata.query_items(&query).await?;
    Ok(Json(QueryResult {
        items: to_dtos(state, user_id, &page.items).await?,
        total_record_count: page.total,
        start_index: query.start_index,
    }))
}

/// A listing with user-data filters (see `filters.rs`): every match (up to the store's
/// `MAX_PAGE`), filtered, optionally ordered by when it was played, then paged here.
async fn filtered_list(
    state: &AppState,
    user_id: &str,
    query: ItemQuery,
    filters: &ItemFilters,
    params: &HashMap<String, String>,
) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    let (start, limit) = (query.start_index, query.limit);
    let everything = ItemQuery {
        start_index: 0,
        limit: None,
        ..query
    };
    let all = state.stores.metadata.query_items(&everything).await?;
    let mut dtos: Vec<BaseItemDto> = to_dtos(state, user_id, &all.items)
        .await?
        .into_iter()
        .filter(|d| filters.matches(d))
        .collect();
    let by_date_played = params
        .get("sortby")
        .and_then(|s| s.split(',').next())
        .is_some_and(|k| k.trim().eq_ignore_ascii_case("DatePlayed"));
    if by_date_played {
        // ISO-8601 strings of one format order as their instants; never played sorts first.
        dtos.sort_by(|a, b| {
            let ordering = a
                .user_data
                .last_played_date
                .cmp(&b.user_data.last_played_date);
            if everything.descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
    }
    let total = dtos.len() as u64;
    let items = dtos
        .into_iter()
        .skip(start as usize)
        .take(limit.map_or(usize::MAX, |l| l as usize))
        .collect();
    Ok(Json(QueryResult {
        items,
        total_record_count: total,
        start_index: start,
    }))
}

async fn items(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    let params = query_map(uri.query());
    let user_id = query_user(&state, &caller, &params).await?;
    list(&state, &user_id, &params).await
}

async fn user_items(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    let user = resolve_user(&state, &caller, &user_id).await?;
    list(&state, &user.id, &query_map(uri.query())).await
}

async fn one(state: &AppState, user_id: &str, raw_item: &str) -> ApiResult<Json<BaseItemDto>> {
    let item = load_item(state, raw_item).await?;
    let data = user_data(state, user_id, &item.id).await?;
    Ok(Json(BaseItemDto::new(&item, &state.server_id, &data)))
}

async fn item(
    State(state): State<AppState>,
    caller: Caller,
    Path(item_id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<BaseItemDto>> {
    let user_id = query_user(&state, &caller, &query_map(uri.query())).await?;
    one(&state, &user_id, &item_id).await
}

async fn user_item(
    State(state): State<AppState>,
    caller: Caller,
    Path((user_id, item_id)): Path<(String, String)>,
) -> ApiResult<Json<BaseItemDto>> {
    let user = resolve_user(&state, &caller, &user_id).await?;
    one(&state, &user.id, &item_id).await
}

async fn view_list(state: &AppState, user_id: &str) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    let roots = state
        .stores
        .metadata
        .query_items(&ItemQuery::default())
        .await?;
    Ok(Json(QueryResult {
        items: to_dtos(state, user_id, &roots.items).await?,
        total_record_count: roots.total,
        start_index: 0,
    }))
}

async fn views(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    let user_id = query_user(&state, &caller, &query_map(uri.query())).await?;
    view_list(&state, &user_id).await
}

async fn user_views(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    let user = resolve_user(&state, &caller, &user_id).await?;
    view_list(&state, &user.id).await
}

/// Playable items, newest first, under `ParentId` if given (Jellyfin's "Latest" row: an array).
async fn latest_list(
    state: &AppState,
    user_id: &str,
    params: &HashMap<String, String>,
) -> ApiResult<Json<Vec<BaseItemDto>>> {
    let parent_id = match params.get("parentid").filter(|p| !p.is_empty()) {
        Some(p) => Some(load_item(state, p).await?.id),
        None => None,
    };
    let query = ItemQuery {
        parent_id,
        recursive: true,
        kinds: vec![
            ItemKind::Movie,
            ItemKind::Video,
            ItemKind::Episode,
            ItemKind::Audio,
        ],
        sort: ItemSort::DateAdded,
        descending: true,
        limit: Some(parse_u32(params, "limit")?.unwrap_or(16).min(100)),
        ..ItemQuery::default()
    };
    let page = state.stores.metadata.query_items(&query).await?;
    Ok(Json(to_dtos(state, user_id, &page.items).await?))
}

async fn latest(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Json<Vec<BaseItemDto>>> {
    let params = query_map(uri.query());
    let user_id = query_user(&state, &caller, &params).await?;
    latest_list(&state, &user_id, &params).await
}

async fn user_latest(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<Vec<BaseItemDto>>> {
    let user = resolve_user(&state, &caller, &user_id).await?;
    latest_list(&state, &user.id, &query_map(uri.query())).await
}

/// Items started and not finished, most recently played first ("Continue watching").
async fn resume_list(
    state: &AppState,
    user_id: &str,
    params: &HashMap<String, String>,
) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    let query = ItemQuery {
        recursive: true,
        kinds: vec![
            ItemKind::Movie,
            ItemKind::Video,
            ItemKind::Episode,
            ItemKind::Audio,
        ],
        ..ItemQuery::default()
    };
    let all = state.stores.metadata.query_items(&query).await?;
    let mut dtos: Vec<BaseItemDto> = to_dtos(state, user_id, &all.items)
        .await?
        .into_iter()
        .filter(|d| d.user_data.playback_position_ticks > 0 && !d.user_data.played)
        .collect();
    dtos.sort_by(|a, b| {
        b.user_data
            .last_played_date
            .cmp(&a.user_data.last_played_date)
    });
    let total = dtos.len() as u64;
    let start = parse_u32(params, "startindex")?.unwrap_or(0);
    let limit = parse_u32(params, "limit")?.unwrap_or(u32::MAX);
    let items = dtos
        .into_iter()
        .skip(start as usize)
        .take(limit as usize)
        .collect();
    Ok(Json(QueryResult {
        items,
        total_record_count: total,
        start_index: start,
    }))
}

async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    let params = query_map(uri.query());
    let user_id = query_user(&state, &caller, &params).await?;
    resume_list(&state, &user_id, &params).await
}

async fn user_resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    let user = resolve_user(&state, &caller, &user_id).await?;
    resume_list(&state, &user.id, &query_map(uri.query())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &str) -> HashMap<String, String> {
        query_map(Some(q))
    }

    #[test]
    fn parses_a_jellyfin_web_query() {
        let q = parse_item_query(&params(
            "SortBy=SortName,ProductionYear&SortOrder=Descending&IncludeItemTypes=Movie,Series&Recursive=true&Fields=PrimaryImageAspectRatio&ImageTypeLimit=1&StartIndex=10&Limit=5&ParentId=0123456789ABCDEF0123456789ABCDEF",
        ))
        .unwrap()
        .unwrap();
        assert_eq!(
            q.parent_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert!(q.recursive && q.descending);
        assert_eq!(q.kinds, vec![ItemKind::Movie]);
        assert_eq!(q.sort, ItemSort::Name);
        assert_eq!((q.start_index, q.limit), (10, Some(5)));
    }

    #[test]
    fn unknown_types_give_an_empty_listing_and_bad_values_a_400() {
        assert!(parse_item_query(&params("IncludeItemTypes=Series,BoxSet"))
            .unwrap()
            .is_none());
        assert_eq!(
            parse_item_query(&params("SortBy=DateCreated"))
                .unwrap()
                .unwrap()
                .sort,
            ItemSort::DateAdded
        );
        for bad in [
            "Limit=-1",
            "StartIndex=x",
            "Recursive=maybe",
            "SortOrder=Sideways",
        ] {
            let err = parse_item_query(&params(bad)).unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST, "{bad}");
        }
        let err = parse_item_query(&params("ParentId=nope")).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::NOT_FOUND);
    }
}
