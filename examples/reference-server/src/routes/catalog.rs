//! The browsing endpoints around the library that jellyfin-web and the SDK call on their home,
//! library and item pages: `/Library/MediaFolders`, `/Items/Filters[2]`, `/Genres`,
//! `/Studios`, `/Persons`, `/Search/Hints`, `/Items/{id}/Similar`, `/Shows/NextUp`,
//! `/Items/{id}/Intros`, `/MediaSegments/{id}`.
//!
//! Why some answers are empty: this server reads files, not metadata providers, so it knows no
//! genres, studios, people, series or intro segments. Those endpoints answer well-formed empty
//! results (a 404 would break the page that asks); the ones it can answer truthfully (media
//! folders, search, similar = same kind in the same folder) do. Every one parses its paging
//! parameters like a listing (`listing.rs`: malformed values are a 400).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::routing::get;
use axum::{Json, Router};
use media_ha::core::ItemQuery;
use serde_json::{json, Value};

use crate::auth::{query_map, Caller};
use crate::dto::{search_hint, BaseItemDto, QueryResult};
use crate::error::{ApiError, ApiResult};
use crate::listing::{parse_u32, Listing};
use crate::routes::items::{load_item, query_user, to_dtos};
use crate::state::AppState;

/// The largest page these endpoints answer.
const MAX_LIMIT: u32 = 100;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/Library/MediaFolders", get(media_folders))
        .route("/Items/Filters", get(filters))
        .route("/Items/Filters2", get(filters2))
        .route("/Genres", get(empty_list))
        .route("/Studios", get(empty_list))
        .route("/Persons", get(empty_list))
        .route("/Search/Hints", get(search_hints))
        .route("/Items/{item_id}/Similar", get(similar))
        .route("/Shows/NextUp", get(empty_list))
        .route("/Items/{item_id}/Intros", get(intros))
        .route("/MediaSegments/{item_id}", get(media_segments))
}

fn empty<T>(start: u32) -> QueryResult<T> {
    QueryResult {
        items: Vec::new(),
        total_record_count: 0,
        start_index: start,
    }
}

/// The paging parameters, checked (400 when malformed).
fn paging(params: &HashMap<String, String>) -> ApiResult<(u32, u32)> {
    let start = parse_u32(params, "startindex")?.unwrap_or(0);
    let limit = parse_u32(params, "limit")?
        .unwrap_or(MAX_LIMIT)
        .min(MAX_LIMIT);
    Ok((start, limit))
}

/// `GET /Library/MediaFolders`: the library roots.
async fn media_folders(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    let params = query_map(uri.query());
    let user_id = query_user(&state, &caller, &params).await?;
    let roots = state
        .stores
        .metadata
        .query_items(&ItemQuery::default())
        .await?;
    Ok(Json(QueryResult {
        items: to_dtos(&state, &user_id, &roots.items).await?,
        total_record_count: roots.total,
        start_index: 0,
    }))
}

/// `GET /Items/Filters`: the values a library page offers to filter by (none are known).
async fn filters(_caller: Caller, uri: Uri) -> ApiResult<Json<Value>> {
    Listing::parse(&query_map(uri.query()))?;
    Ok(Json(json!({
        "Genres": [], "Tags": [], "OfficialRatings": [], "Years": []
    })))
}

/// `GET /Items/Filters2`.
async fn filters2(_caller: Caller, uri: Uri) -> ApiResult<Json<Value>> {
    Listing::parse(&query_map(uri.query()))?;
    Ok(Json(json!({ "Genres": [], "Tags": [] })))
}

/// Genres, studios, persons, next up: none known; well-formed and empty.
async fn empty_list(_caller: Caller, uri: Uri) -> ApiResult<Json<QueryResult<Value>>> {
    let (start, _) = paging(&query_map(uri.query()))?;
    Ok(Json(empty(start)))
}

/// `GET /Search/Hints?searchTerm=`: items whose name contains the term, Jellyfin's
/// `SearchHint` shape.
async fn search_hints(
    State(state): State<AppState>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let mut params = query_map(uri.query());
    let term = params
        .get("searchterm")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("searchTerm is required"))?;
    if term.len() > 256 {
        return Err(ApiError::bad_request("searchTerm is at most 256 bytes"));
    }
    // Hints carry no user data, but a `userId` the caller may not act for is still refused.
    query_user(&state, &caller, &params).await?;
    let (start, limit) = paging(&params)?;
    params.insert("recursive".into(), "true".into());
    let listing = Listing::parse(&params)?;
    let Some(mut query) = listing.query else {
        return Ok(Json(json!({ "SearchHints": [], "TotalRecordCount": 0 })));
    };
    query.search_term = Some(term.clone());
    query.start_index = start;
    query.limit = Some(limit);
    let page = state.stores.metadata.query_items(&query).await?;
    let hints: Vec<Value> = page
        .items
        .iter()
        .map(|item| search_hint(item, &state.server_id, &term))
        .collect();
    Ok(Json(
        json!({ "SearchHints": hints, "TotalRecordCount": page.total }),
    ))
}

/// `GET /Items/{id}/Similar`: the other items of the same kind in the same folder (this
/// server knows no genres or people to compare by).
async fn similar(
    State(state): State<AppState>,
    caller: Caller,
    Path(item_id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<QueryResult<BaseItemDto>>> {
    let params = query_map(uri.query());
    let user_id = query_user(&state, &caller, &params).await?;
    let (_, limit) = paging(&params)?;
    let item = load_item(&state, &item_id).await?;
    if item.kind.is_folder() || item.parent_id.is_none() {
        return Ok(Json(empty(0)));
    }
    let query = ItemQuery {
        parent_id: item.parent_id.clone(),
        kinds: vec![item.kind],
        limit: Some(limit.saturating_add(1)),
        ..ItemQuery::default()
    };
    let mut items = state.stores.metadata.query_items(&query).await?.items;
    items.retain(|i| i.id != item.id);
    items.truncate(limit as usize);
    let dtos = to_dtos(&state, &user_id, &items).await?;
    Ok(Json(QueryResult {
        total_record_count: dtos.len() as u64,
        items: dtos,
        start_index: 0,
    }))
}

/// `GET /Items/{id}/Intros`: no intros are configured.
async fn intros(
    State(state): State<AppState>,
    _caller: Caller,
    Path(item_id): Path<String>,
) -> ApiResult<Json<QueryResult<Value>>> {
    load_item(&state, &item_id).await?;
    Ok(Json(empty(0)))
}

/// `GET /MediaSegments/{id}`: no intro/outro segments are detected.
async fn media_segments(
    State(state): State<AppState>,
    _caller: Caller,
    Path(item_id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<QueryResult<Value>>> {
    let params = query_map(uri.query());
    // `includeSegmentTypes`: names (Jellyfin's MediaSegmentType); anything else is malformed.
    for kind in crate::auth::query_list(&params, "includesegmenttypes") {
        if kind.len() > 64 || !kind.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ApiError::bad_request(
                "includeSegmentTypes: segment types are names (letters and digits)",
            ));
        }
    }
    load_item(&state, &item_id).await?;
    Ok(Json(empty(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_is_bounded_and_checked() {
        let p = |q: &str| paging(&query_map(Some(q)));
        assert_eq!(p("").unwrap(), (0, MAX_LIMIT));
        assert_eq!(p("StartIndex=3&Limit=5000").unwrap(), (3, MAX_LIMIT));
        assert!(p("Limit=-2").is_err() && p("startIndex=x").is_err());
    }
}
