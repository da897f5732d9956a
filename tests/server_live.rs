//! The live channel (`/socket`) as Jellyfin clients use it: credentials, keep-alive, the
//! session list, and — on two replicas sharing Redis and PostgreSQL — a change made through
//! one replica reaching a socket held by the other (`UserDataChanged`, remote control).
//! Hostile sockets (oversized frames, floods, too many sockets) are closed or refused and the
//! server keeps answering.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ha_test_support::in_process::*;
use media_ha_server as server;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(15);

fn ws_url(base: &str, token: &str) -> String {
    format!(
        "{}/socket?api_key={token}&deviceId=test-device",
        base.replacen("http://", "ws://", 1)
    )
}

async fn connect(base: &str, token: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(ws_url(base, token))
        .await
        .expect("socket opens");
    socket
}

/// The next JSON message whose type is `kind` (others are skipped), within [`WAIT`].
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    let m: Value = serde_json::from_str(text.as_str()).expect("JSON message");
                    if m["MessageType"] == kind {
                        return m;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("socket ended while waiting for {kind}: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {kind} within {WAIT:?}"))
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// How the server ended the socket: its close code, or `None` when the connection just ended.
async fn closed(socket: &mut Socket) -> Option<CloseCode> {
    tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the server closes the socket")
}

fn namespace(prefix: &str) -> String {
    ha_testkit::unique(prefix)
        .replace('-', "_")
        .to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mark_through_one_replica_reaches_a_socket_on_the_other() {
    let ns = namespace("live");
    let (data_a, data_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut replicas = Vec::new();
    for (data, node) in [(data_a.path(), "node-a"), (data_b.path(), "node-b")] {
        let mut config = test_config(data, &media_dir());
        config.node_id = node.into();
        config.namespace = Some(ns.clone());
        config.stores = server::config::StoreUrls {
            redis: Some(ha_testkit::redis_url().await),
            postgres: Some(ha_testkit::postgres_url().await),
        };
        replicas.push(start_config(config).await);
    }
    let (a, b) = (&replicas[0], &replicas[1]);
    let mut on_a = Client::new(a);
    let auth = on_a.login(ADMIN, ADMIN_PW).await;
    let token = on_a.token.clone().unwrap();
    let user = auth["User"]["Id"].as_str().unwrap().to_owned();
    let session = auth["SessionInfo"]["Id"].as_str().unwrap().to_owned();
    let mut on_b = Client::new(b);
    on_b.token = Some(token.clone());
    let (alpha, _) = find_item(&on_a, "Alpha").await;

    // The socket on A: ForceKeepAlive first, KeepAlive answered.
    let mut socket = connect(&a.base_url(), &token).await;
    assert_eq!(
        next_of(&mut socket, "ForceKeepAlive").await["Data"],
        json!(60)
    );
    send(&mut socket, json!({ "MessageType": "KeepAlive" })).await;
    next_of(&mut socket, "KeepAlive").await;
    assert_eq!(a.state().live.hub.len(), 1);

    // Marked played through B: UserDataChanged on A's socket.
    let (status, _) = on_b
        .post(&format!("/Users/{user}/PlayedItems/{alpha}"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let changed = next_of(&mut socket, "UserDataChanged").await;
    assert_eq!(changed["Data"]["UserId"], json!(user));
    let data = &changed["Data"]["UserDataList"][0];
    assert_eq!(data["ItemId"], json!(alpha));
    assert_eq!(data["Played"], json!(true));

    // Progress reported through B: the resume point reaches A too.
    let (status, _) = on_b
        .post(
            "/Sessions/Playing/Progress",
            json!({ "ItemId": alpha, "PositionTicks": 12_345_678 }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let changed = next_of(&mut socket, "UserDataChanged").await;
    assert_eq!(
        changed["Data"]["UserDataList"][0]["PlaybackPositionTicks"],
        json!(12_345_678)
    );

    // The session list on request, then remote control through B reaches the socket on A.
    send(
        &mut socket,
        json!({ "MessageType": "SessionsStart", "Data": "0,1500" }),
    )
    .await;
    let sessions = next_of(&mut socket, "Sessions").await;
    assert!(sessions["Data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["Id"] == json!(session)));
    let (status, _) = on_b
        .post(
            &format!("/Sessions/{session}/Playing/Seek?seekPositionTicks=50000000"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let command = next_of(&mut socket, "Playstate").await;
    assert_eq!(command["Data"]["Command"], "Seek");
    assert_eq!(command["Data"]["SeekPositionTicks"], json!(50_000_000));
    let (status, _) = on_b
        .post(
            &format!("/Sessions/{session}/Message"),
            json!({ "Header": "Hi", "Text": "from B" }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let message = next_of(&mut socket, "GeneralCommand").await;
    assert_eq!(message["Data"]["Name"], "DisplayMessage");
    assert_eq!(message["Data"]["Arguments"]["Text"], "from B");
    let (status, _) = on_b
        .post(
            "/Sessions/0123456789abcdef0123456789abcdef/Playing/Pause",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = on_b
        .post(&format!("/Sessions/{session}/Playing/Explode"), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    socket.close(None).await.unwrap();
    for srv in replicas {
        srv.shutdown(GRACE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sockets_are_closed_and_the_server_keeps_answering() {
    let (srv, _data) = start_fresh().await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let token = c.token.clone().unwrap();
    let base = srv.base_url();

    // No token, a forged token: refused before the upgrade.
    for url in [
        format!("{}/socket", base.replacen("http://", "ws://", 1)),
        ws_url(&base, "not-a-token"),
    ] {
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), StatusCode::UNAUTHORIZED)
            }
            other => panic!("expected 401, got {other:?}"),
        }
    }

    // A frame over the limit closes the connection.
    let mut socket = connect(&base, &token).await;
    next_of(&mut socket, "ForceKeepAlive").await;
    let huge = format!(
        r#"{{"MessageType":"KeepAlive","Data":"{}"}}"#,
        "x".repeat(200_000)
    );
    let _ = socket.send(Message::Text(huge.into())).await;
    let code = closed(&mut socket).await;
    assert!(matches!(code, None | Some(CloseCode::Size)), "{code:?}");

    // A flood closes the connection.
    let mut socket = connect(&base, &token).await;
    next_of(&mut socket, "ForceKeepAlive").await;
    let mut sent = 0;
    for _ in 0..500 {
        if socket
            .send(Message::Text(r#"{"MessageType":"SessionsStop"}"#.into()))
            .await
            .is_err()
        {
            break;
        }
        sent += 1;
    }
    assert!(sent > 40, "the burst allowance was usable ({sent})");
    assert_eq!(closed(&mut socket).await, Some(CloseCode::Policy));

    // Too many sockets for one session: the next is refused with 429.
    let mut held = Vec::new();
    for _ in 0..8 {
        held.push(connect(&base, &token).await);
    }
    match tokio_tungstenite::connect_async(ws_url(&base, &token)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS)
        }
        other => panic!("expected 429, got {other:?}"),
    }
    for mut s in held {
        s.close(None).await.unwrap();
    }

    // The server still answers, and a well-behaved socket still works.
    let (status, _) = c.get("/System/Info").await;
    assert_eq!(status, StatusCode::OK);
    let mut socket = connect(&base, &token).await;
    next_of(&mut socket, "ForceKeepAlive").await;
    send(&mut socket, json!({ "MessageType": "KeepAlive" })).await;
    next_of(&mut socket, "KeepAlive").await;

    // Shutdown closes it with 1012 (service restart): the client reconnects elsewhere.
    let shutdown = tokio::spawn(srv.shutdown(GRACE));
    assert_eq!(closed(&mut socket).await, Some(CloseCode::Restart));
    shutdown.await.unwrap();
}

/// The live channel through the load balancers the README ships (`deploy/load-balancer/`):
/// a WebSocket needs the `Upgrade`/`Connection` headers passed on, which nginx drops unless
/// told to (the web client then falls back to polling and never hears `UserDataChanged`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_channel_works_through_the_shipped_load_balancers() {
    use ha_test_support::browser::haproxy::{Haproxy, LbSettings};
    use ha_test_support::browser::nginx::{Nginx, NginxRetry};
    use ha_test_support::cluster::replica::Endpoint;

    let (srv, _data) = start_fresh().await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let token = c.token.clone().unwrap();
    let replicas = [Endpoint {
        node: "node-a".into(),
        base: srv.base_url(),
    }];
    let nginx = Nginx::start(&replicas, NginxRetry::Recommended).await;
    let haproxy = Haproxy::start(&replicas, LbSettings::recommended()).await;

    for (balancer, base) in [("nginx", &nginx.base), ("haproxy", &haproxy.base)] {
        let (mut socket, _) = tokio_tungstenite::connect_async(ws_url(base, &token))
            .await
            .unwrap_or_else(|e| panic!("the socket opens through {balancer}: {e}"));
        assert_eq!(
            next_of(&mut socket, "ForceKeepAlive").await["Data"],
            json!(60),
            "through {balancer}"
        );
        send(&mut socket, json!({ "MessageType": "KeepAlive" })).await;
        next_of(&mut socket, "KeepAlive").await;
        socket.close(None).await.unwrap();
    }
    srv.shutdown(GRACE).await;
}

/// Second attack pass (issue 20): a remote-control message is delivered to every socket of
/// its session and queued there until read; a client sending ~1 MB messages to its own
/// session's unread sockets held ~380 MB of a replica with 4 sessions. A command's data is now
/// capped (413 above it) and what stays queued per socket is bounded in bytes (`live/hub.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_remote_control_message_is_refused_and_a_small_one_delivered() {
    let (srv, _data) = start_fresh().await;
    let mut c = Client::new(&srv);
    let auth = c.login(ADMIN, ADMIN_PW).await;
    let session = auth["SessionInfo"]["Id"].as_str().unwrap().to_owned();
    let token = c.token.clone().unwrap();
    let mut socket = connect(&srv.base_url(), &token).await;
    next_of(&mut socket, "ForceKeepAlive").await;

    let path = format!("/Sessions/{session}/Message");
    let (status, _) = c
        .post(
            &path,
            json!({ "Header": "h", "Text": "x".repeat(1_000_000) }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "a 1 MB message to a session is refused"
    );
    let (status, _) = c
        .post(&path, json!({ "Header": "h", "Text": "y".repeat(30_000) }))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let message = next_of(&mut socket, "GeneralCommand").await;
    assert_eq!(
        message["Data"]["Arguments"]["Text"].as_str().map(str::len),
        Some(30_000),
        "the small message arrives whole, and the big one never came"
    );
    srv.shutdown(GRACE).await;
}
