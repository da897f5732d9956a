//! The web client's home: `/` and `/web/` on a server with and without `--web-dir`.
//!
//! With a web dir, its files are served at `/web/` with the cache lifetimes a jellyfin-web build
//! needs (content-named files immutable for a year, `index.html` and other fixed names
//! revalidated), their MIME types, and paths taken as sent (no case rewriting below `/web/`).
//! Without one, `/` and `/web/` answer a page with the server's address and how to add the web
//! client, never a bare 404. The real jellyfin-web build in a browser: `server_web_client.rs`.
//! Also the item extras its item page asks for (`routes/item_extras.rs`).

use std::path::Path;

use ha_test_support::in_process::*;
use media_ha_server as server;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, IF_MODIFIED_SINCE, LAST_MODIFIED, LOCATION};
use reqwest::StatusCode;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// An HTTP client that shows redirects instead of following them.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(base: &str, path: &str) -> reqwest::Response {
    http().get(format!("{base}{path}")).send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    resp.headers()
        .get(&name)
        .unwrap_or_else(|| panic!("{name} on {}", resp.url()))
        .to_str()
        .unwrap()
}

/// A small build laid out as jellyfin-web's `dist/` is.
fn web_build(dir: &Path) {
    let files: [(&str, &[u8]); 8] = [
        ("index.html", b"<!DOCTYPE html><title>Jellyfin</title>"),
        ("config.json", b"{\"servers\":[]}"),
        ("runtime.bundle.js", b"var runtime;"),
        ("12394.623f94449c2a08cd76c0.chunk.js", b"var chunk;"),
        ("noto-sans-0-400-normal.9216b6e043c4e29ccf9b.woff2", b"wOF2"),
        ("libraries/subtitles-octopus-worker.wasm", b"\0asm"),
        ("assets/audio/silence.mp3", b"ID3"),
        ("themes/dark/theme.css", b"body{}"),
    ];
    for (name, body) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_web_dir_the_address_answers_a_page_saying_how_to_connect() {
    let (srv, _data) = start_fresh().await;
    let base = srv.base_url();
    for path in ["/", "/web", "/web/", "/web/index.html", "/WEB/"] {
        let resp = get(&base, path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&resp, CONTENT_TYPE), "text/html; charset=utf-8");
        let page = resp.text().await.unwrap();
        assert!(
            page.contains(&format!("<code id=\"address\">{base}</code>")),
            "{path}: the address the browser used, in {page}"
        );
        assert!(page.contains("Any Jellyfin app can connect"), "{page}");
        assert!(page.contains("--web-dir"), "{page}");
        assert!(page.contains("/jellyfin/jellyfin-web"), "{page}");
    }
    // A web client's file asked for where there is none: 404, still with the page.
    let resp = get(&base, "/web/main.jellyfin.bundle.js").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.text().await.unwrap().contains("--web-dir"));
    // A hostile Host header is not echoed.
    let resp = http()
        .get(format!("{base}/"))
        .header("Host", "<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    let page = resp.text().await.unwrap();
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains(&format!("<code id=\"address\">{base}</code>")));
    srv.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_dir_is_served_at_web_with_cache_lifetimes_and_mime_types() {
    let data = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    web_build(web.path());
    let mut config = test_config(data.path(), &media_dir());
    config.web_dir = Some(web.path().to_path_buf());
    let srv = start_config(config).await;
    let base = srv.base_url();

    for path in ["/", "/web"] {
        let resp = get(&base, path).await;
        assert_eq!(resp.status(), StatusCode::FOUND, "{path}");
        assert_eq!(header(&resp, LOCATION), "web/", "{path}");
    }
    // Following the redirect as a browser does lands on the client.
    let resp = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(resp.url().path(), "/web/");
    assert_eq!(
        resp.text().await.unwrap(),
        "<!DOCTYPE html><title>Jellyfin</title>"
    );

    // (path, content type, cache-control)
    let cases = [
        ("/web/", "text/html", "no-cache"),
        ("/web/index.html", "text/html", "no-cache"),
        ("/web/config.json", "application/json", "no-cache"),
        ("/web/runtime.bundle.js", "text/javascript", "no-cache"),
        (
            "/web/runtime.bundle.js?0231f9b6a41ecd8bce51",
            "text/javascript",
            IMMUTABLE,
        ),
        (
            "/web/12394.623f94449c2a08cd76c0.chunk.js",
            "text/javascript",
            IMMUTABLE,
        ),
        (
            "/web/noto-sans-0-400-normal.9216b6e043c4e29ccf9b.woff2",
            "font/woff2",
            IMMUTABLE,
        ),
        (
            "/web/libraries/subtitles-octopus-worker.wasm",
            "application/wasm",
            "no-cache",
        ),
        // `Audio` is a route segment elsewhere: below /web/ the path is taken as sent.
        ("/web/assets/audio/silence.mp3", "audio/mpeg", "no-cache"),
        ("/Web/themes/dark/theme.css", "text/css", "no-cache"),
    ];
    for (path, mime, cache) in cases {
        let resp = get(&base, path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert!(
            header(&resp, CONTENT_TYPE).starts_with(mime),
            "{path}: {:?}",
            resp.headers()
        );
        assert_eq!(header(&resp, CACHE_CONTROL), cache, "{path}");
        assert_eq!(
            header(&resp, "x-content-type-options".parse().unwrap()),
            "nosniff"
        );
    }

    // index.html revalidates: 304 when unchanged.
    let first = get(&base, "/web/index.html").await;
    let modified = header(&first, LAST_MODIFIED).to_owned();
    let again = http()
        .get(format!("{base}/web/index.html"))
        .header(IF_MODIFIED_SINCE, modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&again, CACHE_CONTROL), "no-cache");

    // Nothing outside the folder, nothing invented.
    for path in [
        "/web/missing.js",
        "/web/../Cargo.toml",
        "/web/%2e%2e/%2e%2e/etc/passwd",
        "/web/..%2f..%2fetc%2fpasswd",
    ] {
        let resp = get(&base, path).await;
        assert!(resp.status().is_client_error(), "{path}: {}", resp.status());
        assert!(!resp.text().await.unwrap().contains("root:"), "{path}");
    }
    // Names no file system holds (issue 20's second pass: a 6 KB path answered 500, the
    // OS's ENAMETOOLONG): simply not found.
    let long_name = format!("/web/{}.js", "a".repeat(300));
    let long_path = format!("/web/{}index.html", "ab/".repeat(2_000));
    let encoded_name = format!("/web/{}", "%61".repeat(256));
    for path in [&long_name, &long_path, &encoded_name] {
        let resp = get(&base, path).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{} bytes", path.len());
    }
    // Writes are not served.
    let resp = http()
        .post(format!("{base}/web/index.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    // The API is untouched.
    let (status, _) = Client::new(&srv).get("/System/Info/Public").await;
    assert_eq!(status, StatusCode::OK);
    srv.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_dir_without_index_html_fails_the_start_and_says_why() {
    let data = tempfile::tempdir().unwrap();
    let web = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &media_dir());
    config.web_dir = Some(web.path().to_path_buf());
    let err = server::start(config).await.expect_err("no index.html");
    let text = err.to_string();
    assert!(text.contains("--web-dir"), "{text}");
    assert!(text.contains("no index.html"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_extras_are_empty_and_unknown_items_404() {
    let (srv, _data) = start_fresh().await;
    let mut c = Client::new(&srv);
    assert_eq!(
        c.get("/Items/0123456789abcdef0123456789abcdef/ThemeMedia")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let auth = c.login(ADMIN, ADMIN_PW).await;
    let user = auth["User"]["Id"].as_str().unwrap().to_owned();
    let (alpha, _) = find_item(&c, "Alpha").await;

    let (status, theme) = c
        .get(&format!(
            "/Items/{alpha}/ThemeMedia?userId={user}&inheritFromParent=true"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{theme}");
    for part in [
        "ThemeVideosResult",
        "ThemeSongsResult",
        "SoundtrackSongsResult",
    ] {
        assert_eq!(theme[part]["Items"], serde_json::json!([]), "{theme}");
        assert_eq!(theme[part]["TotalRecordCount"], 0);
        assert_eq!(theme[part]["OwnerId"], serde_json::json!(alpha));
    }
    let (status, intros) = c.get(&format!("/Users/{user}/Items/{alpha}/Intros")).await;
    assert_eq!(status, StatusCode::OK, "{intros}");
    assert_eq!(intros["Items"], serde_json::json!([]));
    assert_eq!(intros["TotalRecordCount"], 0);

    let unknown = "0123456789abcdef0123456789abcdef";
    for path in [
        format!("/Items/{unknown}/ThemeMedia"),
        format!("/Users/{user}/Items/{unknown}/Intros"),
        "/Items/not-an-id/ThemeMedia".to_owned(),
    ] {
        let (status, body) = c.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    srv.shutdown(GRACE).await;
}
