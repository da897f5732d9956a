//! fMP4 (CMAF) HLS through the reference server's API: a client whose DeviceProfile asks for
//! HLS in `mp4` gets `SegmentContainer=mp4`, a version-7 media playlist with `#EXT-X-MAP`, the
//! init segment as `video/mp4` and `.m4s` segments as `video/iso.segment`, and the stream
//! decodes — joined by hand and through ffprobe's own HLS client.

use ha_test_support::in_process as common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

/// GETs `path` and returns its content type and body, asserting 200.
async fn fetch(c: &Client, path: &str) -> (String, Vec<u8>) {
    let resp = c
        .authed(reqwest::Client::new().get(c.url(path)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    let kind = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (kind, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_fmp4_plays_end_to_end() {
    let (srv, data) = start_fresh().await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let (beta_id, _) = find_item(&c, "Beta").await;

    let (status, info) = c
        .post(&format!("/Items/{beta_id}/PlaybackInfo"), fmp4_profile())
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    let source = &info["MediaSources"][0];
    assert_eq!(source["TranscodingContainer"], json!("mp4"), "{source}");
    assert!(
        source["TranscodingUrl"]
            .as_str()
            .unwrap()
            .contains("SegmentContainer=mp4"),
        "{source}"
    );

    let hls = open_hls_with(&c, &beta_id, fmp4_profile()).await;
    let media = &hls.media;
    assert!(media.contains("#EXT-X-VERSION:7\n"), "{media}");
    let init_uri = media
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no EXT-X-MAP in {media}"));
    assert!(init_uri.starts_with("hls1/main/-1.mp4?"), "{init_uri}");
    let segments = hls.segment_paths();
    assert!(!segments.is_empty());
    assert!(segments.iter().all(|s| s.contains(".mp4?")), "{segments:?}");

    let (kind, init) = fetch(&c, &format!("{}{init_uri}", hls.base)).await;
    assert_eq!(kind, "video/mp4");
    assert_eq!(&init[4..8], b"ftyp");
    let mut joined = init.clone();
    for path in &segments {
        let (kind, bytes) = fetch(&c, path).await;
        assert_eq!(kind, "video/iso.segment", "{path}");
        assert_eq!(&bytes[4..8], b"moof", "{path}");
        joined.extend(bytes);
    }
    // Asked again, the init is the same bytes.
    assert_eq!(fetch(&c, &format!("{}{init_uri}", hls.base)).await.1, init);
    let file = data.path().join("joined.mp4");
    std::fs::write(&file, &joined).unwrap();
    assert_eq!(
        count_frames(file.to_str().unwrap()).await,
        75,
        "3 s at 25 fps, every frame once"
    );
    // A real HLS client: ffprobe follows the master, the EXT-X-MAP and the segments itself.
    assert_eq!(count_frames(&c.url(&hls.master_url)).await, 75);

    // The TS rendition of the same item is a different job with its own playlist, and has no
    // init segment.
    let ts = open_hls(&c, &beta_id).await;
    assert!(!ts.media.contains("EXT-X-MAP"), "{}", ts.media);
    let query = ts.master_url.split_once('?').unwrap().1;
    let (status, _) = c.get(&format!("{}hls1/main/-1.mp4?{query}", ts.base)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a TS rendition has no init");
    srv.shutdown(GRACE).await;
}
