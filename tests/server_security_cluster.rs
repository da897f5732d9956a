//! Issue 20 on two replicas over one Redis and one PostgreSQL: the sign-out race with reports
//! spread over both replicas, the sign-in brake counted cluster-wide, the owner proxy
//! (node-local storage) refusing traversal and never handing a viewer's credentials to an
//! address the cluster did not vouch for, and no PostgreSQL text in answers.
//!
//! Needs `HA_TEST_REDIS_URL` and `HA_TEST_DATABASE_URL` (see `scripts/services.sh`).

use media_ha_server as server;

use ha_test_support::in_process as common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn namespace(prefix: &str) -> String {
    ha_testkit::unique(prefix)
        .replace('-', "_")
        .to_ascii_lowercase()
}

const SECRET: &str = "issue-20-cluster-secret-for-tests";

async fn cluster_config(data: &std::path::Path, node: &str, namespace: &str) -> server::Config {
    let mut config = test_config(data, &media_dir());
    config.node_id = node.into();
    config.namespace = Some(namespace.into());
    config.cluster_secret = Some(server::config::ClusterSecret(SECRET.into()));
    config.stores = server::config::StoreUrls {
        redis: Some(ha_testkit::redis_url().await),
        postgres: Some(ha_testkit::postgres_url().await),
    };
    config
}

/// Finding 1 on two replicas: reports to both while the client signs out on one; 20 runs, no
/// token comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_racing_reports_on_two_replicas_stays_signed_out() {
    let ns = namespace("sec_race");
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start_config(cluster_config(da.path(), "node-a", &ns).await).await;
    let b = start_config(cluster_config(db.path(), "node-b", &ns).await).await;
    let mut c = Client::new(&a);
    c.login(ADMIN, ADMIN_PW).await;
    let (item, _) = find_item(&c, "Alpha").await;
    let (base_a, base_b) = (a.base_url(), b.base_url());
    let revived = race::logout_race(&[base_b.as_str(), base_a.as_str()], &item, 20).await;
    assert_eq!(revived, 0, "signed-out tokens revived by reports in flight");
}

/// Finding 8, cluster-wide: failures on A and on B add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_brake_counts_failures_on_every_replica() {
    let ns = namespace("sec_brake");
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start_config(cluster_config(da.path(), "node-a", &ns).await).await;
    let b = start_config(cluster_config(db.path(), "node-b", &ns).await).await;
    let (ca, cb) = (Client::new(&a), Client::new(&b));
    for i in 0..5 {
        let c = if i % 2 == 0 { &ca } else { &cb };
        assert_eq!(
            c.login_status(ADMIN, "wrong").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        ca.login_status(ADMIN, ADMIN_PW).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        cb.login_status(ADMIN, ADMIN_PW).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Informational: a value PostgreSQL refuses is a 400 without PostgreSQL's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_error_text_does_not_reach_clients() {
    let ns = namespace("sec_pgerr");
    let da = tempfile::tempdir().unwrap();
    let a = start_config(cluster_config(da.path(), "node-a", &ns).await).await;
    let mut c = Client::new(&a);
    c.login(ADMIN, ADMIN_PW).await;
    let (status, body) = c
        .post(
            "/Users/New",
            json!({ "Name": "nul\u{0}name", "Password": "pw" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let text = body.to_string().to_lowercase();
    for word in ["postgres", "0x00", "utf8", "sqlstate", "invalid byte"] {
        assert!(!text.contains(word), "{word:?} in {text}");
    }
}

#[cfg(feature = "transcode")]
mod owner_proxy {
    use super::*;

    /// Two replicas with node-local transcodes over the long clip; a job started on A.
    struct Pair {
        a: server::Server,
        b: server::Server,
        _data: (tempfile::TempDir, tempfile::TempDir),
        namespace: String,
        viewer: Client,
        item: String,
        segment: String,
    }

    async fn pair(prefix: &str) -> Pair {
        let ns = namespace(prefix);
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut ca = cluster_config(da.path(), "node-a", &ns).await;
        let mut cb = cluster_config(db.path(), "node-b", &ns).await;
        for c in [&mut ca, &mut cb] {
            c.transcode_storage = server::config::TranscodeStorage::NodeLocal;
        }
        for c in [&mut ca, &mut cb] {
            c.media = vec![long_clip_library()];
        }
        let a = start_config(ca).await;
        let b = start_config(cb).await;
        let mut viewer = Client::new(&a);
        viewer.login(ADMIN, ADMIN_PW).await;
        let (item, _) = find_item(&viewer, "Gamma").await;
        let hls = open_hls(&viewer, &item).await;
        let segment = hls.segment_paths()[0].clone();
        // The job starts on A (its owner).
        let (status, _) = viewer.get_text(&segment).await;
        assert_eq!(status, StatusCode::OK);
        Pair {
            a,
            b,
            _data: (da, db),
            namespace: ns,
            viewer,
            item,
            segment,
        }
    }

    /// Finding 5: a raw path that resolves elsewhere on the owner is not forwarded as such.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn traversal_through_the_owner_proxy_is_refused() {
        let p = pair("sec_trav").await;
        let token = p.viewer.token.clone().unwrap();
        let query = p.segment.split_once('?').map_or("", |(_, q)| q);
        for evil in [
            r"1.ts\..\..\..\..\..\metrics",
            "1.ts/..%2f..%2f..%2f..%2f..%2fmetrics",
            r"1.ts\..\..\..\..\..\System\Info",
        ] {
            let head = format!(
                "GET /Videos/{}/hls1/main/{evil}?{query}&api_key={token} HTTP/1.1\r\nHost: x",
                p.item
            );
            let reply = raw::request(p.b.local_addr(), &head, Duration::from_secs(30)).await;
            assert!(
                !reply.text.contains("# TYPE"),
                "metrics through the proxy: {}",
                reply.text
            );
            assert!(
                !reply.text.contains("TranscodingTempPath"),
                "{}",
                reply.text
            );
            assert!(
                matches!(reply.status, Some(400 | 404)),
                "{evil}: {:?} {}",
                reply.status,
                reply.text.lines().next().unwrap_or("")
            );
        }
        drop(p.a);
    }

    /// Finding 7: a job record rewritten to name a listener of the attacker's sends it no
    /// credential, and what it does get is accepted nowhere else.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_forged_owner_address_receives_no_credentials() {
        let p = pair("sec_forge").await;
        let token = p.viewer.token.clone().unwrap();
        // The attacker's listener.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = format!("http://{}", listener.local_addr().unwrap());
        let captured = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let _ = s
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .await;
            String::from_utf8_lossy(&head).into_owned()
        });
        // Whoever can write to Redis rewrites the job's owner address.
        let redis = redis::Client::open(ha_testkit::redis_url().await.as_str()).unwrap();
        let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{{{}:job:*", p.namespace))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(keys.len(), 1, "{keys:?}");
        let _: i64 = redis::cmd("HSET")
            .arg(&keys[0])
            .arg("owner_addr")
            .arg(&fake)
            .query_async(&mut conn)
            .await
            .unwrap();
        // The viewer asks B for the segment with every credential spelling.
        let mut on_b = Client::for_url(&p.b.base_url());
        on_b.token = Some(token.clone());
        let sep = if p.segment.contains('?') { '&' } else { '?' };
        let _ = on_b
            .http
            .get(on_b.url(&format!("{}{sep}api_key={token}", p.segment)))
            .header("X-Emby-Token", &token)
            .header(
                "Authorization",
                format!(r#"MediaBrowser Client="c", Device="d", DeviceId="x", Version="1", Token="{token}""#),
            )
            .send()
            .await;
        let head = tokio::time::timeout(Duration::from_secs(30), captured)
            .await
            .expect("B forwarded to the forged address")
            .unwrap();
        let lower = head.to_lowercase();
        assert!(
            !head.contains(&token),
            "the viewer's token reached the forged owner:\n{head}"
        );
        for h in ["authorization:", "x-emby-token", "api_key", "apikey"] {
            assert!(!lower.contains(h), "{h} reached the forged owner:\n{head}");
        }
        // The signature it got is for its own address: the real owner refuses a replay.
        let mut replay = head
            .split("\r\n")
            .take_while(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\r\n");
        replay = replay
            .lines()
            .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
            .collect::<Vec<_>>()
            .join("\r\n");
        let reply = raw::request(p.a.local_addr(), &replay, Duration::from_secs(30)).await;
        assert_eq!(reply.status, Some(401), "{}", reply.text);
    }
}

/// Finding 6 on Redis + PostgreSQL: a user who knows another user's DeviceId (every client of
/// one app sends the same kind) neither sees that user's sessions nor stops their transcode;
/// the owner of the device does stop it (so the check below observes a real stop).
#[cfg(feature = "transcode")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_can_neither_see_nor_stop_another_users_transcode() {
    use media_ha::core::JobState;

    let ns = namespace("f6");
    let data = tempfile::tempdir().unwrap();
    let media = tempfile::tempdir().unwrap();
    // Long enough that its transcode still runs while the test looks (minutes of video).
    make_clip(
        &media.path().join("Long.mkv"),
        240,
        &["-c:v", "mpeg2video", "-c:a", "mp2", "-f", "matroska"],
    );
    let mut config = cluster_config(data.path(), "f6-node", &ns).await;
    config.media = vec![media.path().to_path_buf()];
    let srv = start_config(config).await;
    let mut admin = Client::new(&srv);
    admin.login(ADMIN, ADMIN_PW).await;
    for name in ["victim", "mallory"] {
        let (status, body) = admin
            .post("/Users/New", json!({ "Name": name, "Password": "pw" }))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut victim = Client::new(&srv);
    victim.login("victim", "pw").await;
    let mut mallory = Client::new(&srv);
    mallory.login("mallory", "pw").await;
    let (item, _) = find_item(&victim, "Long").await;

    let hls = open_hls(&victim, &item).await;
    let first = format!("{}{}", hls.base, hls.segments[0]);
    let (status, _) = victim.get_text(&first).await;
    assert_eq!(status, StatusCode::OK);
    let jobs = srv.state().stores.jobs.clone();
    let state = || async {
        let all = jobs.list().await.expect("job records");
        assert_eq!(all.len(), 1, "one job in this namespace: {all:?}");
        all[0].state
    };
    assert_eq!(state().await, JobState::Running, "the victim's job runs");

    // An administrator sees the victim's session; Mallory does not...
    let (_, all) = admin.get("/Sessions").await;
    assert!(
        all.as_array()
            .is_some_and(|a| a.iter().any(|s| s["UserName"] == json!("victim"))),
        "the administrator lists every session: {all}"
    );
    let (status, sessions) = mallory.get("/Sessions").await;
    assert_eq!(status, StatusCode::OK);
    let sessions = sessions.as_array().expect("a list").clone();
    assert!(
        sessions.iter().all(|s| s["UserName"] != json!("victim")),
        "another user's sessions are not listed: {sessions:?}"
    );
    // ...nor stop the job, although both clients send the same DeviceId ("test-device").
    let (status, body) = mallory
        .delete("/Videos/ActiveEncodings?DeviceId=test-device")
        .await;
    assert!(status.is_success(), "{status} {body}");
    // A stop lands within the idle check (500 ms): wait four of them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        state().await,
        JobState::Running,
        "another user's DELETE /Videos/ActiveEncodings stopped the victim's transcode"
    );

    // The victim's own stop does stop it.
    let (status, body) = victim
        .delete("/Videos/ActiveEncodings?DeviceId=test-device")
        .await;
    assert!(status.is_success(), "{status} {body}");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = state().await;
        if now == JobState::Stopped {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the owner's stop did not stop the job: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    srv.shutdown(GRACE).await;
}
