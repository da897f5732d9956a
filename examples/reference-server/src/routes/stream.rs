//! Static streams: the file as it is on disk, with HTTP ranges (seeking, resuming downloads).
//!
//! Why tower-http's `ServeFile`: ranges (single and multi), `If-Modified-Since`, `HEAD`, and
//! content types are easy to get subtly wrong; `ServeFile` handles them and streams the file
//! without loading it. The route accepts `stream` and `stream.{container}` (Jellyfin's two
//! spellings); the container suffix is informational — this server never remuxes on this path.
//! Only regular files are opened (see `triage.rs`), and symlinks only as `--follow-symlinks`
//! allows (`library_file.rs`).

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::library_file;
use crate::routes::items::load_item;
use crate::state::AppState;
use crate::triage::file_problem;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/Videos/{item_id}/{file}", get(stream))
        .route("/Audio/{item_id}/{file}", get(stream))
        .route("/Items/{item_id}/Download", get(download))
}

/// Is `file` one of `stream`, `stream.<container>`?
pub fn is_stream_name(file: &str) -> bool {
    file.eq_ignore_ascii_case("stream")
        || file.split_once('.').is_some_and(|(stem, ext)| {
            stem.eq_ignore_ascii_case("stream") && !ext.is_empty() && !ext.contains('/')
        })
}

async fn stream(
    State(state): State<AppState>,
    _caller: Caller,
    Path((item_id, file)): Path<(String, String)>,
    req: Request,
) -> ApiResult<Response> {
    if !is_stream_name(&file) {
        return Err(ApiError::not_found(format!(
            "no resource {file:?} for an item"
        )));
    }
    serve(&state, &item_id, req).await
}

async fn download(
    State(state): State<AppState>,
    _caller: Caller,
    Path(item_id): Path<String>,
    req: Request,
) -> ApiResult<Response> {
    serve(&state, &item_id, req).await
}

async fn serve(state: &AppState, item_id: &str, req: Request) -> ApiResult<Response> {
    let item = load_item(state, item_id).await?;
    if item.kind.is_folder() {
        return Err(ApiError::bad_request(format!(
            "item {item_id} is a folder, not a media file"
        )));
    }
    // The library can change between scans: a FIFO or device put where a media file was
    // would block the thread that opens it. Stat first (no open), serve regular files only.
    let problem = match tokio::fs::metadata(&item.path).await {
        Ok(meta) => file_problem(meta.file_type(), meta.len()),
        Err(err) => Some(format!("cannot stat: {err}")),
    };
    if let Some(reason) = problem {
        tracing::warn!(path = %item.path, %reason, "library file not servable");
        return Err(ApiError::not_found(
            "the media file is missing on disk or not a regular file; rescan the library",
        ));
    }
    // Opened and checked under the symlink policy (library_file.rs), then served from the
    // very file that was checked.
    let path = std::path::PathBuf::from(&item.path);
    let roots = state.library_roots.clone();
    let policy = state.config.follow_symlinks;
    let opened = tokio::task::spawn_blocking(move || library_file::open(&path, &roots, policy))
        .await
        .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?;
    let opened = match opened {
        Ok(opened) => opened,
        Err(refused) => {
            tracing::warn!(path = %item.path, ?refused, "library file not served");
            return Err(ApiError::not_found(
                "the media file is missing on disk or not servable; rescan the library",
            ));
        }
    };
    let mime = mime_guess::from_path(&item.path).first_or_octet_stream();
    let response = ServeFile::new_with_mime(&opened.serve_path, &mime)
        .oneshot(req)
        .await
        .unwrap_or_else(|never| match never {});
    drop(opened);
    if response.status() == StatusCode::NOT_FOUND {
        tracing::warn!(path = %item.path, "library file missing on disk");
        return Err(ApiError::not_found(
            "the media file is missing on disk; rescan the library",
        ));
    }
    Ok(response.map(Body::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert!(is_stream_name("stream"));
        assert!(is_stream_name("stream.mkv"));
        assert!(is_stream_name("Stream.MP4"));
        assert!(!is_stream_name("stream."));
        assert!(!is_stream_name("master.m3u8"));
        assert!(!is_stream_name("streams.mp4"));
    }
}
