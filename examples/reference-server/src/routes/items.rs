//! Browsing the library: listings, single items, the user's views, resume and latest rows.
//!
//! The listing parameters are parsed by [`Listing::parse`] (`listing.rs`: list parameters as
//! comma lists or repeated keys, unknown names ignored, malformed values 400). An item's own
//! page (`/Items/{id}`) carries `MediaSources` (with `MediaStreams`) as Jellyfin's does; a
//! listing carries them when asked with `Fields=MediaSources`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use media_ha::core::{Item, ItemKind, ItemQuery, ItemSort, UserFilter, UserItemData};

use crate::auth::{query_map, Caller};
use crate::dto::{BaseItemDto, ItemFields, QueryResult};
use crate::error::{ApiError, ApiResult};
use crate::listing::{parse_u32, Fields, Listing};
use crate::routes::playback::media_of;
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

/// The item with this id (any GUID spelling), or 404.
pub async fn load_item(state: &AppState, raw_id: &str) -> ApiResult<Item> {
    load_shared_item(state, raw_id)
        .await
        .map(Arc::unwrap_or_clone)
}

/// [`load_item`], shared with the metadata cache (no copy when it holds the item).
pub async fn load_shared_item(state: &AppState, raw_id: &str) -> ApiResult<Arc<Item>> {
    let not_found = || ApiError::not_found(format!("item {raw_id} not found"));
    let id = normalize_id(raw_id).ok_or_else(not_found)?;
    state.stores.shared_item(&id).await?.ok_or_else(not_found)
}

/// The user's data for an item (the empty state when never touched), with the progress this
/// replica acknowledged and has not stored yet (`progress/mod.rs`).
pub async fn user_data(state: &AppState, user_id: &str, item_id: &str) -> ApiResult<UserItemData> {
    let mut data = stored_user_data(state, user_id, item_id).await?;
    state.progress.overlay(&mut data);
    Ok(data)
}

/// The user's data for an item as the stores hold it (the empty state when never touched).
pub async fn stored_user_data(
    state: &AppState,
    user_id: &str,
    item_id: &str,
) -> ApiResult<UserItemData> {
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
    to_dtos_with(state, user_id, items, Fields::default()).await
}

/// [`to_dtos`] with the optional `fields` filled in.
pub async fn to_dtos_with(
    state: &AppState,
    user_id: &str,
    items: &[Item],
    fields: Fields,
) -> ApiResult<Vec<BaseItemDto>> {
    let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
    let stored: HashMap<String, UserItemData> = state
        .stores
        .metadata
        .list_user_data(user_id, &ids)
        .await?
        .into_iter()
        .map(|d| (d.item_id.clone(), d))
        .collect();
    let mut data: Vec<UserItemData> = items
        .iter()
        .map(|item| {
            stored
                .get(&item.id)
                .cloned()
                .unwrap_or_else(|| UserItemData::empty(user_id, &item.id))
        })
        .collect();
    state.progress.overlay_all(&mut data);
    Ok(items
        .iter()
        .zip(&data)
        .map(|(item, d)| dto(state, item, d, fields))
        .collect())
}

/// The DTO of `item` for a caller with `data`, with the optional `fields` asked for (media
/// sources and streams, for playable items); what depends only on the item comes finished from
/// the memo (`item_json.rs`).
fn dto(state: &AppState, item: &Item, data: &UserItemData, fields: Fields) -> BaseItemDto {
    let json = state
        .item_json
        .get(item, || ItemFields::new(item, &state.server_id));
    let mut dto = BaseItemDto::with_item(json, item, data);
    if item.kind.is_folder() || (!fields.media_sources && !fields.media_streams) {
        return dto;
    }
    let media = media_of(state, &dto.item, item);
    if fields.media_sources {
        dto.media_sources = Some(media.sources);
    }
    if fields.media_streams {
        dto.media_streams = Some(media.streams);
    }
    dto
}

/// The user a request is about: `userId` in the query if present, else the caller.
pub async fn query_user(
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
    let listing = Listing::parse(params)?;
    if let Some(ids) = &listing.ids {
        // The items named, in the order named (unknown ids left out), then the listing's
        // filters; paged like any listing.
        let mut items = Vec::new();
        for id in ids {
            if let Some(item) = state.stores.metadata.get_item(id).await? {
                items.push(item);
            }
        }
        let kinds = listing.query.as_ref().map(|q| q.kinds.clone());
        items.retain(|i| match &kinds {
            Some(kinds) => kinds.is_empty() || kinds.contains(&i.kind),
            None => false,
        });
        let dtos: Vec<BaseItemDto> = to_dtos_with(state, user_id, &items, listing.fields)
            .await?
            .into_iter()
            .filter(|d| listing.filters.matches(d))
            .collect();
        let (start, limit) = listing
            .query
            .as_ref()
            .map_or((0, None), |q| (q.start_index, q.limit));
        return Ok(Json(page(dtos, start, limit)));
    }
    let Some(query) = listing.query.clone() else {
        return Ok(Json(QueryResult {
            items: Vec::new(),
            total_record_count: 0,
            start_index: 0,
        }));
    };
    if let Some(parent) = &query.parent_id {
        load_item(state, parent).await?;
    }
    let Some(query) = listing
        .filters
        .narrow(query, user_id, listing.by_date_played)
    else {
        return Ok(Json(QueryResult {
            items: Vec::new(),
            total_record_count: 0,
            start_index: listing.query.as_ref().map_or(0, |q| q.start_index),
        }));
    };
    let page = state.stores.shared_page(&query).await?;
    Ok(Json(QueryResult {
        items: to_dtos_with(state, user_id, &page.items, listing.fields).await?,
        total_record_count: page.total,
        start_index: query.start_index,
    }))
}

/// One page of `dtos`, counting them all.
fn page(dtos: Vec<BaseItemDto>, start: u32, limit: Option<u32>) -> QueryResult<BaseItemDto> {
    let total = dtos.len() as u64;
    let items = dtos
        .into_iter()
        .skip(start as usize)
        .take(limit.map_or(usize::MAX, |l| l as usize))
        .collect();
    QueryResult {
        items,
        total_record_count: total,
        start_index: start,
    }
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

/// An item's own page: every field this server fills, `MediaSources` and `MediaStreams`
/// included (the client's play button reads them).
async fn one(state: &AppState, user_id: &str, raw_item: &str) -> ApiResult<Json<BaseItemDto>> {
    let item = load_shared_item(state, raw_item).await?;
    let data = user_data(state, user_id, &item.id).await?;
    Ok(Json(dto(state, &item, &data, Fields::all())))
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
    let roots = state.stores.shared_page(&ItemQuery::default()).await?;
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
    let page = state.stores.shared_page(&query).await?;
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

/// Items started and not finished, most recently played first ("Continue watching"): the
/// store joins the user's marks, so the row is right and cheap at any library size.
async fn resume_list(
    state: &AppState,
    user_id: &str,
    params: &HashMap<String, String>,
) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    let kinds = crate::listing::resume_kinds(params)?;
    let start_index = parse_u32(params, "startindex")?.unwrap_or(0);
    if kinds.is_empty() {
        // No kind fits (an empty kind list would mean every kind to the store).
        return Ok(Json(QueryResult {
            items: Vec::new(),
            total_record_count: 0,
            start_index,
        }));
    }
    let query = ItemQuery {
        recursive: true,
        kinds,
        user: Some(UserFilter {
            resumable: Some(true),
            ..UserFilter::new(user_id)
        }),
        sort: ItemSort::DatePlayed,
        descending: true,
        start_index,
        limit: parse_u32(params, "limit")?,
        ..ItemQuery::default()
    };
    let page = state.stores.metadata.query_items(&query).await?;
    Ok(Json(QueryResult {
        items: to_dtos(state, user_id, &page.items).await?,
        total_record_count: page.total,
        start_index: query.start_index,
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
