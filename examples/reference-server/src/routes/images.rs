//! `GET`/`HEAD /Items/{id}/Images/{Primary|Backdrop|Thumb}[/{index}]`: the item's artwork.
//!
//! Why no credentials: like Jellyfin's, these answer without a token — a browser's `<img>`
//! sends no headers, and jellyfin-web puts no `api_key` on image URLs. An item id is a hash
//! of its path, so nothing is listed that a client could not already name.
//!
//! Caching: the ETag is a hash of the picture's tag and the normalised request, so a client
//! revalidating gets `304 Not Modified` without the server reading a byte; when the URL
//! carries the picture's current `tag` (as clients build it from `ImageTags`), the answer is
//! `immutable` for a year — a changed picture gets a new tag and therefore a new URL.
//!
//! Errors: an unknown item, image type or index is 404; a malformed parameter or index is 400
//! (`artwork::request`); sizes beyond the cap are capped, not refused.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use media_ha::core::{ids, ImageKind};

use crate::artwork::render::{render, sniff};
use crate::artwork::request::{Format, ImageRequest};
use crate::artwork::{is_frame, Artwork};
use crate::auth::query_map;
use crate::error::{ApiError, ApiResult};
use crate::routes::items::load_item;
use crate::state::AppState;

/// A source picture larger than this is not served (a poster is a few MB at most).
pub const MAX_SOURCE_BYTES: u64 = 50 * 1024 * 1024;
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "public, no-cache";

/// The routes of this file (`get` also answers `HEAD`, without the body).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/Items/{item_id}/Images/{image_type}", get(first))
        .route(
            "/Items/{item_id}/Images/{image_type}/{image_index}",
            get(indexed),
        )
}

async fn first(
    State(state): State<AppState>,
    Path((item_id, image_type)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    image(&state, &item_id, &image_type, 0, &uri, &headers).await
}

async fn indexed(
    State(state): State<AppState>,
    Path((item_id, image_type, index)): Path<(String, String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let index: usize = index
        .parse()
        .map_err(|_| ApiError::bad_request("the image index must be a non-negative integer"))?;
    image(&state, &item_id, &image_type, index, &uri, &headers).await
}

async fn image(
    state: &AppState,
    item_id: &str,
    image_type: &str,
    index: usize,
    uri: &Uri,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let params: HashMap<String, String> = query_map(uri.query());
    let request = ImageRequest::parse(&params)?;
    let kind = ImageKind::parse(image_type)
        .map_err(|_| ApiError::not_found(format!("no image type {image_type:?}")))?;
    let item = load_item(state, item_id).await?;
    let image = item
        .images
        .iter()
        .filter(|i| i.kind == kind)
        .nth(index)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "item {item_id} has no {} image {index}",
                kind.as_str()
            ))
        })?;

    let key = render_key(&image.tag, &request);
    let etag = format!("\"{key}\"");
    let cache_control = if request.tag.as_deref() == Some(image.tag.as_str()) {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    if if_none_match(headers, &etag) {
        return Ok(answer(
            StatusCode::NOT_MODIFIED,
            &etag,
            cache_control,
            None,
            Body::empty(),
        ));
    }

    let artwork: &Artwork = &state.artwork;
    let source: PathBuf = if is_frame(&item, image) {
        artwork.frames.frame(&item.path, &image.tag).await?
    } else {
        PathBuf::from(&image.path)
    };
    let source_format = if is_frame(&item, image) {
        Some(Format::Jpeg)
    } else {
        source
            .extension()
            .and_then(|e| e.to_str())
            .and_then(Format::parse)
    };

    if !request.transforms() {
        let bytes = read_source(&source).await?;
        let format = sniff(&bytes).or(source_format).unwrap_or(Format::Jpeg);
        return Ok(answer(
            StatusCode::OK,
            &etag,
            cache_control,
            Some(format),
            Body::from(bytes),
        ));
    }

    let format = request.output_format(source_format);
    if let Some(bytes) = artwork.cache.get(&image.tag, &key, format).await {
        artwork.stats.cache_hits.fetch_add(1, Ordering::Relaxed);
        return Ok(answer(
            StatusCode::OK,
            &etag,
            cache_control,
            Some(format),
            Body::from(bytes),
        ));
    }
    let bytes = read_source(&source).await?;
    let req = request.clone();
    let rendered = tokio::task::spawn_blocking(move || render(&bytes, &req))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "artwork: resize task failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        })?
        .map_err(|e| {
            tracing::warn!(path = %source.display(), error = %e, "artwork: unreadable picture");
            ApiError::not_found("the picture cannot be read")
        })?;
    artwork.stats.renders.fetch_add(1, Ordering::Relaxed);
    // The key names the request; the output format is the one the request implies.
    artwork
        .cache
        .put(&image.tag, &key, rendered.format, &rendered.bytes)
        .await;
    Ok(answer(
        StatusCode::OK,
        &etag,
        cache_control,
        Some(rendered.format),
        Body::from(rendered.bytes),
    ))
}

/// The cache key and ETag of `request` for the picture tagged `tag`.
fn render_key(tag: &str, r: &ImageRequest) -> String {
    let n = |v: Option<u32>| v.map_or_else(String::new, |v| v.to_string());
    ids::item_id_for_path(&format!(
        "artwork-render:v1:{tag}:w{}:h{}:mw{}:mh{}:fw{}:fh{}:q{}:f{}",
        n(r.width),
        n(r.height),
        n(r.max_width),
        n(r.max_height),
        n(r.fill_width),
        n(r.fill_height),
        r.quality.map_or_else(String::new, |q| q.to_string()),
        r.format.map_or("", Format::extension),
    ))
}

/// True when `If-None-Match` lists `etag` (or `*`).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == etag || t == "*")
}

async fn read_source(path: &std::path::Path) -> ApiResult<Vec<u8>> {
    let gone = || ApiError::not_found("the picture file is gone (a rescan will update the item)");
    let meta = tokio::fs::metadata(path).await.map_err(|_| gone())?;
    if !meta.is_file() || meta.len() > MAX_SOURCE_BYTES {
        return Err(ApiError::not_found("the picture file cannot be served"));
    }
    tokio::fs::read(path).await.map_err(|_| gone())
}

fn answer(
    status: StatusCode,
    etag: &str,
    cache_control: &'static str,
    format: Option<Format>,
    body: Body,
) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Some(format) = format {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.mime()),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_as_clients_send_them() {
        let mut h = HeaderMap::new();
        assert!(!if_none_match(&h, "\"a\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"a\""),
        );
        assert!(if_none_match(&h, "\"a\""));
        assert!(!if_none_match(&h, "\"b\""));
    }

    #[test]
    fn keys_differ_by_tag_and_request() {
        let plain = ImageRequest::default();
        let small = ImageRequest {
            max_width: Some(100),
            ..ImageRequest::default()
        };
        assert_ne!(render_key("t1", &plain), render_key("t2", &plain));
        assert_ne!(render_key("t1", &plain), render_key("t1", &small));
        assert_eq!(render_key("t1", &small), render_key("t1", &small.clone()));
        let tagged = ImageRequest {
            tag: Some("t1".into()),
            ..small.clone()
        };
        assert_eq!(
            render_key("t1", &small),
            render_key("t1", &tagged),
            "the tag parameter does not change the picture"
        );
    }
}
