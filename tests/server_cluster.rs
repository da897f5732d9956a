//! Two reference-server replicas on one Redis and one PostgreSQL: any replica answers any
//! request. A token issued by A works on B, progress written through A is read through B, and
//! the library scan runs on one replica at a time. With PostgreSQL alone (no Redis), transcode
//! slots are still counted cluster-wide.
//!
//! Needs `HA_TEST_REDIS_URL` and `HA_TEST_DATABASE_URL` (see `scripts/services.sh`); each test
//! uses its own Redis prefix and PostgreSQL schema.

use media_ha_server as server;

use ha_test_support::in_process as common;

use common::*;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

/// A namespace no other test uses, valid as a Redis prefix and a PostgreSQL schema.
fn namespace(prefix: &str) -> String {
    ha_testkit::unique(prefix)
        .replace('-', "_")
        .to_ascii_lowercase()
}

async fn cluster_config(data: &std::path::Path, node: &str, namespace: &str) -> server::Config {
    let mut config = test_config(data, &media_dir());
    config.node_id = node.into();
    config.namespace = Some(namespace.into());
    config.stores = server::config::StoreUrls {
        redis: Some(ha_testkit::redis_url().await),
        postgres: Some(ha_testkit::postgres_url().await),
    };
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_replica_answers_any_request() {
    let namespace = namespace("srv");
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start_config(cluster_config(data_a.path(), "node-a", &namespace).await).await;
    let b = start_config(cluster_config(data_b.path(), "node-b", &namespace).await).await;
    // Wait until one of them has scanned the library.
    let mut on_b = Client::new(&b);
    let mut on_a = Client::new(&a);
    let auth = on_a.login(ADMIN, ADMIN_PW).await;
    let user_id = auth["User"]["Id"].as_str().unwrap().to_owned();
    let (alpha_id, _) = find_item(&on_a, "Alpha").await;

    // A's token works on B.
    on_b.token = on_a.token.clone();
    let (status, me) = on_b.get("/Users/Me").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["Id"], json!(user_id));
    let (_, info_a) = on_a.get("/System/Info/Public").await;
    let (_, info_b) = on_b.get("/System/Info/Public").await;
    assert_eq!(info_a["Id"], info_b["Id"], "one cluster, one server id");

    // Progress written through A is read through B, and B sees A's now-playing session.
    let (status, _) = on_a
        .post(
            "/Sessions/Playing/Progress",
            json!({ "ItemId": alpha_id, "PositionTicks": 4242 }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, item) = on_b
        .get(&format!("/Users/{user_id}/Items/{alpha_id}"))
        .await;
    assert_eq!(item["UserData"]["PlaybackPositionTicks"], json!(4242));
    let (_, sessions) = on_b.get("/Sessions").await;
    assert!(sessions
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["NowPlayingItem"]["Id"] == json!(alpha_id)));

    // Sign out on B ends the session on A too.
    assert_eq!(
        on_b.post("/Sessions/Logout", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(on_a.get("/Users/Me").await.0, StatusCode::UNAUTHORIZED);

    // Readiness checks the shared stores.
    assert_eq!(on_b.get_text("/health/ready").await.0, StatusCode::OK);

    // The scan ran once per round across both: whoever lost the lease race skipped.
    let (ra, rb) = (a.state().scanner.report(), b.state().scanner.report());
    assert!(ra.ran || rb.ran, "{ra:?} {rb:?}");
    a.shutdown(GRACE).await;
    b.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_only_replicas_share_transcode_slots() {
    let namespace = namespace("srvpg");
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut config_a = cluster_config(data_a.path(), "node-a", &namespace).await;
    let mut config_b = cluster_config(data_b.path(), "node-b", &namespace).await;
    config_a.stores.redis = None;
    config_b.stores.redis = None;
    let a = start_config(config_a).await;
    let b = start_config(config_b).await;
    let (slots_a, slots_b) = (&a.state().stores.slots, &b.state().stores.slots);
    let ttl = Duration::from_secs(30);

    // A slot taken on A fills a pool of one on B as well.
    let pool = "user:cluster-wide";
    let held = slots_a
        .try_acquire(pool, "node-a", 1, ttl)
        .await
        .unwrap()
        .expect("free");
    assert_eq!(slots_b.in_use(pool).await.unwrap(), 1);
    assert!(slots_b
        .try_acquire(pool, "node-b", 1, ttl)
        .await
        .unwrap()
        .is_none());
    assert!(slots_a.release(&held).await.unwrap());
    assert!(slots_b
        .try_acquire(pool, "node-b", 1, ttl)
        .await
        .unwrap()
        .is_some());
    a.shutdown(GRACE).await;
    b.shutdown(GRACE).await;
}

/// Every MPEG-TS segment file under a transcode directory (`<dir>/<job key>/seg-*.ts`).
#[cfg(feature = "transcode")]
fn segment_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    files_named(dir, |name| {
        name.starts_with("seg-") && name.ends_with(".ts")
    })
}

/// Every file under a transcode directory (`<dir>/<job key>/<name>`) whose name passes `keep`.
#[cfg(feature = "transcode")]
fn files_named(dir: &std::path::Path, keep: impl Fn(&str) -> bool) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for job in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(job.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = file.file_name().to_string_lossy().into_owned();
            if keep(&name) {
                out.push(file.path());
            }
        }
    }
    out.sort();
    out
}

/// The value of the unlabelled series `name` in a Prometheus text exposition.
#[cfg(feature = "transcode")]
/// The replica's own transcode counters. Not its `/metrics`: both replicas of these tests run in
/// one process, which has one metrics recorder (`telemetry.rs`), so those add up across them.
#[cfg(feature = "transcode")]
fn counters(replica: &server::Server) -> server::transcoder::TranscoderMetrics {
    replica
        .state()
        .transcoder
        .as_deref()
        .and_then(|t| t.metrics())
        .expect("a transcoding replica reports its counters")
}

/// Two replicas A and B on the shared stores with `--transcode-storage node-local` over the
/// long clip, each with its own data and transcode directory.
#[cfg(feature = "transcode")]
struct NodeLocalPair {
    a: server::Server,
    b: server::Server,
    data_a: tempfile::TempDir,
    data_b: tempfile::TempDir,
    dir_a: std::path::PathBuf,
    dir_b: std::path::PathBuf,
}

#[cfg(feature = "transcode")]
async fn node_local_pair(prefix: &str) -> NodeLocalPair {
    let namespace = namespace(prefix);
    let media = long_clip_library();
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut config_a = cluster_config(data_a.path(), "node-a", &namespace).await;
    let mut config_b = cluster_config(data_b.path(), "node-b", &namespace).await;
    for c in [&mut config_a, &mut config_b] {
        c.media = vec![media.clone()];
        c.transcode_storage = server::config::TranscodeStorage::NodeLocal;
        // Node-local replicas sign what they forward (peer_auth.rs): one secret for both.
        c.cluster_secret = Some(server::config::ClusterSecret(
            "server-cluster-test-secret".into(),
        ));
    }
    let (dir_a, dir_b) = (
        config_a.transcode_dir.clone(),
        config_b.transcode_dir.clone(),
    );
    assert_ne!(dir_a, dir_b);
    NodeLocalPair {
        a: start_config(config_a).await,
        b: start_config(config_b).await,
        data_a,
        data_b,
        dir_a,
        dir_b,
    }
}

/// `--transcode-storage node-local`: each replica writes to its own directory. A segment asked
/// of the replica that does not own the job is fetched from the owner (the same bytes), and
/// once the owner is gone the other replica makes the segments again itself.
#[cfg(feature = "transcode")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_local_segments_come_from_the_owner_then_are_regenerated() {
    let NodeLocalPair {
        a,
        b,
        data_b,
        dir_a,
        dir_b,
        data_a: _data_a,
    } = node_local_pair("srvnl").await;
    let mut on_a = Client::new(&a);
    on_a.login(ADMIN, ADMIN_PW).await;
    let mut on_b = Client::new(&b);
    on_b.token = on_a.token.clone();
    let (gamma_id, _) = find_item(&on_a, "Gamma").await;
    let segments = open_hls(&on_a, &gamma_id).await.segment_paths();
    assert_eq!(segments.len(), 5);
    let fetch = |c: &Client, path: &str| {
        let req = c.authed(c.http.get(c.url(path)));
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            (status, resp.bytes().await.unwrap().to_vec())
        }
    };

    // A makes the job its own; B, asked for segments it does not have, fetches them from A.
    let (status, first) = fetch(&on_a, &segments[0]).await;
    assert_eq!(status, StatusCode::OK);
    for (i, uri) in segments.iter().enumerate().skip(1) {
        let (status, bytes) = fetch(&on_b, uri).await;
        assert_eq!(status, StatusCode::OK, "segment {i} through B");
        let owners_file = segment_files(&dir_a)
            .into_iter()
            .find(|p| p.ends_with(format!("seg-{i:06}.ts")))
            .unwrap_or_else(|| panic!("segment {i} is in A's directory"));
        assert_eq!(
            bytes,
            std::fs::read(&owners_file).unwrap(),
            "segment {i}: B relays A's file byte for byte"
        );
    }
    assert_eq!(std::fs::read(&segment_files(&dir_a)[0]).unwrap(), first);
    assert!(segment_files(&dir_b).is_empty(), "B transcoded nothing");
    // The four relayed segments are counted (bodies streamed through to the end), no failure.
    let on_b_counts = counters(&b);
    assert_eq!(on_b_counts.jobs_started, 0, "{on_b_counts:?}");
    assert_eq!(on_b_counts.segments_proxied, 4, "{on_b_counts:?}");
    assert_eq!(on_b_counts.proxy_failures, 0, "{on_b_counts:?}");

    // A leaves with its disk: B makes every segment again, and they play as one stream.
    a.shutdown(GRACE).await;
    let mut joined = Vec::new();
    for (i, uri) in segments.iter().enumerate() {
        let (status, bytes) = fetch(&on_b, uri).await;
        assert_eq!(status, StatusCode::OK, "segment {i} through B after A left");
        joined.extend(bytes);
    }
    assert_eq!(segment_files(&dir_b).len(), 5, "B made all five itself");
    let on_b_counts = counters(&b);
    assert_eq!(on_b_counts.takeovers, 1, "{on_b_counts:?}");
    assert_eq!(
        on_b_counts.segments_proxied, 4,
        "nothing relayed once B owns the job"
    );
    let file = data_b.path().join("joined.ts");
    std::fs::write(&file, &joined).unwrap();
    assert_eq!(
        count_frames(file.to_str().unwrap()).await,
        375,
        "15 s at 25 fps, every frame once"
    );
    b.shutdown(GRACE).await;
}

/// Node-local storage with fMP4 segments: the init segment (`-1.mp4`) and the media segments
/// asked of the replica that does not own the job are forwarded to the owner and relayed byte
/// for byte with their content types, and init + segments fetched through that replica decode
/// as one stream (joined by hand, and through ffprobe's own HLS client).
#[cfg(feature = "transcode")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_local_fmp4_init_and_segments_come_from_the_owner() {
    let NodeLocalPair {
        a,
        b,
        data_b,
        dir_a,
        dir_b,
        data_a: _data_a,
    } = node_local_pair("srvnlf").await;
    let mut on_a = Client::new(&a);
    on_a.login(ADMIN, ADMIN_PW).await;
    let mut on_b = Client::new(&b);
    on_b.token = on_a.token.clone();
    let (gamma_id, _) = find_item(&on_a, "Gamma").await;
    let hls = open_hls_with(&on_b, &gamma_id, fmp4_profile()).await;
    let init_uri = hls
        .media
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-MAP:URI=\""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no EXT-X-MAP in {}", hls.media));
    assert!(init_uri.starts_with("hls1/main/-1.mp4?"), "{init_uri}");
    let init_path = format!("{}{init_uri}", hls.base);
    let segments = hls.segment_paths();
    assert_eq!(segments.len(), 5);
    let fetch = |c: &Client, path: &str| {
        let req = c.authed(c.http.get(c.url(path)));
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK, "{}", resp.url());
            let kind = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            (kind, resp.bytes().await.unwrap().to_vec())
        }
    };
    let owners_file = |name: &str| {
        let found = files_named(&dir_a, |n| n == name);
        assert_eq!(found.len(), 1, "{name} in A's directory: {found:?}");
        std::fs::read(&found[0]).unwrap()
    };

    // A makes the job its own; B has none of its files and relays A's.
    let (_, first) = fetch(&on_a, &segments[0]).await;
    assert_eq!(first, owners_file("seg-000000.m4s"));
    let (kind, init) = fetch(&on_b, &init_path).await;
    assert_eq!(kind, "video/mp4", "the init through B");
    assert_eq!(&init[4..8], b"ftyp");
    assert_eq!(
        init,
        owners_file("init.mp4"),
        "B relays A's init byte for byte"
    );
    let mut joined = init.clone();
    joined.extend(&first);
    for (i, uri) in segments.iter().enumerate().skip(1) {
        let (kind, bytes) = fetch(&on_b, uri).await;
        assert_eq!(kind, "video/iso.segment", "segment {i} through B");
        assert_eq!(&bytes[4..8], b"moof", "segment {i}");
        assert_eq!(
            bytes,
            owners_file(&format!("seg-{i:06}.m4s")),
            "segment {i}"
        );
        joined.extend(bytes);
    }
    assert!(
        files_named(&dir_b, |_| true).is_empty(),
        "B transcoded nothing"
    );
    assert_eq!(counters(&b).jobs_started, 0);

    let file = data_b.path().join("joined.mp4");
    std::fs::write(&file, &joined).unwrap();
    assert_eq!(
        count_frames(file.to_str().unwrap()).await,
        375,
        "15 s at 25 fps, every frame once"
    );
    // A real HLS client on B: master, EXT-X-MAP and segments, all relayed from A.
    let master = on_b.url(&hls.master_url);
    assert_eq!(count_frames(&master).await, 375);
    assert!(
        files_named(&dir_b, |_| true).is_empty(),
        "still nothing on B"
    );
    a.shutdown(GRACE).await;
    b.shutdown(GRACE).await;
}
