//! `rediss://` against a real TLS redis-server with a private CA (generated with openssl).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ha_core::LeaseManager;
use ha_store_redis::{RedisStore, RedisStoreConfig};

mod common;

struct TlsRedis {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start() -> TlsRedis {
    let dir = std::env::temp_dir().join(ha_testkit::unique("ha-tls"));
    std::fs::create_dir_all(&dir).unwrap();
    common::make_test_ca(&dir);
    let port = ha_testkit::free_port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
        ])
        .args([
            "--tls-cert-file",
            "server.crt",
            "--tls-key-file",
            "server.key",
        ])
        .args(["--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "no"])
        .args(["--save", "", "--appendonly", "no"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs");
    TlsRedis { child, port, dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_over_tls_with_a_private_ca() {
    let server = start();
    let ca = std::fs::read(server.dir.join("ca.crt")).unwrap();
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let store = loop {
        let config = RedisStoreConfig::from_url(&url)
            .unwrap()
            .with_prefix(ha_testkit::unique("tls"))
            .with_tls_root_cert(ca.clone());
        match RedisStore::connect(config).await {
            Ok(store) => break store,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no TLS connection: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let leases = store.leases();
    let lease = leases
        .try_acquire("k", "a", Duration::from_secs(5))
        .await
        .unwrap()
        .expect("free key");
    assert_eq!(leases.renew(&lease).await.unwrap().token, lease.token);
    assert!(leases.release(&lease).await.unwrap());

    // Without the CA the server is not trusted: connecting fails (it does not fall back).
    let untrusted = RedisStoreConfig::from_url(&url).unwrap();
    assert!(RedisStore::connect(untrusted).await.is_err());
}
