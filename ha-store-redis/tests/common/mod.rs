//! Shared test helpers: connecting to the shared test Redis with an isolated key prefix.
#![allow(dead_code)]

use ha_store_redis::{RedisStore, RedisStoreConfig};

/// A store on the shared test Redis (`HA_TEST_REDIS_URL`, see ha-testkit) under `prefix`.
pub async fn store_with_prefix(prefix: &str) -> RedisStore {
    let url = ha_testkit::redis_url().await;
    let config = RedisStoreConfig::from_url(&url)
        .expect("test redis URL")
        .with_prefix(prefix);
    RedisStore::connect(config)
        .await
        .expect("connect to the test redis")
}

/// A store on the shared test Redis under a prefix no other test uses.
pub async fn store() -> RedisStore {
    store_with_prefix(&ha_testkit::unique("ha-redis-test")).await
}

/// A store like [`store`] whose job records are kept `retention` after their last write.
pub async fn store_with_job_retention(retention: std::time::Duration) -> RedisStore {
    let url = ha_testkit::redis_url().await;
    let config = RedisStoreConfig::from_url(&url)
        .expect("test redis URL")
        .with_prefix(ha_testkit::unique("ha-redis-test"))
        .with_job_retention(retention);
    RedisStore::connect(config)
        .await
        .expect("connect to the test redis")
}

/// A store on `url` under a unique prefix.
pub async fn store_at(url: &str) -> RedisStore {
    let config = RedisStoreConfig::from_url(url)
        .expect("redis URL")
        .with_prefix(ha_testkit::unique("ha-redis-test"));
    RedisStore::connect(config).await.expect("connect to redis")
}
