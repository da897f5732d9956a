//! Sessions like Jellyfin's (issue 15, item 8): a signed-in device stays signed in until it
//! signs out or an administrator revokes it, however long it sits unused; `--session-idle`
//! sets an idle limit for those who want one; and a user's sessions stay bounded.
//!
//! Idleness is simulated without waiting: the session's deadline in the store (a Redis key's
//! expiry, a PostgreSQL row's `expires_at`) is moved back by 30 days, what 30 days without a
//! request would have done to it. The idle setting runs for real with `--session-idle 2s` on
//! the single-node store.

use std::time::Duration;

use ha_test_support::in_process as common;
use media_ha::core::auth;
use media_ha_server as server;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

const GRACE: Duration = Duration::from_secs(5);
const DAY_MS: i64 = 86_400_000;

/// A namespace no other test uses, valid as a Redis prefix and a PostgreSQL schema.
fn namespace(prefix: &str) -> String {
    ha_testkit::unique(prefix)
        .replace('-', "_")
        .to_ascii_lowercase()
}

/// A client on its own device (the support client always says `test-device`).
struct Device {
    http: reqwest::Client,
    base: String,
    id: String,
    token: String,
}

impl Device {
    async fn sign_in(srv: &server::Server, id: &str) -> Self {
        let mut device = Self {
            http: reqwest::Client::new(),
            base: srv.base_url(),
            id: id.to_owned(),
            token: String::new(),
        };
        let resp = device
            .request(reqwest::Method::POST, "/Users/AuthenticateByName")
            .json(&json!({ "Username": ADMIN, "Pw": ADMIN_PW }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        device.token = body["AccessToken"].as_str().unwrap().to_owned();
        device
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut auth = format!(
            r#"MediaBrowser Client="media-ha tests", Device="Test", DeviceId="{}", Version="1.0""#,
            self.id
        );
        if !self.token.is_empty() {
            auth.push_str(&format!(r#", Token="{}""#, self.token));
        }
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", auth)
    }

    async fn status(&self, method: reqwest::Method, path: &str) -> StatusCode {
        self.request(method, path).send().await.unwrap().status()
    }

    async fn me(&self) -> StatusCode {
        self.status(reqwest::Method::GET, "/Users/Me").await
    }
}

/// Where the sessions of the server under test live.
#[derive(Clone, Copy, Debug)]
enum Backend {
    /// `--redis` alone: sessions are expiring Redis hashes.
    Redis,
    /// `--redis` and `--postgres`: sessions are PostgreSQL rows.
    Postgres,
}

async fn shared_config(
    data: &std::path::Path,
    namespace: &str,
    backend: Backend,
) -> server::config::Config {
    let mut config = test_config(data, &media_dir());
    config.namespace = Some(namespace.to_owned());
    let postgres = match backend {
        Backend::Redis => None,
        Backend::Postgres => Some(ha_testkit::postgres_url().await),
    };
    config.stores = server::config::StoreUrls {
        redis: Some(ha_testkit::redis_url().await),
        postgres,
    };
    // Every request asks the store, so what the store holds decides.
    config.session_cache = Duration::ZERO;
    config
}

/// Moves the session's deadline `days` back, as that many days without a request would have;
/// what was left of its TTL before, in ms.
async fn pass_idle_days(backend: Backend, ns: &str, token: &str, days: i64) -> i64 {
    let hash = auth::hash_token(token);
    match backend {
        Backend::Redis => {
            let redis = redis::Client::open(ha_testkit::redis_url().await.as_str()).unwrap();
            let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
            let key = format!("{{{ns}:session:{hash}}}");
            let left: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap();
            // A negative expiry deletes the key, as the passing time would have.
            let _: i64 = redis::cmd("PEXPIRE")
                .arg(&key)
                .arg(left - days * DAY_MS)
                .query_async(&mut conn)
                .await
                .unwrap();
            left
        }
        Backend::Postgres => {
            let url = ha_testkit::postgres_url().await;
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let row = client
                .query_one(
                    &format!(
                        "UPDATE {ns}.sessions SET expires_at = expires_at - $2::int * interval '1 day' \
                         WHERE token_hash = $1 \
                         RETURNING (extract(epoch FROM expires_at - clock_timestamp()) * 1000)::bigint \
                                   + $2::int * {DAY_MS}::bigint"
                    ),
                    &[&hash, &(days as i32)],
                )
                .await
                .unwrap();
            row.get(0)
        }
    }
}

async fn unused_for_a_month(backend: Backend) {
    let ns = namespace("idle");
    let data = tempfile::tempdir().unwrap();
    let srv = start_config(shared_config(data.path(), &ns, backend).await).await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let token = c.token.clone().unwrap();
    assert_eq!(c.get("/Users/Me").await.0, StatusCode::OK);

    // Thirty days pass without a request (the old lease-capped TTL was one day).
    let left = pass_idle_days(backend, &ns, &token, 30).await;
    assert!(
        left > 365 * DAY_MS,
        "no idle limit by default: the session was stored for {left} ms ({backend:?})"
    );
    assert_eq!(
        c.get("/Users/Me").await.0,
        StatusCode::OK,
        "still signed in after a month unused ({backend:?})"
    );

    // An administrator's revocation of the device ends it (a second session, on another
    // device, does the revoking).
    let admin = Device::sign_in(&srv, "admin-console").await;
    let delete = reqwest::Method::DELETE;
    assert_eq!(
        admin
            .status(delete.clone(), "/Devices?id=test-device")
            .await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(c.get("/Users/Me").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(admin.me().await, StatusCode::OK);
    assert_eq!(
        admin
            .status(delete.clone(), "/Devices?id=test-device")
            .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin.status(delete, "/Devices").await,
        StatusCode::BAD_REQUEST
    );
    srv.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_unused_for_a_month_is_still_signed_in_on_redis() {
    unused_for_a_month(Backend::Redis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_unused_for_a_month_is_still_signed_in_on_postgres() {
    unused_for_a_month(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_setting_signs_out_an_unused_device() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &media_dir());
    config.session_idle = Some(Duration::from_secs(2));
    let srv = start_config(config).await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    // In use: every request restarts the clock, so it outlives the limit.
    for _ in 0..4 {
        assert_eq!(c.get("/Users/Me").await.0, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    // Unused for longer than the limit: signed out.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    assert_eq!(c.get("/Users/Me").await.0, StatusCode::UNAUTHORIZED);
    srv.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_keeps_a_bounded_number_of_sessions() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &media_dir());
    config.max_sessions_per_user = 3;
    // Every use reaches the store (the cache would stamp last activity once a minute).
    config.session_cache = Duration::ZERO;
    let srv = start_config(config).await;
    let mut devices = Vec::new();
    for i in 0..3 {
        devices.push(Device::sign_in(&srv, &format!("device-{i}")).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Device 0 is used again: device 1 is now the least recently used.
    assert_eq!(devices[0].me().await, StatusCode::OK);
    devices.push(Device::sign_in(&srv, "device-3").await);
    let mut statuses = Vec::new();
    for device in &devices {
        statuses.push(device.me().await);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::UNAUTHORIZED,
            StatusCode::OK,
            StatusCode::OK
        ],
        "the least recently used session is signed out, the new one kept"
    );
    srv.shutdown(GRACE).await;
}
