//! Two reference-server replicas on one Redis and one PostgreSQL: any replica answers any
//! request. A token issued by A works on B, progress written through A is read through B, and
//! the library scan runs on one replica at a time. With PostgreSQL alone (no Redis), transcode
//! slots are still counted cluster-wide.
//!
//! Needs `HA_TEST_REDIS_URL` and `HA_TEST_DATABASE_URL` (see `scripts/services.sh`); each test
//! uses its own Redis prefix and PostgreSQL schema.

#[allow(dead_code)]
#[path = "../examples/reference-server/lib.rs"]
mod server;

#[path = "server_common/mod.rs"]
mod common;

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
