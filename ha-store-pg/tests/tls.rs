//! TLS (feature `tls`): a private server with a certificate from a throwaway CA; the store
//! connects with `sslmode=require&sslrootcert=…`, every kind of connection is encrypted, and a
//! store trusting another CA is refused. Certificates are made with the `openssl` CLI.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ha_core::{BusMessage, EventBus, EventPublisher, MetadataRepo};
use ha_store_pg::{PgStore, PgStoreConfig};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("the openssl CLI is needed for this test (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`<name>.pem`) in `dir`; with `server`, also `server.crt`/`server.key` signed by it.
fn make_ca(dir: &Path, name: &str, server: bool) {
    let key = format!("{name}.key");
    let pem = format!("{name}.pem");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    if server {
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                &pem,
                "-CAkey",
                &key,
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
            ],
        );
    }
}

async fn enable_ssl(pg: &ha_testkit::PostgresServer, certs: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let data = pg.data_dir();
    let owner = std::fs::metadata(&data).unwrap();
    for file in ["server.crt", "server.key"] {
        let target = data.join(file);
        std::fs::copy(certs.join(file), &target).unwrap();
        std::os::unix::fs::chown(&target, Some(owner.uid()), Some(owner.gid())).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute("ALTER SYSTEM SET ssl = on")
        .await
        .unwrap();
    client
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .unwrap();
    for _ in 0..100 {
        let (c, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let on: String = c.query_one("SHOW ssl", &[]).await.unwrap().get(0);
        if on == "on" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("ssl did not turn on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_uses_tls_and_a_wrong_ca_is_refused() {
    let certs = tempfile::tempdir().unwrap();
    make_ca(certs.path(), "ca", true);
    make_ca(certs.path(), "other", false);
    let pg = ha_testkit::PostgresServer::start().await;
    enable_ssl(&pg, certs.path()).await;

    let url = format!(
        "{}?sslmode=require&sslrootcert={}&schema=tls",
        pg.url(),
        certs.path().join("ca.pem").display()
    );
    let store = PgStore::connect(PgStoreConfig::from_url(&url).unwrap())
        .await
        .expect("TLS connection with the right CA");
    assert!(store.metadata().list_users().await.unwrap().is_empty());
    let client = store.pool().get().await.unwrap();
    let encrypted: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted, "pooled connections are encrypted");
    drop(client);

    // The listener's dedicated connection too (it must work to deliver this).
    let bus: Arc<dyn EventBus> = Arc::new(store.events());
    let mut sub = bus.subscribe().await.unwrap();
    EventPublisher::new(bus.clone(), "n")
        .publish("t", serde_json::json!({}))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), sub.next()).await;
    assert!(matches!(got, Ok(Some(BusMessage::Event(_)))), "{got:?}");
    let client = store.pool().get().await.unwrap();
    let rows = client
        .query(
            "SELECT a.application_name, s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.application_name LIKE 'media-ha%'",
            &[],
        )
        .await
        .unwrap();
    let seen: Vec<(String, bool)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(
        seen.iter().any(|(app, _)| app == "media-ha/events"),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|(_, ssl)| *ssl),
        "every media-ha connection is encrypted: {seen:?}"
    );
    drop(client);

    let wrong = url.replace("ca.pem", "other.pem");
    let refused = PgStore::connect(PgStoreConfig::from_url(&wrong).unwrap()).await;
    assert!(
        refused.is_err(),
        "a server certificate from another CA is refused"
    );
}
