//! Artwork through the API: pictures beside the media, frames taken from videos without any,
//! resizing, caps, ETags and 304s, bad requests — and, on two replicas sharing Redis,
//! PostgreSQL and the transcode directory, each frame extracted once for the whole cluster.
//!
//! Media is made by the ffmpeg CLI from lavfi sources in each test's own directory.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;

use ha_test_support::in_process::*;
use media_ha_server as server;
use reqwest::header;
use reqwest::StatusCode;
use serde_json::Value;

/// One still picture of `size` (`WxH`) from testsrc2, in the format the extension names.
fn picture(target: &Path, size: &str) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=1")])
        .args(["-frames:v", "1", "-update", "1"])
        .arg(target)
        .status()
        .expect("the tests need the ffmpeg CLI");
    assert!(status.success(), "ffmpeg failed for {}", target.display());
}

const H264: &[&str] = &[
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-f",
    "mp4",
];

/// `Film (2020)/Film.mp4` with a poster and fanart beside it; `Plain dir/Plain.mp4` with no
/// picture.
fn library(root: &Path) {
    std::fs::create_dir_all(root.join("Film (2020)")).unwrap();
    std::fs::create_dir_all(root.join("Plain dir")).unwrap();
    make_clip(&root.join("Film (2020)/Film.mp4"), 2, H264);
    picture(&root.join("Film (2020)/Film-poster.jpg"), "600x900");
    picture(&root.join("Film (2020)/fanart.png"), "640x360");
    make_clip(&root.join("Plain dir/Plain.mp4"), 2, H264);
}

fn dimensions(bytes: &[u8]) -> (u32, u32) {
    let picture = image::load_from_memory(bytes).expect("a picture");
    (picture.width(), picture.height())
}

async fn fetch(c: &Client, path: &str) -> reqwest::Response {
    c.http.get(c.url(path)).send().await.unwrap()
}

async fn item(c: &Client, user: &str, name: &str) -> Value {
    let (id, _) = find_item(c, name).await;
    let (status, dto) = c.get(&format!("/Users/{user}/Items/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    dto
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pictures_beside_the_media_are_served_resized_and_cached() {
    let media = tempfile::tempdir().unwrap();
    library(media.path());
    let data = tempfile::tempdir().unwrap();
    let srv = start_with_media(data.path(), media.path()).await;
    let mut c = Client::new(&srv);
    let user = c.login(ADMIN, ADMIN_PW).await["User"]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let film = item(&c, &user, "Film").await;
    let id = film["Id"].as_str().unwrap().to_owned();
    let tag = film["ImageTags"]["Primary"]
        .as_str()
        .expect("a Primary tag")
        .to_owned();
    assert_eq!(
        film["BackdropImageTags"].as_array().map(Vec::len),
        Some(1),
        "{film}"
    );
    let ratio = film["PrimaryImageAspectRatio"]
        .as_f64()
        .expect("aspect ratio");
    assert!((ratio - 600.0 / 900.0).abs() < 0.01, "{ratio}");

    // The file as it is, anonymously (an <img> sends no token), case-insensitive path.
    let anonymous = reqwest::Client::new();
    let r = anonymous
        .get(c.url(&format!("/items/{id}/images/primary")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(r.headers()[header::CACHE_CONTROL], "public, no-cache");
    let etag = r.headers()[header::ETAG].to_str().unwrap().to_owned();
    assert_eq!(dimensions(&r.bytes().await.unwrap()), (600, 900));

    // Resized, with the tag: immutable; again: from the cache; revalidated: 304.
    let path = format!("/Items/{id}/Images/Primary?maxWidth=300&quality=80&tag={tag}");
    let r = fetch(&c, &path).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    let small_etag = r.headers()[header::ETAG].to_str().unwrap().to_owned();
    assert_ne!(small_etag, etag);
    let first = r.bytes().await.unwrap();
    assert_eq!(dimensions(&first), (300, 450));
    let stats = &srv.state().artwork.stats;
    let (renders, hits) = (
        stats.renders.load(Ordering::Relaxed),
        stats.cache_hits.load(Ordering::Relaxed),
    );
    let again = fetch(&c, &path).await.bytes().await.unwrap();
    assert_eq!(again, first);
    assert_eq!(
        stats.renders.load(Ordering::Relaxed),
        renders,
        "not resized twice"
    );
    assert_eq!(stats.cache_hits.load(Ordering::Relaxed), hits + 1);
    let r = c
        .http
        .get(c.url(&path))
        .header(header::IF_NONE_MATCH, &small_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(r.headers()[header::ETAG], small_etag.as_str());
    assert!(r.bytes().await.unwrap().is_empty());

    // HEAD: the headers, no body.
    let r = c.http.head(c.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/jpeg");
    assert!(r.bytes().await.unwrap().is_empty());

    // Fill, format, the backdrop (a PNG stays PNG unless asked otherwise).
    let r = fetch(
        &c,
        &format!("/Items/{id}/Images/Primary?fillWidth=100&fillHeight=100&format=png"),
    )
    .await;
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/png");
    assert_eq!(dimensions(&r.bytes().await.unwrap()), (100, 150));
    let r = fetch(&c, &format!("/Items/{id}/Images/Backdrop/0?maxHeight=180")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/png");
    assert_eq!(dimensions(&r.bytes().await.unwrap()), (320, 180));
    let r = fetch(
        &c,
        &format!("/Items/{id}/Images/Backdrop?format=webp&maxWidth=64"),
    )
    .await;
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/webp");
    assert_eq!(dimensions(&r.bytes().await.unwrap()), (64, 36));

    // Oversize asks are capped (and never upscaled), not refused.
    let r = fetch(
        &c,
        &format!("/Items/{id}/Images/Primary?maxWidth=99999&maxHeight=99999"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(dimensions(&r.bytes().await.unwrap()), (600, 900));
    let r = fetch(
        &c,
        &format!("/Items/{id}/Images/Primary?width=50000&height=50000"),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let (w, h) = dimensions(&r.bytes().await.unwrap());
    assert!(w <= 600 && h <= 900, "{w}x{h}");

    // Bad requests: a clear 4xx each, and the server still answers afterwards.
    let missing = "0123456789abcdef0123456789abcdef";
    for (path, status) in [
        (
            format!("/Items/{missing}/Images/Primary"),
            StatusCode::NOT_FOUND,
        ),
        (
            "/Items/not-an-id/Images/Primary".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (format!("/Items/{id}/Images/Logo"), StatusCode::NOT_FOUND),
        (format!("/Items/{id}/Images/Thumb"), StatusCode::NOT_FOUND),
        (
            format!("/Items/{id}/Images/Backdrop/1"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/Items/{id}/Images/Primary/1"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/Items/{id}/Images/Backdrop/x"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/Items/{id}/Images/Backdrop/-1"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/Items/{id}/Images/Primary?maxWidth=abc"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/Items/{id}/Images/Primary?fillHeight=-3"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/Items/{id}/Images/Primary?quality=0"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/Items/{id}/Images/Primary?quality=101"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/Items/{id}/Images/Primary?format=gif"),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let r = fetch(&c, &path).await;
        assert_eq!(r.status(), status, "{path}");
        assert!(
            !r.text().await.unwrap().is_empty(),
            "{path}: a message says why"
        );
    }
    assert_eq!(fetch(&c, "/health").await.status(), StatusCode::OK);

    // A folder takes its own directory's folder-level pictures (the poster is the film's).
    let folder = item(&c, &user, "Film (2020)").await;
    assert_eq!(folder["IsFolder"], true);
    assert!(folder["ImageTags"].get("Primary").is_none(), "{folder}");
    assert_eq!(folder["BackdropImageTags"], film["BackdropImageTags"]);
    srv.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_video_without_pictures_gets_a_frame_extracted_once() {
    let media = tempfile::tempdir().unwrap();
    library(media.path());
    let data = tempfile::tempdir().unwrap();
    let srv = start_with_media(data.path(), media.path()).await;
    let mut c = Client::new(&srv);
    let user = c.login(ADMIN, ADMIN_PW).await["User"]["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let plain = item(&c, &user, "Plain").await;
    assert_eq!(plain["IsFolder"], false);
    let id = plain["Id"].as_str().unwrap().to_owned();
    let tag = plain["ImageTags"]["Primary"]
        .as_str()
        .expect("a frame is listed")
        .to_owned();
    assert!(plain["BackdropImageTags"].as_array().unwrap().is_empty());

    let stats = &srv.state().artwork.stats;
    assert_eq!(
        stats.extractions.load(Ordering::Relaxed),
        0,
        "nothing until asked"
    );
    let r = fetch(&c, &format!("/Items/{id}/Images/Primary?tag={tag}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/jpeg");
    let frame = r.bytes().await.unwrap();
    assert_eq!(dimensions(&frame), (320, 240));
    let r = fetch(&c, &format!("/Items/{id}/Images/Primary?maxWidth=160")).await;
    assert_eq!(dimensions(&r.bytes().await.unwrap()), (160, 120));
    assert_eq!(
        fetch(&c, &format!("/Items/{id}/Images/Primary"))
            .await
            .bytes()
            .await
            .unwrap(),
        frame
    );
    assert_eq!(
        stats.extractions.load(Ordering::Relaxed),
        1,
        "extracted once"
    );
    let stored = srv
        .state()
        .config
        .transcode_dir
        .join("artwork")
        .join(format!("{tag}.jpg"));
    assert!(stored.is_file(), "kept in the shared transcode directory");
    srv.shutdown(GRACE).await;
}

/// A namespace no other test uses, valid as a Redis prefix and a PostgreSQL schema.
fn namespace(prefix: &str) -> String {
    ha_testkit::unique(prefix)
        .replace('-', "_")
        .to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_extract_each_frame_once() {
    let media = tempfile::tempdir().unwrap();
    let videos = ["One", "Two", "Three"];
    for v in videos {
        make_clip(&media.path().join(format!("{v}.mp4")), 2, H264);
    }
    let shared = tempfile::tempdir().unwrap();
    let ns = namespace("art");
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut replicas = Vec::new();
    for (data, node) in [(data_a.path(), "node-a"), (data_b.path(), "node-b")] {
        let mut config = test_config(data, media.path());
        config.node_id = node.into();
        config.namespace = Some(ns.clone());
        config.transcode_dir = shared.path().to_path_buf();
        config.stores = server::config::StoreUrls {
            redis: Some(ha_testkit::redis_url().await),
            postgres: Some(ha_testkit::postgres_url().await),
        };
        replicas.push(start_config(config).await);
    }
    let mut a = Client::new(&replicas[0]);
    a.login(ADMIN, ADMIN_PW).await;
    let mut ids = Vec::new();
    for v in videos {
        ids.push(find_item(&a, v).await.0);
    }
    // Every replica asked for every poster at once, three times over.
    let http = reqwest::Client::new();
    let mut requests = Vec::new();
    for srv in &replicas {
        for id in &ids {
            for _ in 0..3 {
                let url = format!("{}/Items/{id}/Images/Primary", srv.base_url());
                let http = http.clone();
                let id = id.clone();
                requests.push(tokio::spawn(async move {
                    let r = http.get(url).send().await.unwrap();
                    assert_eq!(r.status(), StatusCode::OK);
                    (id, r.bytes().await.unwrap())
                }));
            }
        }
    }
    let mut by_item = std::collections::HashMap::new();
    for request in requests {
        let (id, bytes) = request.await.unwrap();
        let first = by_item.entry(id).or_insert_with(|| bytes.clone());
        assert_eq!(*first, bytes, "every replica serves the same frame");
    }
    let extractions: u64 = replicas
        .iter()
        .map(|s| s.state().artwork.stats.extractions.load(Ordering::Relaxed))
        .sum();
    assert_eq!(
        extractions,
        videos.len() as u64,
        "one extraction per video, cluster-wide"
    );
    for srv in replicas {
        srv.shutdown(GRACE).await;
    }
}
