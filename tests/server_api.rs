//! The reference server's API, end to end: real servers on 127.0.0.1, real HTTP, real files.
//!
//! Each test starts its own server (in-process stores, its own data directory) on a free port,
//! on a tiny library generated once with the ffmpeg CLI, and talks to it with reqwest as a
//! Jellyfin client would.

use media_ha_server as server;

use ha_test_support::in_process as common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn health_and_public_info() {
    let (srv, _data) = start_fresh().await;
    let c = Client::new(&srv);
    assert_eq!(
        c.get_text("/health").await,
        (StatusCode::OK, "Healthy".into())
    );
    assert_eq!(
        c.get_text("/health/ready").await,
        (StatusCode::OK, "Healthy".into())
    );
    let (status, info) = c.get("/System/Info/Public").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["StartupWizardCompleted"], json!(true));
    assert_eq!(info["Id"].as_str().unwrap().len(), 32);
    assert!(info["Version"].as_str().unwrap().starts_with("10."));
    assert_eq!(info["LocalAddress"], json!(srv.base_url()));
    let resp = c.http.get(c.url("/health")).send().await.unwrap();
    assert!(resp.headers().contains_key("x-request-id"));
    assert_eq!(c.get("/No/Such/Route").await.0, StatusCode::NOT_FOUND);
    // Bodies over the limit (1 MiB by default) are refused before any handler reads them.
    let big = format!(r#"{{"Username": "{}"}}"#, "x".repeat(2 << 20));
    let (status, _) = c.post_raw("/Users/AuthenticateByName", &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    srv.shutdown(GRACE).await;
}

#[tokio::test]
async fn sign_in_and_out() {
    let (srv, _data) = start_fresh().await;
    let mut c = Client::new(&srv);
    assert_eq!(c.get("/Users/Me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        c.login_status(ADMIN, "wrong").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.login_status("nobody", "x").await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = c.post_raw("/Users/AuthenticateByName", "{not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let auth = c.login(ADMIN, ADMIN_PW).await;
    assert_eq!(auth["User"]["Name"], json!(ADMIN));
    assert_eq!(auth["User"]["Policy"]["IsAdministrator"], json!(true));
    assert_eq!(auth["ServerId"], auth["User"]["ServerId"]);
    assert_eq!(auth["SessionInfo"]["DeviceId"], json!("test-device"));
    let (status, me) = c.get("/Users/Me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["Id"], auth["User"]["Id"]);

    // Every way a client may carry the token.
    let token = c.token.clone().unwrap();
    for (name, value) in [
        ("X-Emby-Token", token.clone()),
        ("X-MediaBrowser-Token", token.clone()),
    ] {
        let resp = c
            .http
            .get(c.url("/Users/Me"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{name}");
    }
    let resp = c
        .http
        .get(c.url(&format!("/Users/Me?api_key={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = c
        .http
        .get(c.url("/Users/Me"))
        .header(
            "X-Emby-Authorization",
            format!(r#"MediaBrowser Client="t", Token="{token}""#),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let (status, _) = c.post("/Sessions/Logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(c.get("/Users/Me").await.0, StatusCode::UNAUTHORIZED);
    srv.shutdown(GRACE).await;
}

#[tokio::test]
async fn browse_the_library() {
    let (srv, _data) = start_fresh().await;
    let mut c = Client::new(&srv);
    let auth = c.login(ADMIN, ADMIN_PW).await;
    let user_id = auth["User"]["Id"].as_str().unwrap().to_owned();

    let (status, views) = c.get(&format!("/Users/{user_id}/Views")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(views["TotalRecordCount"], json!(1));
    let root = &views["Items"][0];
    assert_eq!(root["Type"], json!("CollectionFolder"));
    let root_id = root["Id"].as_str().unwrap().to_owned();

    let (_, all) = c
        .get(&format!(
            "/Users/{user_id}/Items?ParentId={root_id}&Recursive=true"
        ))
        .await;
    assert_eq!(all["TotalRecordCount"], json!(3), "{all}");
    let (_, movies) = c
        .get("/Items?Recursive=true&IncludeItemTypes=Movie&SortBy=SortName&SortOrder=Ascending")
        .await;
    let names: Vec<_> = movies["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Alpha", "Beta"]);
    let (_, desc) = c
        .get("/Items?Recursive=true&IncludeItemTypes=Movie&SortOrder=Descending")
        .await;
    assert_eq!(desc["Items"][0]["Name"], json!("Beta"));
    let (_, page) = c
        .get("/Items?Recursive=true&IncludeItemTypes=Movie&StartIndex=1&Limit=1")
        .await;
    assert_eq!(
        (page["TotalRecordCount"].clone(), page["StartIndex"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(page["Items"].as_array().unwrap().len(), 1);
    let (_, found) = c.get("/Items?Recursive=true&SearchTerm=alp").await;
    assert_eq!(found["TotalRecordCount"], json!(1));
    let (_, series) = c.get("/Items?Recursive=true&IncludeItemTypes=Series").await;
    assert_eq!(series["TotalRecordCount"], json!(0));
    let (_, children) = c.get(&format!("/Items?ParentId={root_id}")).await;
    assert_eq!(
        children["TotalRecordCount"],
        json!(2),
        "Alpha and the Sub folder"
    );

    let alpha = &movies["Items"][0];
    let alpha_id = alpha["Id"].as_str().unwrap();
    let (status, item) = c.get(&format!("/Users/{user_id}/Items/{alpha_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item["Container"], json!("mp4"));
    assert!(
        item["RunTimeTicks"].as_i64().unwrap() > 10_000_000,
        "{item}"
    );
    assert_eq!(item["UserData"]["Played"], json!(false));
    assert_eq!(item["UserData"]["PlaybackPositionTicks"], json!(0));
    assert_eq!(item["UserData"]["Key"], json!(alpha_id));
    // Dashed GUIDs are the same item.
    let dashed = format!(
        "{}-{}-{}-{}-{}",
        &alpha_id[..8],
        &alpha_id[8..12],
        &alpha_id[12..16],
        &alpha_id[16..20],
        &alpha_id[20..]
    );
    assert_eq!(c.get(&format!("/Items/{dashed}")).await.0, StatusCode::OK);

    assert_eq!(
        c.get("/Items/0123456789abcdef0123456789abcdef").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.get("/Items/not-an-id").await.0, StatusCode::NOT_FOUND);
    assert_eq!(c.get("/Items?Limit=lots").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        c.get("/Items?ParentId=0123456789abcdef0123456789abcdef")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    srv.shutdown(GRACE).await;
}

#[tokio::test]
async fn playback_reports_and_played_marks() {
    let (srv, _data) = start_fresh().await;
    let mut c = Client::new(&srv);
    let auth = c.login(ADMIN, ADMIN_PW).await;
    let user_id = auth["User"]["Id"].as_str().unwrap().to_owned();
    let (alpha_id, runtime) = find_item(&c, "Alpha").await;

    let (status, _) = c
        .post(
            "/Sessions/Playing",
            json!({ "ItemId": alpha_id, "PositionTicks": 0, "PlaySessionId": "ps1" }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let pos = runtime / 2;
    let (status, _) = c
        .post(
            "/Sessions/Playing/Progress",
            json!({ "ItemId": alpha_id, "PositionTicks": pos, "IsPaused": true }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, item) = c.get(&format!("/Users/{user_id}/Items/{alpha_id}")).await;
    assert_eq!(item["UserData"]["PlaybackPositionTicks"], json!(pos));
    assert!(item["UserData"]["LastPlayedDate"].is_string());

    let (_, sessions) = c.get("/Sessions").await;
    let mine = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["DeviceId"] == json!("test-device"))
        .unwrap();
    assert_eq!(mine["NowPlayingItem"]["Id"], json!(alpha_id));
    assert_eq!(mine["PlayState"]["PositionTicks"], json!(pos));
    assert_eq!(mine["PlayState"]["IsPaused"], json!(true));
    assert_eq!(mine["PlayState"]["PlaySessionId"], json!("ps1"));

    let (_, resume) = c.get("/UserItems/Resume").await;
    assert_eq!(resume["Items"][0]["Id"], json!(alpha_id));

    // Stopping near the end marks it played.
    let (status, _) = c
        .post(
            "/Sessions/Playing/Stopped",
            json!({ "ItemId": alpha_id, "PositionTicks": runtime - 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, item) = c.get(&format!("/Items/{alpha_id}")).await;
    assert_eq!(item["UserData"]["Played"], json!(true));
    assert_eq!(item["UserData"]["PlayCount"], json!(1));
    assert_eq!(item["UserData"]["PlaybackPositionTicks"], json!(0));
    let (_, sessions) = c.get("/Sessions").await;
    assert!(sessions
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["NowPlayingItem"].is_null()));

    let (status, data) = c
        .delete(&format!("/Users/{user_id}/PlayedItems/{alpha_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data["Played"], json!(false));
    let (status, data) = c
        .post(
            &format!("/Users/{user_id}/PlayedItems/{alpha_id}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (data["Played"].clone(), data["PlayCount"].clone()),
        (json!(true), json!(2))
    );
    let (status, data) = c
        .post(
            &format!("/Users/{user_id}/FavoriteItems/{alpha_id}"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, data["IsFavorite"].clone()),
        (StatusCode::OK, json!(true))
    );

    // Bad input: 400s and 404s, never a 500.
    assert_eq!(
        c.post_raw("/Sessions/Playing/Progress", "{\"ItemId\": ")
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        c.post("/Sessions/Playing/Progress", json!({ "PositionTicks": 5 }))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        c.post(
            "/Sessions/Playing/Progress",
            json!({ "ItemId": alpha_id, "PositionTicks": "x" })
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        c.post(
            "/Sessions/Playing/Progress",
            json!({ "ItemId": alpha_id, "PositionTicks": -5 })
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        c.post(
            "/Sessions/Playing",
            json!({ "ItemId": "0123456789abcdef0123456789abcdef" })
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.post(&format!("/Users/{user_id}/PlayedItems/nope"), json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.post(
            &format!("/Users/{user_id}/PlayedItems/{alpha_id}?DatePlayed=soon"),
            json!({})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        c.post("/Sessions/Playing/Ping", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    srv.shutdown(GRACE).await;
}

#[tokio::test]
async fn users_cannot_touch_each_others_data() {
    let (srv, _data) = start_fresh().await;
    let mut admin = Client::new(&srv);
    let auth = admin.login(ADMIN, ADMIN_PW).await;
    let admin_id = auth["User"]["Id"].as_str().unwrap().to_owned();
    let (status, bob) = admin
        .post("/Users/New", json!({ "Name": "bob", "Password": "bobpw" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{bob}");
    let bob_id = bob["Id"].as_str().unwrap().to_owned();
    assert_eq!(
        admin
            .post("/Users/New", json!({ "Name": "BOB", "Password": "x" }))
            .await
            .0,
        StatusCode::CONFLICT
    );

    let mut b = Client::new(&srv);
    let auth = b.login("bob", "bobpw").await;
    assert_eq!(auth["User"]["Policy"]["IsAdministrator"], json!(false));
    let (alpha_id, _) = find_item(&b, "Alpha").await;

    assert_eq!(
        b.get(&format!("/Users/{admin_id}")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.get(&format!("/Users/{admin_id}/Items/{alpha_id}"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.get(&format!("/Users/{admin_id}/Items")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.get(&format!("/Items?userId={admin_id}")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.post(
            &format!("/Users/{admin_id}/PlayedItems/{alpha_id}"),
            json!({})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.post("/Library/Refresh", json!({})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.post("/Users/New", json!({ "Name": "eve", "Password": "x" }))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (_, users) = b.get("/Users").await;
    assert_eq!(users.as_array().unwrap().len(), 1);

    // Bob's progress is his own; the admin may read it.
    b.post(
        "/Sessions/Playing/Progress",
        json!({ "ItemId": alpha_id, "PositionTicks": 12345 }),
    )
    .await;
    let (_, mine) = admin.get(&format!("/Items/{alpha_id}")).await;
    assert_eq!(mine["UserData"]["PlaybackPositionTicks"], json!(0));
    let (status, his) = admin
        .get(&format!("/Users/{bob_id}/Items/{alpha_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(his["UserData"]["PlaybackPositionTicks"], json!(12345));
    let (_, users) = admin.get("/Users").await;
    assert_eq!(users.as_array().unwrap().len(), 2);
    assert_eq!(
        admin.get("/Users/0123456789abcdef0123456789abcdef").await.0,
        StatusCode::NOT_FOUND
    );
    // Bob sees only his own sessions.
    let (_, sessions) = b.get("/Sessions").await;
    assert!(sessions
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["UserId"] == json!(bob_id)));
    srv.shutdown(GRACE).await;
}

#[tokio::test]
async fn static_stream_honours_ranges() {
    let (srv, _data) = start_fresh().await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let (alpha_id, _) = find_item(&c, "Alpha").await;
    let file = std::fs::read(media_dir().join("Alpha.mp4")).unwrap();

    let resp = c
        .http
        .get(c.url(&format!("/Videos/{alpha_id}/stream.mp4?Static=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    let token = c.token.clone().unwrap();
    let resp = c
        .http
        .get(c.url(&format!(
            "/Videos/{alpha_id}/stream.mp4?Static=true&api_key={token}"
        )))
        .header("Range", "bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        resp.headers()["content-range"].to_str().unwrap(),
        format!("bytes 100-199/{}", file.len())
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &file[100..200]);

    let resp = c
        .authed(c.http.get(c.url(&format!("/Videos/{alpha_id}/stream"))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.bytes().await.unwrap().as_ref(), &file[..]);

    let resp = c
        .authed(c.http.get(c.url(&format!("/Videos/{alpha_id}/stream"))))
        .header("Range", format!("bytes={}-", file.len() + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        c.get(&format!("/Videos/{alpha_id}/nonsense")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get("/Videos/0123456789abcdef0123456789abcdef/stream")
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // H.264/AAC in MP4 direct-plays with the default (browser) profile; HLS needs the
    // `transcode` feature (without it the HLS routes answer 501 and never fake a segment).
    let (status, info) = c
        .post(
            &format!("/Items/{alpha_id}/PlaybackInfo"),
            json!({ "UserId": null }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info["MediaSources"][0]["SupportsDirectPlay"], json!(true));
    assert_eq!(info["PlaySessionId"].as_str().unwrap().len(), 32);
    let expected = if cfg!(feature = "transcode") {
        StatusCode::OK
    } else {
        StatusCode::NOT_IMPLEMENTED
    };
    assert_eq!(
        c.get_text(&format!("/Videos/{alpha_id}/master.m3u8"))
            .await
            .0,
        expected
    );
    srv.shutdown(GRACE).await;
}

#[tokio::test]
async fn restart_keeps_users_and_watch_state() {
    let data = tempfile::tempdir().unwrap();
    let srv = start(data.path()).await;
    let mut c = Client::new(&srv);
    let auth = c.login(ADMIN, ADMIN_PW).await;
    let user_id = auth["User"]["Id"].as_str().unwrap().to_owned();
    let server_id = auth["ServerId"].clone();
    let (alpha_id, _) = find_item(&c, "Alpha").await;
    let (beta_id, _) = find_item(&c, "Beta").await;
    c.post(
        "/Sessions/Playing/Progress",
        json!({ "ItemId": alpha_id, "PositionTicks": 777 }),
    )
    .await;
    c.post(
        &format!("/Users/{user_id}/PlayedItems/{beta_id}"),
        json!({}),
    )
    .await;
    c.post(
        "/Users/New",
        json!({ "Name": "carol", "Password": "carolpw" }),
    )
    .await;
    // One session signs out before the restart; the other stays signed in across it.
    let mut gone = Client::new(&srv);
    gone.login(ADMIN, ADMIN_PW).await;
    assert_eq!(
        gone.post("/Sessions/Logout", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    let token = c.token.clone();
    srv.shutdown(GRACE).await;

    let srv = start(data.path()).await;
    let mut kept = Client::new(&srv);
    kept.token = token;
    let (status, me) = kept.get("/Users/Me").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a token issued before the restart: {me}"
    );
    assert_eq!(me["Id"], json!(user_id));
    let (_, sessions) = kept.get("/Sessions").await;
    assert!(
        sessions
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["DeviceId"] == json!("test-device")),
        "{sessions}"
    );
    gone.base = srv.base_url();
    assert!(gone.token.is_some());
    assert_eq!(
        gone.get("/Users/Me").await.0,
        StatusCode::UNAUTHORIZED,
        "signed out before the restart"
    );
    let mut c = Client::new(&srv);
    let auth = c.login(ADMIN, ADMIN_PW).await;
    assert_eq!(auth["User"]["Id"], json!(user_id));
    assert_eq!(
        auth["ServerId"], server_id,
        "the server id is stable across restarts"
    );
    let (_, alpha) = c.get(&format!("/Items/{alpha_id}")).await;
    assert_eq!(alpha["UserData"]["PlaybackPositionTicks"], json!(777));
    let (_, beta) = c.get(&format!("/Items/{beta_id}")).await;
    assert_eq!(beta["UserData"]["Played"], json!(true));
    let mut carol = Client::new(&srv);
    carol.login("carol", "carolpw").await;
    srv.shutdown(GRACE).await;
}

#[tokio::test]
async fn refresh_rescans_under_the_lease() {
    let data = tempfile::tempdir().unwrap();
    let media = tempfile::tempdir().unwrap();
    std::fs::copy(media_dir().join("Alpha.mp4"), media.path().join("One.mp4")).unwrap();
    let srv = start_with_media(data.path(), media.path()).await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let (_, items) = c.get("/Items?Recursive=true&IncludeItemTypes=Movie").await;
    assert_eq!(items["TotalRecordCount"], json!(1));

    std::fs::copy(media_dir().join("Alpha.mp4"), media.path().join("Two.mp4")).unwrap();
    std::fs::remove_file(media.path().join("One.mp4")).unwrap();
    let runs = srv.state().scanner.report().runs;
    assert_eq!(
        c.post("/Library/Refresh", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    let report = srv.state().scanner.wait_for_runs(runs + 1).await;
    assert!(report.ran);
    assert_eq!((report.added, report.removed), (1, 1));
    let (_, items) = c.get("/Items?Recursive=true&IncludeItemTypes=Movie").await;
    assert_eq!(items["Items"][0]["Name"], json!("Two"));
    assert_eq!(items["TotalRecordCount"], json!(1));
    // The scan gave its lease back when done.
    let lease = srv
        .state()
        .stores
        .leases
        .current(server::scan::SCAN_LEASE)
        .await
        .unwrap();
    assert!(lease.is_none());
    srv.shutdown(GRACE).await;
}

/// With `ha-transcode`, PlaybackInfo runs the real decision on the stored probe.
#[cfg(feature = "transcode")]
#[tokio::test]
async fn playback_info_decides_from_the_probe() {
    let (srv, _data) = start_fresh().await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let (alpha_id, _) = find_item(&c, "Alpha").await;
    let (beta_id, _) = find_item(&c, "Beta").await;

    // No DeviceProfile: the built-in web browser profile.
    let (status, alpha) = c
        .post(&format!("/Items/{alpha_id}/PlaybackInfo"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{alpha}");
    let source = &alpha["MediaSources"][0];
    assert_eq!(source["SupportsDirectPlay"], json!(true), "{source}");
    assert!(source["DirectStreamUrl"]
        .as_str()
        .unwrap()
        .contains("stream.mp4"));
    let streams = source["MediaStreams"].as_array().unwrap();
    let video = streams
        .iter()
        .find(|s| s["Type"] == json!("Video"))
        .unwrap();
    assert_eq!(
        (video["Codec"].clone(), video["Width"].clone()),
        (json!("h264"), json!(320))
    );
    let audio = streams
        .iter()
        .find(|s| s["Type"] == json!("Audio"))
        .unwrap();
    assert_eq!(audio["Codec"], json!("aac"));

    // MPEG-2 in Matroska does not play in a browser: an HLS transcode is offered.
    let (status, beta) = c
        .post(&format!("/Items/{beta_id}/PlaybackInfo"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{beta}");
    let source = &beta["MediaSources"][0];
    assert_eq!(source["SupportsDirectPlay"], json!(false), "{source}");
    assert!(!source["TranscodeReasons"].as_array().unwrap().is_empty());
    assert_eq!(source["SupportsTranscoding"], json!(true));
    assert!(source["TranscodingUrl"]
        .as_str()
        .unwrap()
        .contains("master.m3u8"));

    let (status, _) = c
        .post(
            &format!("/Items/{alpha_id}/PlaybackInfo"),
            json!({ "DeviceProfile": [1, 2] }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = c
        .post(
            &format!("/Items/{alpha_id}/PlaybackInfo"),
            json!({ "MaxStreamingBitrate": "fast" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    srv.shutdown(GRACE).await;
}

/// The transcode path end to end: PlaybackInfo's TranscodingUrl → master → media playlist →
/// every segment (made by a worker process under the TranscodeManager), and the ffmpeg CLI
/// playing the same URL as an HLS client.
#[cfg(feature = "transcode")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_transcode_plays_end_to_end() {
    let (srv, data) = start_fresh().await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let (beta_id, _) = find_item(&c, "Beta").await;
    let hls = open_hls(&c, &beta_id).await;
    let media = &hls.media;
    assert!(media.contains("#EXT-X-PLAYLIST-TYPE:VOD") && media.contains("#EXT-X-ENDLIST"));
    let segments = hls.segment_paths();
    assert!(!segments.is_empty());
    let mut joined = Vec::new();
    for path in &segments {
        let resp = c
            .authed(reqwest::Client::new().get(c.url(path)))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        // What HLS players, Apple's spec and Jellyfin say (not mime_guess's DLNA type).
        assert_eq!(
            resp.headers().get(reqwest::header::CONTENT_TYPE).unwrap(),
            "video/mp2t",
            "{path}"
        );
        joined.extend(resp.bytes().await.unwrap());
    }
    let file = data.path().join("joined.ts");
    std::fs::write(&file, &joined).unwrap();
    let frames = count_frames(file.to_str().unwrap()).await;
    assert_eq!(frames, 75, "3 s at 25 fps, every frame once");

    // A real HLS client: ffprobe fetches the playlists and segments itself (api_key in the URL).
    let frames = count_frames(&c.url(&hls.master_url)).await;
    assert_eq!(frames, 75);

    // The job above may be done before its first renewal is due (TTL/3): keep a lease of our
    // own through the server's lease store, as its keepers do; its renewals land in the
    // process's recorder (shared by every server of this test binary, so the checks below
    // are lower bounds, not exact counts).
    let state = srv.state();
    let lease = state
        .stores
        .leases
        .try_acquire(
            "metrics-test",
            "test",
            std::time::Duration::from_millis(300),
        )
        .await
        .unwrap()
        .unwrap();
    let keeper = media_ha::core::LeaseKeeper::spawn(
        state.stores.leases.clone(),
        lease,
        media_ha::core::SystemClock::shared(),
        media_ha::core::KeeperConfig::default(),
    );
    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    keeper.shutdown().await;
    let _ = c.get_text("/no/such/route/12345").await;

    let (status, metrics) = c.get_text("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let value = |line_start: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(line_start))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {line_start} in {metrics}"))
    };
    assert!(value("media_ha_transcode_jobs_started_total ") >= 1.0);
    assert!(value("media_ha_segments_served_total ") >= 1.0, "{metrics}");
    assert!(
        metrics.contains("# TYPE media_ha_lease_renew_seconds histogram\n"),
        "{metrics}"
    );
    let count = value("media_ha_lease_renew_seconds_count ");
    assert!(count >= 1.0, "renewals every 100 ms for 250 ms: {metrics}");
    assert_eq!(
        value(r#"media_ha_lease_renew_seconds_bucket{le="+Inf"} "#),
        count
    );
    assert!(value("media_ha_lease_renew_seconds_sum ") >= 0.0);
    // Cumulative buckets, bounds ascending.
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix(r#"media_ha_lease_renew_seconds_bucket{le=""#))
        .filter_map(|l| l.split_once(r#""} "#))
        .filter(|(le, _)| *le != "+Inf")
        .map(|(le, n)| (le.parse().unwrap(), n.parse().unwrap()))
        .collect();
    assert!(buckets.len() >= 10, "{metrics}");
    assert!(buckets
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    // HTTP by route template (never the raw path) and status; an unknown path is one series.
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("media_ha_http_requests_total{")
                && l.contains(r#"method="GET""#)
                && l.contains(r#"route="/Videos/{item_id}/master.m3u8""#)
                && l.contains(r#"status="200""#)),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("media_ha_http_requests_total{")
                && l.contains(r#"route="unmatched""#)
                && l.contains(r#"status="404""#)),
        "{metrics}"
    );
    assert!(
        !metrics.contains("12345"),
        "no raw path in a label: {metrics}"
    );
    assert!(
        metrics.contains("media_ha_http_request_duration_seconds_bucket{"),
        "{metrics}"
    );
    for contract in ["leases", "metadata", "sessions", "jobs", "slots"] {
        assert_eq!(
            value(&format!("media_ha_store_up{{contract=\"{contract}\"}} ")),
            1.0,
            "{contract}"
        );
    }
    // The process collector (metrics-process).
    assert!(value("process_resident_memory_bytes ") > 0.0, "{metrics}");

    let (status, _) = c
        .get(&format!(
            "{}hls1/main/7.ts?{}",
            hls.base,
            hls.master_url.split_once('?').unwrap().1
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a segment past the end");
    srv.shutdown(GRACE).await;
}
