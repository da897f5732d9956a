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

pub fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes a private CA (`ca.crt`, `ca.key`) and a server certificate for 127.0.0.1 signed by
/// it (`server.crt`, `server.key`) into `dir`, with the openssl CLI.
pub fn make_test_ca(dir: &std::path::Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=media-ha test CA",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
}
