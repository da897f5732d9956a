//! `PostgresServer`: initdb, start, kill (crash), restart with data kept, and drop.

use std::time::Duration;

use ha_testkit::PostgresServer;
use tokio_postgres::{Client, NoTls};

async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

async fn answers(url: &str, within: Duration) -> bool {
    let attempt = async { connect(url).await?.simple_query("SELECT 1").await };
    matches!(tokio::time::timeout(within, attempt).await, Ok(Ok(_)))
}

fn process_exists(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[tokio::test]
async fn starts_with_trust_auth_on_loopback() {
    let server = PostgresServer::start().await;
    assert_eq!(
        server.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", server.port())
    );
    let client = connect(&server.url()).await.unwrap();
    let row = client
        .query_one(
            "SELECT current_user::text, current_setting('listen_addresses')",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "postgres");
    assert_eq!(row.get::<_, String>(1), "127.0.0.1");
    let superuser: String = client
        .query_one("SHOW is_superuser", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(superuser, "on");
}

#[tokio::test]
async fn kill_then_restart_keeps_committed_data() {
    let mut server = PostgresServer::start().await;
    let (port, url, old_pid) = (server.port(), server.url(), server.pid());
    let client = connect(&url).await.unwrap();
    client
        .batch_execute("CREATE TABLE t (v int); INSERT INTO t VALUES (42);")
        .await
        .unwrap();

    server.kill();
    assert!(!server.is_running());
    assert!(!process_exists(old_pid));
    assert!(
        client.simple_query("SELECT 1").await.is_err(),
        "the old connection must see the crash"
    );
    assert!(!answers(&url, Duration::from_millis(500)).await);

    server.restart().await;
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), old_pid);
    let client = connect(&url).await.unwrap();
    let v: i32 = client
        .query_one("SELECT v FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(v, 42, "committed data survives a SIGKILL");
}

#[tokio::test]
async fn stop_restart_and_drop_removes_everything() {
    let mut server = PostgresServer::start().await;
    let url = server.url();
    let data_dir = server.data_dir();
    assert!(data_dir.join("PG_VERSION").exists());
    server.stop();
    assert!(!answers(&url, Duration::from_millis(500)).await);
    server.restart().await;
    assert!(answers(&url, Duration::from_secs(5)).await);
    let pid = server.pid();
    drop(server);
    assert!(!process_exists(pid));
    assert!(!data_dir.exists(), "temp dir removed on drop");
    assert!(!answers(&url, Duration::from_millis(500)).await);
}
