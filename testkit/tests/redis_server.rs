//! `RedisServer`: start, kill, pause, restart and drop a private redis-server.

use std::time::Duration;

use ha_testkit::RedisServer;

async fn connect(url: &str) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await
}

/// PING over a fresh connection, bounded by `within`.
async fn answers(url: &str, within: Duration) -> bool {
    let attempt = async {
        let mut con = connect(url).await?;
        redis::cmd("PING").query_async::<String>(&mut con).await
    };
    matches!(tokio::time::timeout(within, attempt).await, Ok(Ok(ref s)) if s == "PONG")
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
async fn starts_answers_and_has_no_persistence() {
    let server = RedisServer::start().await;
    assert_eq!(
        server.url(),
        format!("redis://127.0.0.1:{}/", server.port())
    );
    let mut con = connect(&server.url()).await.unwrap();
    let save: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(save, vec!["save".to_owned(), String::new()]);
    let aof: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(aof[1], "no");
}

#[tokio::test]
async fn kill_then_restart_same_port_loses_data() {
    let mut server = RedisServer::start().await;
    let (port, url, old_pid) = (server.port(), server.url(), server.pid());
    let mut con = connect(&url).await.unwrap();
    redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async::<()>(&mut con)
        .await
        .unwrap();

    server.kill();
    assert!(!server.is_running());
    assert!(!process_exists(old_pid));
    assert!(!answers(&url, Duration::from_millis(500)).await);
    assert!(
        redis::cmd("GET")
            .arg("k")
            .query_async::<Option<String>>(&mut con)
            .await
            .is_err(),
        "the old connection must see the crash"
    );

    server.restart().await;
    assert_eq!(server.port(), port);
    assert_ne!(server.pid(), old_pid);
    let mut con = connect(&url).await.unwrap();
    let v: Option<String> = redis::cmd("GET")
        .arg("k")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(v, None, "no persistence: a restart loses every key");
}

#[tokio::test]
async fn pause_stalls_clients_until_resume() {
    let server = RedisServer::start().await;
    let url = server.url();
    server.pause();
    assert!(!answers(&url, Duration::from_millis(300)).await);
    server.resume();
    assert!(answers(&url, Duration::from_secs(5)).await);
}

#[tokio::test]
async fn stop_then_restart_and_drop_cleans_up() {
    let mut server = RedisServer::start().await;
    let url = server.url();
    server.stop();
    assert!(!server.is_running());
    assert!(!answers(&url, Duration::from_millis(500)).await);
    server.restart().await;
    assert!(answers(&url, Duration::from_secs(5)).await);
    // restart() on a running server is a clean stop + start.
    server.restart().await;
    assert!(answers(&url, Duration::from_secs(5)).await);
    let pid = server.pid();
    drop(server);
    assert!(!process_exists(pid));
    assert!(!answers(&url, Duration::from_millis(500)).await);
}

#[tokio::test]
async fn servers_started_together_get_distinct_ports() {
    let (a, b, c) = tokio::join!(
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start()
    );
    assert_ne!(a.port(), b.port());
    assert_ne!(b.port(), c.port());
    assert_ne!(a.port(), c.port());
    for s in [&a, &b, &c] {
        assert!(answers(&s.url(), Duration::from_secs(5)).await);
    }
}
