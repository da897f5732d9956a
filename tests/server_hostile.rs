//! Hostile clients against the reference server: path traversal in every path parameter,
//! forged and stale tokens, malformed and oversized bodies, absurd paging, slowloris sockets,
//! a flood of transcodes, and secrets that must never reach the stores or the logs.
//!
//! The rule each test checks (issue 7): client input gets a 4xx with a message, never a 5xx
//! and never a panic; and the server keeps serving everybody else meanwhile. Requests that no
//! client library would send (unnormalised `../`, NUL, dribbled headers) go over raw TCP.

use media_ha_server as server;

use ha_test_support::in_process as common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// What hostile path parameters look like on the wire.
const HOSTILE: &[&str] = &[
    "../../../../etc/passwd",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "..%5C..%5C..%5Cetc%5Cpasswd",
    "..\\..\\..\\etc\\passwd",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "C:%5Cwindows%5Cwin.ini",
    "0123456789abcdef0123456789abcdef%00.ts",
    "abc%00def",
    "%00",
    "....%2F%2F....%2F%2Fetc%2Fpasswd",
    "%c0%ae%c0%ae%2fetc%2fpasswd",
];

/// Every path parameter of the API, with `{X}` the parameter under attack (the others filled
/// with the ids of real things, so the hostile one is what the server must judge).
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/Items/{X}"),
    ("GET", "/Users/{X}"),
    ("GET", "/Users/{X}/Items"),
    ("GET", "/Users/{X}/Views"),
    ("GET", "/Users/{U}/Items/{X}"),
    ("GET", "/Videos/{X}/stream"),
    ("GET", "/Videos/{X}/stream.mp4"),
    ("GET", "/Videos/{I}/{X}"),
    ("GET", "/Audio/{X}/stream"),
    ("GET", "/Items/{X}/Download"),
    ("GET", "/Videos/{X}/master.m3u8"),
    ("GET", "/Videos/{X}/main.m3u8"),
    ("GET", "/Videos/{X}/hls1/main/0.ts"),
    ("GET", "/Videos/{I}/hls1/main/{X}"),
    ("POST", "/Items/{X}/PlaybackInfo"),
    ("POST", "/Users/{U}/PlayedItems/{X}"),
    ("POST", "/UserPlayedItems/{X}"),
    ("POST", "/Users/{U}/FavoriteItems/{X}"),
];

fn auth_header(token: &str) -> String {
    format!(
        r#"Authorization: MediaBrowser Client="hostile", Device="t", DeviceId="hostile-1", Version="1", Token="{token}""#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_in_every_path_parameter() {
    let (srv, _data) = start_fresh().await;
    let mut c = Client::new(&srv);
    let auth = c.login(ADMIN, ADMIN_PW).await;
    let user = auth["User"]["Id"].as_str().unwrap().to_owned();
    let (item, _) = find_item(&c, "Alpha").await;
    let token = c.token.clone().unwrap();
    let addr = srv.local_addr();
    let mut tried = 0;
    let mut by_status = std::collections::BTreeMap::<String, u32>::new();
    for (method, template) in ROUTES {
        for attack in HOSTILE {
            let path = template
                .replace("{U}", &user)
                .replace("{I}", &item)
                .replace("{X}", attack);
            let head = format!(
                "{method} {path} HTTP/1.1\r\nHost: t\r\n{}\r\nContent-Length: 0",
                auth_header(&token)
            );
            let reply = raw::request(addr, &head, Duration::from_secs(20)).await;
            let status = reply
                .status
                .unwrap_or_else(|| panic!("no reply to {method} {path}: {:?}", reply.text));
            assert!(
                (400..500).contains(&status),
                "{method} {path} -> {status}: {}",
                reply.text
            );
            assert!(
                !reply.text.contains("root:") && !reply.text.contains("[fonts]"),
                "{method} {path} leaked a file: {}",
                reply.text
            );
            *by_status.entry(status.to_string()).or_default() += 1;
            tried += 1;
        }
    }
    // Without credentials the answer is 401 before any parameter is looked at.
    let head = format!("GET /Videos/{}/stream HTTP/1.1\r\nHost: t", HOSTILE[1]);
    let reply = raw::request(addr, &head, Duration::from_secs(20)).await;
    assert_eq!(reply.status, Some(401), "{}", reply.text);
    println!("path traversal: {tried} hostile requests over {} routes, statuses {by_status:?}, 0 leaks, 0 5xx", ROUTES.len());
    // The server still serves the real thing.
    let (status, _) = c.get(&format!("/Items/{item}")).await;
    assert_eq!(status, StatusCode::OK);
    srv.shutdown(GRACE).await;
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens() {
    let (srv, _data) = start_fresh().await;
    let mut admin = Client::new(&srv);
    let auth = admin.login(ADMIN, ADMIN_PW).await;
    let admin_id = auth["User"]["Id"].as_str().unwrap().to_owned();
    let (item, _) = find_item(&admin, "Alpha").await;
    let (status, _) = admin
        .post(
            "/Users/New",
            json!({ "Name": "mallory", "Password": "m-pw" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Forged: random strings, the right shape, huge, with quotes and separators.
    let real = admin.token.clone().unwrap();
    let mut flipped = real.clone().into_bytes();
    flipped[0] = if flipped[0] == b'a' { b'b' } else { b'a' };
    let forged = [
        "x".to_owned(),
        "0".repeat(real.len()),
        String::from_utf8(flipped).unwrap(),
        "A".repeat(60_000),
        r#"abc", Token="def"#.to_owned(),
        "' OR '1'='1".to_owned(),
    ];
    for token in &forged {
        let mut c = Client::new(&srv);
        c.token = Some(token.clone());
        let (status, body) = c.get("/Users/Me").await;
        assert!(
            status == StatusCode::UNAUTHORIZED
                || status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "{} -> {status} {body}",
            &token[..token.len().min(40)]
        );
        let resp = c
            .http
            .get(c.url(&format!(
                "/Users/Me?api_key={}",
                &token[..token.len().min(2000)]
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }

    // Expired: signed out, then reused in every place a token may be carried.
    let mut m = Client::new(&srv);
    m.login("mallory", "m-pw").await;
    let stale = m.token.clone().unwrap();
    assert_eq!(
        m.post("/Sessions/Logout", json!({})).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(m.get("/Users/Me").await.0, StatusCode::UNAUTHORIZED);
    for (name, value) in [
        ("X-Emby-Token", stale.clone()),
        ("X-MediaBrowser-Token", stale.clone()),
    ] {
        let resp = m
            .http
            .get(m.url("/Users/Me"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
    let resp = m
        .http
        .get(m.url(&format!("/Videos/{item}/stream?api_key={stale}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // Another user's: mallory signed in again is refused the admin's data (403), and her
    // token does not become the admin's by naming the admin in the path or query.
    m.login("mallory", "m-pw").await;
    for path in [
        format!("/Users/{admin_id}"),
        format!("/Users/{admin_id}/Items"),
        format!("/Users/{admin_id}/Items/{item}"),
        format!("/Users/{admin_id}/Views"),
        format!("/Items?userId={admin_id}"),
        format!("/Items/{item}?UserId={admin_id}"),
    ] {
        assert_eq!(m.get(&path).await.0, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(
        m.post(&format!("/Users/{admin_id}/PlayedItems/{item}"), json!({}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        m.post("/Users/New", json!({ "Name": "eve", "Password": "x" }))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    srv.shutdown(GRACE).await;
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let (srv, _data) = start_fresh().await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let (item, _) = find_item(&c, "Alpha").await;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(50_000), "}".repeat(50_000));
    let bodies: Vec<(&str, String)> = vec![
        ("not JSON", "{not json".into()),
        ("an array", "[1,2,3]".into()),
        ("a string", r#""Username""#.into()),
        ("wrong types", r#"{"Username": 5, "Pw": []}"#.into()),
        ("nested 100k deep", deep),
        ("objects nested 50k deep", deep_object),
        (
            "a lone surrogate",
            r#"{"Username": "\ud800", "Pw": "x"}"#.into(),
        ),
        (
            "a number too big",
            r#"{"ItemId": "x", "PositionTicks": 1e400}"#.into(),
        ),
        ("truncated", r#"{"Username": "adm"#.into()),
    ];
    for path in [
        "/Users/AuthenticateByName",
        "/Sessions/Playing/Progress",
        "/Users/New",
    ] {
        for (what, body) in &bodies {
            let (status, reply) = c.post_raw(path, body).await;
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{path} with {what}: {reply}"
            );
        }
    }
    // Invalid UTF-8 and a body that is all NUL bytes.
    for bytes in [vec![b'{', 0xff, 0xfe, b'}'], vec![0u8; 1000]] {
        let resp = c
            .authed(c.http.post(c.url("/Users/AuthenticateByName")))
            .header("Content-Type", "application/json")
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
    // Negative and absurd positions in a playback report.
    let (status, _) = c
        .post(
            "/Sessions/Playing/Progress",
            json!({ "ItemId": item, "PositionTicks": -5 }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = c
        .post(
            "/Sessions/Playing/Progress",
            json!({ "ItemId": item, "PositionTicks": i64::MAX }),
        )
        .await;
    assert!(status.is_success(), "{status}");

    // Oversized: declared (refused before reading), chunked (refused while reading), and on a
    // route that reads the body itself (PlaybackInfo).
    let big = format!(r#"{{"Username": "{}"}}"#, "x".repeat(3 << 20));
    for path in [
        "/Users/AuthenticateByName".to_owned(),
        format!("/Items/{item}/PlaybackInfo"),
        "/Sessions/Playing".to_owned(),
    ] {
        let (status, _) = c.post_raw(&path, &big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: t\r\n{}\r\nContent-Type: application/json",
            auth_header(c.token.as_deref().unwrap())
        );
        let reply = raw::chunked_request(srv.local_addr(), &head, 64 * 1024, 40).await;
        assert_eq!(reply.status, Some(413), "{path} chunked: {}", reply.text);
    }
    let head = "POST /Users/AuthenticateByName HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 99999999999";
    let reply = raw::request(srv.local_addr(), head, Duration::from_secs(20)).await;
    assert_eq!(reply.status, Some(413), "{}", reply.text);
    assert_eq!(c.get("/Users/Me").await.0, StatusCode::OK);
    srv.shutdown(GRACE).await;
}

#[tokio::test]
async fn huge_and_negative_paging() {
    let (srv, _data) = start_fresh().await;
    let mut c = Client::new(&srv);
    let auth = c.login(ADMIN, ADMIN_PW).await;
    let user = auth["User"]["Id"].as_str().unwrap().to_owned();
    let values = [
        "0",
        "1",
        "2147483647",
        "2147483648",
        "4294967295",
        "4294967296",
        "18446744073709551616",
        "99999999999999999999999",
        "-1",
        "-2147483648",
        "1e9",
        "NaN",
        "0x10",
        "%00",
        "+1",
        "1.5",
    ];
    let mut ok = 0;
    let mut bad = 0;
    for v in values {
        for path in [
            format!("/Items?Recursive=true&Limit={v}"),
            format!("/Items?Recursive=true&StartIndex={v}"),
            format!("/Items?Recursive=true&StartIndex={v}&Limit={v}"),
            format!("/Users/{user}/Items?Recursive=true&StartIndex={v}&Limit={v}"),
            format!("/Users/{user}/Items/Resume?StartIndex={v}&Limit={v}"),
            format!("/Users/{user}/Items/Latest?Limit={v}"),
            format!("/Sessions?ActiveWithinSeconds={v}"),
        ] {
            let (status, body) = c.get(&path).await;
            match status {
                StatusCode::OK => {
                    ok += 1;
                    if let Some(items) = body.get("Items").and_then(|i| i.as_array()) {
                        let total = body["TotalRecordCount"].as_u64().unwrap();
                        assert!(items.len() as u64 <= total, "{path}: {body}");
                    }
                }
                StatusCode::BAD_REQUEST => bad += 1,
                other => panic!("{path} -> {other}: {body}"),
            }
        }
    }
    println!("paging: {ok} answered 200 (clamped), {bad} refused 400, 0 other");
    srv.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off_while_others_are_served() {
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &media_dir());
    let header_timeout = Duration::from_secs(2);
    let request_timeout = Duration::from_secs(4);
    let body_timeout = Duration::from_secs(3);
    config.header_read_timeout = header_timeout;
    config.request_timeout = request_timeout;
    config.body_read_timeout = body_timeout;
    let srv = start_config(config).await;
    let addr = srv.local_addr();
    let slack = Duration::from_secs(8);

    // A well-behaved client keeps asking meanwhile; every answer must come.
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let base = srv.base_url();
    let prober = tokio::spawn(async move {
        let http = reqwest::Client::new();
        let (mut served, mut slowest) = (0u32, Duration::ZERO);
        while !*stop_rx.borrow() {
            let t = Instant::now();
            let resp = http
                .get(format!("{base}/health"))
                .send()
                .await
                .expect("served");
            assert_eq!(resp.status(), StatusCode::OK);
            slowest = slowest.max(t.elapsed());
            served += 1;
            let _ = tokio::time::timeout(Duration::from_millis(100), stop_rx.changed()).await;
        }
        (served, slowest)
    });

    let started = Instant::now();
    let silent = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        raw::wait_closed(&mut s, Instant::now(), header_timeout + slack).await
    });
    let mut dribblers = Vec::new();
    for i in 0..4 {
        dribblers.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            let head = format!("GET /health HTTP/1.1\r\nHost: t\r\nX-Slow-{i}: ");
            let t = Instant::now();
            raw::dribble(
                &mut s,
                head.as_bytes(),
                Duration::from_millis(250),
                t,
                header_timeout + slack,
            )
            .await
        }));
    }
    // A complete head, then a body that never finishes.
    let unfinished = tokio::spawn(async move {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"POST /Users/AuthenticateByName HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"Username\": \"adm")
            .await
            .unwrap();
        raw::wait_closed(&mut s, Instant::now(), body_timeout + slack).await
    });

    let (silent_closed, silent_text) = silent.await.unwrap();
    let silent_closed =
        silent_closed.unwrap_or_else(|| panic!("a silent socket stayed open: {silent_text:?}"));
    let mut dribble_closed = Vec::new();
    for d in dribblers {
        let (closed, text) = d.await.unwrap();
        let closed = closed.unwrap_or_else(|| panic!("a slowloris socket stayed open: {text:?}"));
        assert!(
            !text.starts_with("HTTP/1.1 200"),
            "a dribbled head was served: {text}"
        );
        dribble_closed.push(closed);
    }
    let (body_closed, body_text) = unfinished.await.unwrap();
    let body_closed =
        body_closed.unwrap_or_else(|| panic!("an unfinished body kept its socket: {body_text:?}"));
    assert!(
        body_text.starts_with("HTTP/1.1 408"),
        "an unfinished body is the client's fault: 408, not 503: {body_text}"
    );
    let _ = stop_tx.send(true);
    let (served, slowest) = prober.await.unwrap();
    let worst_dribble = dribble_closed.iter().max().copied().unwrap_or_default();
    println!(
        "slowloris: header timeout {header_timeout:?}: silent socket closed after {silent_closed:.2?}, 4 dribbling sockets after {:.2?}..{worst_dribble:.2?}; body timeout {body_timeout:?}: unfinished body closed after {body_closed:.2?} (reply: {:?}); meanwhile {served} requests served, slowest {slowest:.2?}; total {:.2?}",
        dribble_closed.iter().min().copied().unwrap_or_default(),
        body_text.lines().next().unwrap_or(""),
        started.elapsed()
    );
    assert!(silent_closed >= header_timeout.saturating_sub(Duration::from_millis(500)));
    assert!(worst_dribble <= header_timeout + slack);
    assert!(body_closed <= body_timeout + slack);
    assert!(served >= 3, "only {served} requests served meanwhile");
    srv.shutdown(GRACE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_plays_is_stopped_by_the_per_user_limit() {
    let data = tempfile::tempdir().unwrap();
    let media = data.path().join("media");
    std::fs::create_dir_all(&media).unwrap();
    // Long enough that the first job still runs while the flood arrives.
    make_clip(
        &media.join("Long.mkv"),
        30,
        &["-c:v", "mpeg2video", "-c:a", "mp2", "-f", "matroska"],
    );
    let mut config = test_config(&data.path().join("srv"), &media);
    config.max_transcodes_per_user = 1;
    let srv = start_config(config).await;
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let (item, _) = find_item(&c, "Long").await;
    let (status, _) = c
        .post("/Users/New", json!({ "Name": "bob", "Password": "b" }))
        .await;
    assert_eq!(status, StatusCode::OK);

    // Ten different renditions at once (each its own job), all by one user.
    let token = c.token.clone().unwrap();
    let mut flood = Vec::new();
    for i in 0..10u32 {
        let c = Client {
            http: c.http.clone(),
            base: c.base.clone(),
            token: Some(token.clone()),
        };
        let path = format!(
            "/Videos/{item}/hls1/main/0.ts?VideoBitrate={}&PlaySessionId=flood{i}",
            400_000 + i * 10_000
        );
        flood.push(tokio::spawn(async move { c.get_text(&path).await }));
    }
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    let mut refusal = String::new();
    for f in flood {
        let (status, body) = f.await.unwrap();
        assert!(!status.is_server_error(), "{status}: {body}");
        if status == StatusCode::TOO_MANY_REQUESTS {
            refusal = body;
        }
        *statuses.entry(status.as_u16()).or_default() += 1;
    }
    println!(
        "flood: 10 concurrent renditions by one user (limit 1): {statuses:?}; refusal: {refusal:?}"
    );
    assert_eq!(statuses.get(&200), Some(&1), "{statuses:?}");
    assert_eq!(statuses.get(&429), Some(&9), "{statuses:?}");
    assert!(refusal.contains("transcode"), "{refusal}");
    // The limit is per user: another user still plays.
    let mut b = Client::new(&srv);
    b.login("bob", "b").await;
    let (status, body) = b
        .get_text(&format!(
            "/Videos/{item}/hls1/main/0.ts?VideoBitrate=300000"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    srv.shutdown(GRACE).await;
}

/// Every value under the Redis keys of `namespace`, as text.
fn redis_dump(url: &str, namespace: &str) -> String {
    let cli = |args: &[&str]| -> String {
        let out = Command::new("redis-cli")
            .args(["-u", url, "--no-raw"])
            .args(args)
            .output()
            .expect("redis-cli");
        assert!(out.status.success(), "redis-cli {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let keys = cli(&["--scan", "--pattern", &format!("*{namespace}*")]);
    let mut dump = String::new();
    for key in keys
        .lines()
        .map(|k| k.trim().trim_matches('"'))
        .filter(|k| !k.is_empty())
    {
        let value = match cli(&["TYPE", key]).trim() {
            "string" => cli(&["GET", key]),
            "hash" => cli(&["HGETALL", key]),
            "zset" => cli(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
            "set" => cli(&["SMEMBERS", key]),
            "list" => cli(&["LRANGE", key, "0", "-1"]),
            "stream" => cli(&["XRANGE", key, "-", "+"]),
            other => format!("<{other}>"),
        };
        dump.push_str(&format!("{key} => {value}\n"));
    }
    dump
}

/// Every row of the PostgreSQL schema `namespace`, as SQL text.
fn postgres_dump(url: &str, namespace: &str) -> String {
    let out = Command::new("pg_dump")
        .args(["--data-only", "--schema", namespace, url])
        .output()
        .expect("pg_dump");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256_hex(s: &str) -> String {
    media_ha::core::auth::hash_token(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_stores_and_logs() {
    let logs = logs::capture();
    let data = tempfile::tempdir().unwrap();
    let namespace = ha_testkit::unique("hostile");
    let redis = ha_testkit::redis_url().await;
    let postgres = ha_testkit::postgres_url().await;
    let mut config = test_config(data.path(), &media_dir());
    config.namespace = Some(namespace.clone());
    config.stores = server::config::StoreUrls {
        redis: Some(redis.clone()),
        postgres: Some(postgres.clone()),
    };
    let srv = start_config(config).await;
    let nonce = &ha_testkit::unique("s")[..];
    let password = format!("Pw-{nonce}-secret");
    let wrong = format!("Wrong-{nonce}-guess");

    let mut admin = Client::new(&srv);
    admin.login(ADMIN, ADMIN_PW).await;
    let (status, _) = admin
        .post(
            "/Users/New",
            json!({ "Name": "carol", "Password": password }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut carol = Client::new(&srv);
    assert_eq!(
        carol.login_status("carol", &wrong).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        carol.login_status(&wrong, &password).await,
        StatusCode::UNAUTHORIZED
    );
    carol.login("carol", &password).await;
    let token = carol.token.clone().unwrap();
    // The token travels in a header and in a query string; both reach the server's logs path.
    assert_eq!(carol.get("/Users/Me").await.0, StatusCode::OK);
    let resp = carol
        .http
        .get(carol.url(&format!("/Items?api_key={token}&Recursive=true")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Failures that carry the secrets: a broken body with the password in it, an unknown
    // route with the token in its query.
    let (status, _) = carol
        .post_raw(
            "/Users/AuthenticateByName",
            &format!(r#"{{"Username": "carol", "Pw": "{password}""#),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        carol
            .get(&format!("/No/Such/Route?api_key={token}"))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // The stores hold a KDF hash of the password and the SHA-256 of the token, never either.
    let pg = postgres_dump(&postgres, &namespace);
    let rd = redis_dump(&redis, &namespace);
    assert!(pg.contains("carol"), "the dump reads the right schema");
    assert!(
        pg.contains("$argon2id$"),
        "passwords are stored as Argon2id hashes"
    );
    // Sessions live in PostgreSQL when both stores are given (Redis alone keeps them itself).
    let hash = sha256_hex(&token);
    assert!(
        pg.contains(&hash) || rd.contains(&hash),
        "sessions are keyed by the token's hash"
    );
    for (store, dump) in [("postgres", &pg), ("redis", &rd)] {
        for secret in [&password, &wrong, &token, &ADMIN_PW.to_owned()] {
            assert!(
                !dump.contains(secret.as_str()),
                "{store} holds a secret in clear text"
            );
        }
    }

    carol.post("/Sessions/Logout", json!({})).await;
    assert_eq!(carol.get("/Users/Me").await.0, StatusCode::UNAUTHORIZED);
    srv.shutdown(GRACE).await;

    let text = logs.text();
    assert!(
        text.contains("signed in"),
        "the capture sees the server's logs"
    );
    assert!(
        text.contains("/Users/AuthenticateByName"),
        "requests are logged"
    );
    for secret in [&password, &wrong, &token, &ADMIN_PW.to_owned()] {
        let at = text.find(secret.as_str());
        assert!(
            at.is_none(),
            "a secret reached the logs: {}",
            at.map(|i| &text[i.saturating_sub(300)..(i + 100).min(text.len())])
                .unwrap_or("")
        );
    }
    println!(
        "secrets: {} bytes of Postgres rows, {} bytes of Redis values, {} bytes of trace-level logs searched; no password or token found",
        pg.len(),
        rd.len(),
        text.len()
    );
}
