//! Issue 20, second attack pass: each finding of the attack on the running server has a test
//! here that failed before its fix (single node, in-process stores; the 2-replica variants on
//! Redis + PostgreSQL are in `server_security_cluster.rs`).

use ha_test_support::in_process as common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Finding 1: playback reports in flight while the client signs out never bring the token
/// back (20 runs, 12 concurrent reporters each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_racing_progress_reports_stays_signed_out() {
    let (srv, _data) = start_fresh().await;
    let mut admin = Client::new(&srv);
    admin.login(ADMIN, ADMIN_PW).await;
    let (item, _) = find_item(&admin, "Alpha").await;
    let base = srv.base_url();
    let revived = race::logout_race(&[base.as_str()], &item, 20).await;
    assert_eq!(revived, 0, "signed-out tokens revived by reports in flight");
}

/// Findings 2 and 3: client-supplied strings are capped where they enter and the device map is
/// bounded, so hostile requests cannot grow what the server keeps.
#[cfg(feature = "transcode")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_client_strings_are_capped_before_they_are_kept() {
    let (srv, _data) = start_fresh().await;
    let long = "D".repeat(20_000);
    let http = reqwest::Client::new();
    let header = format!(
        r#"MediaBrowser Client="{long}", Device="{long}", DeviceId="{long}", Version="{long}""#
    );
    let resp = http
        .post(format!("{}/Users/AuthenticateByName", srv.base_url()))
        .header("Authorization", &header)
        .json(&json!({ "Username": ADMIN, "Pw": ADMIN_PW }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.unwrap();
    let token = body["AccessToken"].as_str().unwrap().to_owned();
    let auth = format!("{header}, Token=\"{token}\"");
    let c = Client::new(&srv);
    let mut signed = Client::new(&srv);
    signed.token = Some(token.clone());
    let (item, _) = find_item(&signed, "Alpha").await;
    let resp = http
        .post(format!("{}/Sessions/Playing", srv.base_url()))
        .header("Authorization", &auth)
        .json(&json!({ "ItemId": item, "PlaySessionId": long, "MediaSourceId": long }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    drop(c);
    let sessions = srv.state().stores.sessions.list().await.unwrap();
    for s in &sessions {
        assert!(
            s.device_id.len() <= 256,
            "DeviceId kept at {} bytes",
            s.device_id.len()
        );
        assert!(s.device_name.len() <= 128 && s.client.len() <= 128);
        assert!(s.client_version.len() <= 64);
        if let Some(np) = &s.now_playing {
            assert!(np.play_session_id.as_deref().map_or(0, str::len) <= 256);
            assert!(np.media_source_id.as_deref().map_or(0, str::len) <= 256);
        }
    }
    let activity = srv
        .state()
        .stores
        .metadata
        .recent_activity(100)
        .await
        .unwrap();
    assert!(!activity.is_empty());
    for a in &activity {
        assert!(
            a.entry.message.len() <= 1_024,
            "activity message of {} bytes",
            a.entry.message.len()
        );
    }
    for d in srv
        .state()
        .stores
        .metadata
        .list_devices(None)
        .await
        .unwrap()
    {
        assert!(d.id.len() <= 256 && d.name.len() <= 128 && d.app_name.len() <= 128);
    }
}

/// Finding 8: wrong passwords are braked (429 + Retry-After, an activity entry), and the brake
/// holds even for the right password meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_passwords_are_braked() {
    let (srv, _data) = start_fresh().await;
    let c = Client::new(&srv);
    for _ in 0..5 {
        assert_eq!(
            c.login_status(ADMIN, "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    let resp = c
        .authed(c.http.post(c.url("/Users/AuthenticateByName")))
        .json(&json!({ "Username": ADMIN, "Pw": ADMIN_PW }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 300, "Retry-After {retry}");
    let activity = srv
        .state()
        .stores
        .metadata
        .recent_activity(50)
        .await
        .unwrap();
    assert!(
        activity
            .iter()
            .any(|a| a.entry.kind == "AuthenticationFailed" && a.entry.message.contains(ADMIN)),
        "an activity entry says the brake engaged: {activity:?}"
    );
}

/// A sign-in attempt sent as a reverse proxy forwards it: `X-Forwarded-For: <xff>`.
async fn sign_in_via(c: &Client, xff: &str, user: &str, pw: &str) -> StatusCode {
    c.authed(c.http.post(c.url("/Users/AuthenticateByName")))
        .header("X-Forwarded-For", xff)
        .json(&json!({ "Username": user, "Pw": pw }))
        .send()
        .await
        .unwrap()
        .status()
}

/// Second attack pass (issue 20): behind a reverse proxy every request came from the proxy's
/// address, so a stranger's 30 wrong sign-ins braked every user behind it (and 5 for one
/// user's name locked that user out). With the proxy in `--trusted-proxies`, the brake counts
/// the client `X-Forwarded-For` names: the stranger is braked, the user is not, and the
/// stranger cannot step out by claiming another address in front of the proxy's entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_a_strangers_failures_brake_only_the_stranger() {
    const STRANGER: &str = "203.0.113.7";
    const USER: &str = "198.51.100.20";
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &media_dir());
    config.trusted_proxies = "127.0.0.1".parse().unwrap();
    let srv = start_config(config).await;
    let c = Client::new(&srv);
    for _ in 0..5 {
        assert_eq!(
            sign_in_via(&c, STRANGER, ADMIN, "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    for i in 0..30 {
        let status = sign_in_via(&c, STRANGER, &format!("nobody{i}"), "wrong").await;
        assert!(
            matches!(
                status,
                StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS
            ),
            "{status}"
        );
    }
    assert_eq!(
        sign_in_via(&c, STRANGER, "someone", "wrong").await,
        StatusCode::TOO_MANY_REQUESTS,
        "the stranger's address is braked"
    );
    assert_eq!(
        sign_in_via(&c, USER, ADMIN, ADMIN_PW).await,
        StatusCode::OK,
        "a user behind the same proxy still signs in"
    );
    assert_eq!(
        sign_in_via(&c, &format!("{USER}, {STRANGER}"), ADMIN, ADMIN_PW).await,
        StatusCode::TOO_MANY_REQUESTS,
        "an address the client wrote in front of the proxy's entry is not believed"
    );
    srv.shutdown(GRACE).await;
}

/// Without a trusted proxy, `X-Forwarded-For` is ignored: rotating it does not step out of the
/// brake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_from_an_untrusted_peer_does_not_move_the_brake() {
    let (srv, _data) = start_fresh().await;
    let c = Client::new(&srv);
    for i in 0..5 {
        assert_eq!(
            sign_in_via(&c, &format!("192.0.2.{i}"), ADMIN, "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        sign_in_via(&c, "192.0.2.200", ADMIN, ADMIN_PW).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    srv.shutdown(GRACE).await;
}

/// Finding 4: a response body nobody reads is released once writes stall for the write
/// timeout (before: held for as long as the client liked).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unread_download_is_released_after_the_write_timeout() {
    let data = tempfile::tempdir().unwrap();
    let media = security::big_file_library();
    let mut config = test_config(data.path(), &media);
    config.write_timeout = Duration::from_secs(2);
    let srv = start_config(config).await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let (item, _) = find_item(&c, "Big").await;
    let token = c.token.clone().unwrap();
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut s = TcpStream::connect(srv.local_addr()).await.unwrap();
        let head = format!(
            "GET /Videos/{item}/stream?Static=true&api_key={token} HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        held.push(s);
    }
    // Nobody reads for longer than the write timeout.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let size = std::fs::metadata(media.join("Big.mkv")).unwrap().len() as usize;
    for mut s in held {
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut got)).await;
        assert!(
            matches!(read, Ok(Ok(_)) | Ok(Err(_))),
            "the connection was still open after the write timeout"
        );
        assert!(
            got.len() < size,
            "the whole body came: the server never gave up"
        );
    }
    // The server still serves.
    let (status, _) = c.get("/System/Info").await;
    assert_eq!(status, StatusCode::OK);
}

/// Finding 9: connections over the per-address cap are refused with a clear 429, and the cap
/// frees as connections close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_address_cap_are_refused_clearly() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &media_dir());
    config.max_connections_per_ip = 16;
    let srv = start_config(config).await;
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(TcpStream::connect(srv.local_addr()).await.unwrap());
    }
    // Let the server accept them all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = raw::request(
        srv.local_addr(),
        "GET /health HTTP/1.1\r\nHost: x",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(reply.status, Some(429), "{}", reply.text);
    assert!(reply.text.contains("Retry-After"), "{}", reply.text);
    idle.truncate(10);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = raw::request(
        srv.local_addr(),
        "GET /health HTTP/1.1\r\nHost: x",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(reply.status, Some(200), "{}", reply.text);
}

/// The global cap answers 503 once the replica holds that many connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_global_cap_are_refused_clearly() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &media_dir());
    config.max_connections_per_ip = 0;
    config.max_connections = 8;
    let srv = start_config(config).await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(srv.local_addr()).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply = raw::request(
        srv.local_addr(),
        "GET /health HTTP/1.1\r\nHost: x",
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(reply.status, Some(503), "{}", reply.text);
    drop(idle);
}

/// Informational: the header timeout answers 408 when part of a head came, and closes an idle
/// connection silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_head_gets_408_and_an_idle_connection_closes_silently() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &media_dir());
    config.header_read_timeout = Duration::from_secs(1);
    let srv = start_config(config).await;
    let mut partial = TcpStream::connect(srv.local_addr()).await.unwrap();
    partial
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut idle = TcpStream::connect(srv.local_addr()).await.unwrap();
    let (closed, text) =
        raw::wait_closed(&mut partial, Instant::now(), Duration::from_secs(10)).await;
    assert!(closed.is_some(), "still open");
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    let (closed, text) = raw::wait_closed(&mut idle, Instant::now(), Duration::from_secs(10)).await;
    assert!(closed.is_some(), "still open");
    assert!(text.is_empty(), "{text:?}");
}

/// Finding 10: a media file swapped for a symlink out of the library after the scan is not
/// served (default `--follow-symlinks inside-roots`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_swapped_in_after_the_scan_is_not_followed_out_of_the_library() {
    let data = tempfile::tempdir().unwrap();
    let media = tempfile::tempdir().unwrap();
    std::fs::copy(
        media_dir().join("Alpha.mp4"),
        media.path().join("Alpha.mp4"),
    )
    .unwrap();
    let secret = data.path().join("secret.txt");
    std::fs::write(&secret, "top secret outside the library").unwrap();
    let srv = start_with_media(data.path(), media.path()).await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let (item, _) = find_item(&c, "Alpha").await;
    let (status, _) = c
        .get_text(&format!("/Videos/{item}/stream?Static=true"))
        .await;
    assert_eq!(status, StatusCode::OK);
    std::fs::remove_file(media.path().join("Alpha.mp4")).unwrap();
    std::os::unix::fs::symlink(&secret, media.path().join("Alpha.mp4")).unwrap();
    let (status, body) = c
        .get_text(&format!("/Videos/{item}/stream?Static=true"))
        .await;
    assert!(
        !body.contains("top secret"),
        "served a file outside the library"
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Informational: a non-administrator's `/System/Info` names no path and no node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_info_hides_paths_and_node_from_non_admins() {
    let (srv, _data) = start_fresh().await;
    let mut admin = Client::new(&srv);
    admin.login(ADMIN, ADMIN_PW).await;
    admin
        .post("/Users/New", json!({ "Name": "viewer", "Password": "pw" }))
        .await;
    let (_, info) = admin.get("/System/Info").await;
    assert!(info.get("TranscodingTempPath").is_some() && info.get("NodeId").is_some());
    let mut viewer = Client::new(&srv);
    viewer.login("viewer", "pw").await;
    let (status, info) = viewer.get("/System/Info").await;
    assert_eq!(status, StatusCode::OK);
    assert!(info.get("TranscodingTempPath").is_none(), "{info}");
    assert!(info.get("NodeId").is_none(), "{info}");
}

/// Informational: `/metrics` holds counters only (no user, device, item or path), and with
/// `--metrics-token` answers only a request carrying that bearer token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_hold_no_names_and_a_token_closes_them() {
    let (srv, data) = start_fresh().await;
    let mut admin = Client::new(&srv);
    admin.login(ADMIN, ADMIN_PW).await;
    let (item, _) = find_item(&admin, "Alpha").await;
    let http = reqwest::Client::new();
    let open = http
        .get(format!("{}/metrics", srv.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), StatusCode::OK, "open by default");
    let text = open.text().await.unwrap();
    assert!(text.contains("media_ha_http_requests_total{"), "{text}");
    let data_dir = data.path().to_string_lossy().into_owned();
    let media = media_dir().to_string_lossy().into_owned();
    for secret in [
        ADMIN,
        item.as_str(),
        "test-device",
        data_dir.as_str(),
        media.as_str(),
    ] {
        assert!(!text.contains(secret), "/metrics names {secret:?}:\n{text}");
    }
    srv.shutdown(GRACE).await;

    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &media_dir());
    config.metrics_token = Some(media_ha_server::config::MetricsToken("scrape-token".into()));
    let srv = start_config(config).await;
    let mut admin = Client::new(&srv);
    admin.login(ADMIN, ADMIN_PW).await;
    let url = format!("{}/metrics", srv.base_url());
    let status = |req: reqwest::RequestBuilder| async move { req.send().await.unwrap().status() };
    assert_eq!(status(http.get(&url)).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(http.get(&url).bearer_auth("wrong")).await,
        StatusCode::UNAUTHORIZED
    );
    // A viewer's (even an administrator's) session token is not the metrics token.
    let (code, _) = admin.get("/metrics").await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status(http.get(&url).bearer_auth("scrape-token")).await,
        StatusCode::OK
    );
}

mod security {
    //! What the tests above share.

    /// A library with one ~25 MB file (raw video: large, instant to make), bigger than what
    /// the kernel buffers on a loopback connection.
    pub fn big_file_library() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join("media-ha-security-big");
        let file = dir.join("Big.mkv");
        if !file.exists() {
            std::fs::create_dir_all(&dir).unwrap();
            let tmp = dir.join(format!("tmp-{}.mkv", std::process::id()));
            let status = std::process::Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
                .arg("testsrc2=size=1280x720:rate=10")
                .args(["-t", "2", "-c:v", "rawvideo", "-pix_fmt", "yuv420p"])
                .arg(&tmp)
                .status()
                .expect("the tests need the ffmpeg CLI");
            assert!(status.success());
            std::fs::rename(&tmp, &file).unwrap();
        }
        dir
    }
}
