//! The Jellyfin web client at `/web/`, or a page saying how to get one.
//!
//! Why it is here: a person's first contact with a Jellyfin server is its address in a browser.
//! Jellyfin serves its web client (jellyfin-web, a single-page app that talks to the API from
//! the browser) at `/web/`; this server does the same from `--web-dir`, a folder holding an
//! unchanged jellyfin-web build. Without one, `/` and `/web/` answer a small page
//! ([`landing`]) instead of a bare 404: the address to type into any Jellyfin app, and where
//! the web client comes from.
//!
//! Caching: a jellyfin-web build names most files after their content
//! (`12394.623f94449c2a08cd76c0.chunk.js`) and loads its few fixed names with the build's hash
//! as query (`runtime.bundle.js?0231f9b6a41ecd8bce51`); either URL can never change meaning, so
//! it is cached for a year as `immutable`. Everything else — `index.html` first, which names
//! the next build's files, and `config.json` — is `no-cache`: revalidated on every load, a
//! 304 when unchanged, so an upgraded web client is picked up on the next page load.

pub mod landing;

use std::io;
use std::path::Path;

use axum::body::Body;
use axum::http::header::{CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, Request, StatusCode, Uri};
use axum::response::Response;
use tower::ServiceExt as _;
use tower_http::services::ServeDir;

/// `Cache-Control` of a file whose URL names its content.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of everything else: revalidate each time (`Last-Modified` → 304).
pub const REVALIDATE: &str = "no-cache";

/// The longest file name and path the file systems under a web dir accept (Linux `NAME_MAX`
/// and `PATH_MAX`). A longer one cannot name a file, and asking the OS anyway fails with
/// `ENAMETOOLONG`, which `ServeDir` answers as a 500.
const NAME_MAX: usize = 255;
const PATH_MAX: usize = 4096;

/// True when `path` (the URL path below `/web`, still percent-encoded) decodes to a name
/// short enough to exist under `dir`; a longer one is simply not there (404).
fn may_name_a_file(dir: &Path, path: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(path).collect::<Vec<u8>>();
    dir.as_os_str().len() + decoded.len() < PATH_MAX
        && decoded
            .split(|&b| b == b'/')
            .all(|part| part.len() <= NAME_MAX)
}

/// Checks at start-up that `dir` holds a web client build, so a wrong path fails loudly then
/// rather than as a blank page later.
///
/// # Errors
/// When `dir/index.html` is not a readable file.
pub fn check_dir(dir: &Path) -> io::Result<()> {
    let index = dir.join("index.html");
    match std::fs::metadata(&index) {
        Ok(meta) if meta.is_file() => Ok(()),
        found => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "--web-dir {}: no index.html there ({}); point it at a jellyfin-web build, the \
                 folder holding index.html, config.json and the *.bundle.js files",
                dir.display(),
                match found {
                    Ok(_) => "it is not a file".to_owned(),
                    Err(err) => err.to_string(),
                }
            ),
        )),
    }
}

/// True when the URL of a file names its content: a dot-separated part of the file name, or
/// the whole query, is a hash (16 or more hex digits).
pub fn is_fingerprinted(path: &str, query: Option<&str>) -> bool {
    let hash = |s: &str| s.len() >= 16 && s.bytes().all(|b| b.is_ascii_hexdigit());
    let name = path.rsplit('/').next().unwrap_or_default();
    name.split('.').any(hash) || query.is_some_and(hash)
}

/// Serves `req` (a request under `/web/`) from `dir`: `/web/x/y` is `dir/x/y`, `/web/` is
/// `dir/index.html`. `..` and other escapes are refused by `ServeDir`; ranges and
/// `If-Modified-Since` are answered by it too.
pub async fn serve(dir: &Path, mut req: Request<Body>) -> Response {
    let path = req.uri().path();
    let inner = path.strip_prefix("/web").unwrap_or(path).to_owned();
    let query = req.uri().query().map(str::to_owned);
    if !may_name_a_file(dir, &inner) {
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    let rewritten = match &query {
        Some(q) => format!("{inner}?{q}"),
        None => inner.clone(),
    };
    match rewritten.parse::<Uri>() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => {
            return Response::builder()
                .status(StatusCode::BAD_REQUEST)
                .body(Body::from("malformed path"))
                .unwrap_or_default()
        }
    }
    let answer = ServeDir::new(dir)
        .append_index_html_on_directories(true)
        .oneshot(req)
        .await;
    let mut resp = match answer {
        Ok(resp) => resp.map(Body::new),
        Err(never) => match never {},
    };
    let status = resp.status();
    if status.is_success() || status == StatusCode::NOT_MODIFIED {
        let fingerprinted = !inner.ends_with('/')
            && !inner.ends_with("index.html")
            && is_fingerprinted(&inner, query.as_deref());
        let policy = if fingerprinted { IMMUTABLE } else { REVALIDATE };
        let headers = resp.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(policy));
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    }
    resp
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    Response::builder()
        .status(status)
        .body(Body::from(text))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_and_build_hash_queries_are_fingerprints() {
        assert!(is_fingerprinted(
            "/12394.623f94449c2a08cd76c0.chunk.js",
            None
        ));
        assert!(is_fingerprinted(
            "/touchicon.f5bbb798cb2c65908633.png",
            None
        ));
        assert!(is_fingerprinted(
            "/runtime.bundle.js",
            Some("0231f9b6a41ecd8bce51")
        ));
        assert!(!is_fingerprinted("/runtime.bundle.js", None));
        assert!(!is_fingerprinted("/runtime.bundle.js", Some("v=2")));
        assert!(!is_fingerprinted("/config.json", None));
        assert!(!is_fingerprinted("/index.html", None));
        assert!(!is_fingerprinted("/themes/dark/theme.css", Some("abc")));
        assert!(!is_fingerprinted("/12345.js", None), "too short for a hash");
    }

    #[test]
    fn a_dir_without_index_html_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("no index.html"), "{err}");
        std::fs::create_dir(dir.path().join("index.html")).unwrap();
        assert!(check_dir(dir.path()).is_err(), "a directory is no page");
        let good = tempfile::tempdir().unwrap();
        std::fs::write(good.path().join("index.html"), "<html></html>").unwrap();
        check_dir(good.path()).unwrap();
    }
}
