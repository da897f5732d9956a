//! What `RedisStore::connect` refuses, and how it says so: an eviction policy that can evict
//! leases, a wrong password, nothing listening; and what it tolerates: a user not allowed to
//! run `CONFIG`.

use std::time::Duration;

use ha_core::LeaseManager;
use ha_store_redis::{RedisStore, RedisStoreConfig, RedisStoreError};
use ha_testkit::RedisServer;

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn config(url: &str) -> RedisStoreConfig {
    RedisStoreConfig::from_url(url)
        .unwrap()
        .with_prefix(ha_testkit::unique("startup"))
        .with_op_timeout(Duration::from_secs(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allkeys_eviction_policy_is_refused_naming_the_fix() {
    let server = RedisServer::start().await;
    let mut admin = raw(&server.url()).await;
    for policy in ["allkeys-lru", "allkeys-random"] {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg(policy)
            .query_async::<()>(&mut admin)
            .await
            .unwrap();
        let err = RedisStore::connect(config(&server.url()))
            .await
            .expect_err("an allkeys policy must be refused");
        assert!(
            matches!(&err, RedisStoreError::EvictionPolicy { policy: p, .. } if p == policy),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("127.0.0.1:{}", server.port())),
            "{text}"
        );
        assert!(text.contains("noeviction"), "{text}");
        let err: ha_core::Error = err.into();
        assert!(!err.is_transient(), "{err:?}");
    }
    // volatile-* is allowed (with a warning in the log), noeviction of course.
    for policy in ["volatile-lru", "noeviction"] {
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg(policy)
            .query_async::<()>(&mut admin)
            .await
            .unwrap();
        let store = RedisStore::connect(config(&server.url())).await.unwrap();
        store.ping().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_config_rights_is_tolerated() {
    let server = RedisServer::start().await;
    let mut admin = raw(&server.url()).await;
    // Allowed everything but CONFIG, like many managed services.
    redis::cmd("ACL")
        .arg(vec![
            "SETUSER", "app", "on", ">app-pw", "~*", "&*", "+@all", "-config",
        ])
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    let url = format!("redis://app:app-pw@127.0.0.1:{}/", server.port());
    let store = RedisStore::connect(config(&url)).await.unwrap();
    let lease = store
        .leases()
        .try_acquire("k", "a", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(lease.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_password_is_named_with_the_host() {
    let server = RedisServer::start().await;
    let mut admin = raw(&server.url()).await;
    redis::cmd("CONFIG")
        .arg(vec!["SET", "requirepass", "right"])
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    let host = format!("127.0.0.1:{}", server.port());
    let url = format!("redis://{host}/");
    for config in [
        config(&url),
        config(&url).with_password("wrong"),
        config(&format!("redis://:wrong@{host}/")),
    ] {
        let err = RedisStore::connect(config).await.unwrap_err();
        assert!(matches!(err, RedisStoreError::Connect { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains(&host), "{text}");
        assert!(text.contains("authentication failed"), "{text}");
        assert!(!text.contains("wrong"), "{text}");
    }
    // The password from the builder overrides the URL's.
    let store =
        RedisStore::connect(config(&format!("redis://:wrong@{host}/")).with_password("right"))
            .await
            .unwrap();
    store.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_named_with_the_host() {
    let port = ha_testkit::free_port();
    let err = RedisStore::connect(config(&format!("redis://127.0.0.1:{port}")))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("Redis store at 127.0.0.1:{port}")),
        "{text}"
    );
    assert!(
        text.contains("connection refused") || text.contains("no answer in time"),
        "{text}"
    );
    let err: ha_core::Error = err.into();
    assert!(err.is_transient(), "{err:?}");
}
