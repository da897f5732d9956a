//! `/` and `/web/…`: the web client, or the landing page (see `web/mod.rs` for why).

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST, LOCATION};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;
use crate::web::{self, landing};

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route("/web", get(root))
        .route("/web/", get(file))
        .route("/web/{*path}", get(file))
}

/// `/` and `/web`: to the web client (relative, so it also works below a proxy's path prefix),
/// or the landing page.
async fn root(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.config.web_dir.is_some() {
        return (
            StatusCode::FOUND,
            [(LOCATION, HeaderValue::from_static("web/"))],
        )
            .into_response();
    }
    landing_page(&state, &headers, StatusCode::OK)
}

/// `/web/…`: a file of the web client; without one, the landing page (200 for the client's
/// entry points, 404 with the page for anything else).
async fn file(State(state): State<AppState>, req: Request<Body>) -> Response {
    if let Some(dir) = &state.config.web_dir {
        return web::serve(dir, req).await;
    }
    let entry = matches!(req.uri().path(), "/web/" | "/web/index.html");
    let status = if entry {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    landing_page(&state, req.headers(), status)
}

fn landing_page(state: &AppState, headers: &HeaderMap, status: StatusCode) -> Response {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let page = landing::Landing {
        server_name: &state.server_name,
        address: landing::address(host, &state.local_address),
    };
    (
        status,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (CACHE_CONTROL, HeaderValue::from_static(web::REVALIDATE)),
        ],
        page.html(),
    )
        .into_response()
}
