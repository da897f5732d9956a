//! A sign-out on one reference-server *process* is refused on another at once, although each
//! replica answers validated sessions from its own memory (`ha_core::session_cache`).
//!
//! Both replicas run with a session cache of 60 s (`--session-cache-ms 60000`), far longer
//! than the test waits, so the only way replica B can learn of a sign-out on A in time is the
//! `session.revoked` event on the cluster's event bus (Redis pub/sub here). A control first
//! shows the cache is really in use: a session deleted in PostgreSQL behind the servers' backs
//! (no event) is still accepted by B — the documented staleness bound, not a bug.
//!
//! Runs the example binary next to this test binary: `cargo build --features full --example
//! reference-server` first. Needs `HA_TEST_REDIS_URL` / `HA_TEST_DATABASE_URL` (see
//! `scripts/services.sh`); the replicas use their own Redis prefix and PostgreSQL schema.

use ha_test_support::cluster;

use std::time::{Duration, Instant};

use cluster::client::Client;
use cluster::replica::Replica;
use cluster::setup::Shared;
use cluster::{ADMIN, ADMIN_PW};
use media_ha::core::{auth, SessionStore};
use reqwest::StatusCode;
use serde_json::json;

/// The replicas' session cache: longer than anything below waits.
const CACHE_MS: u64 = 60_000;
/// How long B may take to apply the event. A liveness bound (the event normally arrives in
/// milliseconds), kept well under `CACHE_MS` so that only the event can make the test pass.
const EVENT_PATIENCE: Duration = Duration::from_secs(20);

async fn sign_in(c: &mut Client, base: &str) -> String {
    let (status, auth) = c
        .post(
            base,
            "/Users/AuthenticateByName",
            json!({ "Username": ADMIN, "Pw": ADMIN_PW }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "login: {auth}");
    let token = auth["AccessToken"].as_str().expect("a token").to_owned();
    c.token = Some(token.clone());
    token
}

async fn me(c: &Client, base: &str) -> StatusCode {
    c.get(base, "/Users/Me").await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_on_one_replica_is_refused_on_the_other() {
    let mut shared = Shared::from_test_env().await;
    shared.extra_args = vec!["--session-cache-ms".into(), CACHE_MS.to_string().into()];
    let library = tempfile::tempdir().expect("an empty library");
    let http = reqwest::Client::new();
    let mut a = Replica::start("r1", &shared, library.path());
    let mut b = Replica::start("r2", &shared, library.path());
    a.wait_ready(&http).await;
    b.wait_ready(&http).await;
    let (a_url, b_url) = (a.base().to_owned(), b.base().to_owned());

    // Control: B caches a session; deleting its row directly (no event) does not reach B.
    let mut control = Client::new();
    let token = sign_in(&mut control, &a_url).await;
    for _ in 0..3 {
        assert_eq!(me(&control, &b_url).await, StatusCode::OK);
    }
    let pg = media_ha::postgres::PgStoreConfig::from_url(&shared.postgres)
        .unwrap()
        .with_schema(shared.namespace.clone());
    let raw = media_ha::postgres::PgStore::connect(pg).await.unwrap();
    assert!(raw
        .sessions()
        .remove(&auth::hash_token(&token))
        .await
        .unwrap());
    assert_eq!(
        me(&control, &b_url).await,
        StatusCode::OK,
        "B answers from its cache (without an event, the cache's bound applies)\n{}",
        b.log_tail()
    );

    // The real thing: sign in on A, use the token on B, sign out on A.
    let mut viewer = Client::new();
    sign_in(&mut viewer, &a_url).await;
    for _ in 0..3 {
        assert_eq!(me(&viewer, &b_url).await, StatusCode::OK);
    }
    let (status, body) = viewer.post(&a_url, "/Sessions/Logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(me(&viewer, &a_url).await, StatusCode::UNAUTHORIZED);
    let deadline = Instant::now() + EVENT_PATIENCE;
    loop {
        let status = me(&viewer, &b_url).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            Instant::now() < deadline,
            "B still accepts a token signed out on A\n{}\n{}",
            a.log_tail(),
            b.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Only that session went: a fresh sign-in works on both.
    let mut other = Client::new();
    sign_in(&mut other, &b_url).await;
    assert_eq!(me(&other, &a_url).await, StatusCode::OK);
    assert_eq!(me(&other, &b_url).await, StatusCode::OK);
}
