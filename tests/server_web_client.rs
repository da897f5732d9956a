//! The official Jellyfin web client (jellyfin-web 10.11, unchanged) served at `/web/` and used
//! in Debian's chromium as a person uses it (`tests/web_client/flow.cjs`): sign in, home rows
//! with artwork, the library, an item, play it directly, lower the quality so that it is
//! transcoded (HLS through hls.js), seek forward past the buffer, stop, the resume row with its
//! position, resume from it, mark it played, sign out — on one node, and on two replica processes sharing Redis and
//! PostgreSQL behind HAProxy (round robin, no stickiness), where a socket on each replica
//! receives the browser's played mark whichever replica took it.
//!
//! Checked: every step finished; no page error; no API answer of 400 or more except those
//! listed in [`EXPECTED_ERRORS`] with their reason; what each step saw; the effects through
//! the API with a session of the test's own. Screenshots are kept (the path is printed) and
//! are worth a look: a blank page passes fewer checks than it should.
//!
//! Needs the jellyfin-web fixture, node/npm and chromium (`support/web_client.rs` says where
//! each comes from); fails, never skips, without them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ha_test_support::browser::haproxy::{Haproxy, LbSettings};
use ha_test_support::cluster::replica::Replica;
use ha_test_support::cluster::setup::Shared;
use ha_test_support::in_process::{self, start_config, test_config, GRACE};
use ha_test_support::web_client::{self, Flow};
use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// The film the flow plays: long enough for 10 s direct, 10 s transcoded and a resume.
const FILM: &str = "Alpha";
/// Seconds played directly, then transcoded.
const SECONDS: u32 = 10;
/// Seconds to seek forward in the transcoded stream (the film is 60 s).
const SEEK: u32 = 15;
/// The quality picked in the player (720 kbps, below the film's 2 Mbps: a transcode).
const QUALITY: u64 = 720_000;

/// API answers of 400 or more the flow may see, each with its reason: (method, path and query
/// pattern where `*` stands for anything, status, why).
const EXPECTED_ERRORS: &[(&str, &str, u16, &str)] = &[
    (
        "GET",
        "/Users",
        401,
        "signing out: the settings page may ask for the user list once more after its token is gone",
    ),
    (
        "GET",
        "/Videos/*/hls1/*",
        503,
        "a segment not ready within --segment-wait (a loaded machine transcoding two plays): \
         answered 503 with Retry-After, which hls.js retries (docs/RELIABILITY.md)",
    ),
];

/// Whether `path` matches `pattern` (`*`: any run of characters).
fn matches(pattern: &str, path: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return path == pattern;
    }
    let Some(mut rest) = path.strip_prefix(first) else {
        return false;
    };
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// A library of two films (H.264/AAC in MP4, 640x360 at 2 Mbps): `Alpha` (60 s, played) and
/// `Beta` (5 s, for a second poster in the rows).
fn library() -> PathBuf {
    let dir = ha_test_support::target_tmpdir().join("web-client-media");
    std::fs::create_dir_all(&dir).expect("the library directory");
    let codec: &[&str] = &[
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-b:v",
        "2M",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-f",
        "mp4",
    ];
    for (name, seconds) in [("Alpha.mp4", 60), ("Beta.mp4", 5)] {
        make_big_clip(&dir.join(name), seconds, codec);
    }
    dir
}

/// A clip of testsrc2 at 640x360 (`in_process::make_clip`'s 320x240 compresses below the
/// player's lowest quality step).
fn make_big_clip(target: &Path, seconds: u32, codec: &[&str]) {
    if target.exists() {
        return;
    }
    let tmp = target.with_extension("partial.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string()])
        .args(codec)
        .arg(&tmp)
        .status()
        .expect("the tests need the ffmpeg CLI");
    assert!(status.success(), "ffmpeg failed for {}", target.display());
    std::fs::rename(&tmp, target).expect("the clip is renamed");
}

/// Where this test's screenshots go (printed).
fn shots(test: &str) -> PathBuf {
    let dir = ha_test_support::target_tmpdir()
        .join("web-client-screenshots")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    println!("screenshots: {}", dir.display());
    dir
}

/// One browser flow at a time: two at once on a small CI machine starve the transcodes they
/// both wait for.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn flow(base: &str, user: &str, password: &str, shots: PathBuf) -> Flow {
    Flow {
        base: base.to_owned(),
        user: user.to_owned(),
        password: password.to_owned(),
        film: FILM.to_owned(),
        shots,
        seconds: SECONDS,
        seek_seconds: SEEK,
        quality: QUALITY,
    }
}

/// Everything the flow saw that must hold on one node and on a cluster; the played item's id.
fn check_flow(r: &Value) -> String {
    let summary = || {
        let steps: Vec<String> = r["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                format!(
                    "{} {} ({} ms){}",
                    if s["ok"] == true { "ok  " } else { "FAIL" },
                    s["name"].as_str().unwrap_or("?"),
                    s["ms"],
                    s["error"]
                        .as_str()
                        .map(|e| format!(": {e} at {} (screenshot {})", s["url"], s["screenshot"]))
                        .unwrap_or_default()
                )
            })
            .collect();
        let bad: Vec<String> = api(r)
            .filter(|a| a["status"].as_u64().unwrap_or(0) >= 400)
            .map(|a| {
                let path: String = a["path"]
                    .as_str()
                    .unwrap_or_default()
                    .chars()
                    .take(160)
                    .collect();
                format!("{} {} {path}", a["status"], a["method"])
            })
            .collect();
        format!(
            "steps:\n  {}\nerror: {}\npage errors: {}\nAPI errors: {bad:#?}\nfailed requests: {}\nconsole errors: {}",
            steps.join("\n  "),
            r["error"],
            r["pageErrors"],
            r["failedRequests"],
            r["consoleErrors"]
        )
    };
    let steps = r["steps"].as_array().expect("steps");
    assert!(
        steps.len() == 12 && steps.iter().all(|s| s["ok"] == true) && r["error"].is_null(),
        "the flow did not finish:\n{}",
        summary()
    );
    assert_eq!(r["pageErrors"], Value::Array(vec![]), "{}", summary());
    let unexpected: Vec<&Value> = api(r)
        .filter(|a| a["status"].as_u64().unwrap_or(0) >= 400)
        .filter(|a| {
            !EXPECTED_ERRORS.iter().any(|(method, prefix, status, _)| {
                a["method"] == *method
                    && matches(prefix, a["path"].as_str().unwrap_or_default())
                    && a["status"] == *status
            })
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected API errors: {unexpected:#?}\n{}",
        summary()
    );
    assert_eq!(r["failedRequests"], Value::Array(vec![]), "{}", summary());

    let facts = &r["facts"];
    let item = facts["itemId"].as_str().expect("the item's id").to_owned();
    // Artwork: the home rows drew posters the server answered as images.
    assert!(
        facts["homePosters"]
            .as_array()
            .is_some_and(|p| !p.is_empty()),
        "{facts}"
    );
    let images: Vec<&Value> = api(r)
        .filter(|a| a["path"].as_str().unwrap_or_default().contains("/Images/"))
        .collect();
    assert!(!images.is_empty(), "no artwork was requested");
    for image in &images {
        assert!(image["status"] == 200 || image["status"] == 304, "{image}");
    }
    assert!(
        facts["libraryItems"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i == FILM)),
        "{facts}"
    );
    // Direct play: the file itself, 10 s of it.
    let direct = &facts["direct"];
    assert!(
        direct["src"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!("/Videos/{item}/stream")),
        "{direct}"
    );
    assert!(direct["time"].as_f64().unwrap_or(0.0) >= f64::from(SECONDS));
    assert!(
        played(r, "DirectPlay"),
        "a DirectPlay report: {}",
        r["reports"]
    );
    // Transcoded: HLS from master.m3u8, played on for 10 s.
    assert_eq!(facts["masterStatus"], 200);
    let start = facts["transcodeStart"]["time"].as_f64().unwrap_or(0.0);
    let end = facts["transcoded"]["time"].as_f64().unwrap_or(0.0);
    assert!(end - start >= f64::from(SECONDS), "{facts}");
    let segments = api(r)
        .filter(|a| {
            a["path"]
                .as_str()
                .unwrap_or_default()
                .starts_with(&format!("/Videos/{item}/hls1/"))
                && a["status"] == 200
        })
        .count();
    assert!(segments >= 3, "{segments} HLS segments");
    assert!(
        played(r, "Transcode"),
        "a Transcode report: {}",
        r["reports"]
    );
    // Seeked forward past the buffer: played on from the target through HLS.
    let target = facts["seek"]["target"].as_f64().unwrap_or(f64::MAX);
    let seeked = facts["seeked"]["time"].as_f64().unwrap_or(0.0);
    // The flow seeks from where the transcode check ended, so `target == end + SEEK` is the
    // usual case; a millisecond of slack absorbs the float round trip through JSON.
    assert!(target >= end + f64::from(SEEK) - 0.001, "{facts}");
    assert!(seeked >= target + 2.0, "{facts}");
    // Stopped where it was (past the seek); the resume row showed it and playback resumed
    // from there.
    let stopped = facts["stoppedTicks"]
        .as_i64()
        .expect("stopped at a position");
    assert!(stopped as f64 >= target * 10_000_000.0, "{facts}");
    let progress = facts["resumeRow"]["progress"].as_str().unwrap_or_default();
    let percent: f64 = progress.trim_end_matches('%').parse().unwrap_or(0.0);
    assert!(percent > 0.0 && percent < 100.0, "{facts}");
    let resumed = facts["resumedTicks"]
        .as_i64()
        .expect("resumed at a position");
    assert!(
        (resumed - stopped).abs() <= 10_000_000,
        "resumed at {resumed} ticks, stopped at {stopped}"
    );
    assert_eq!(facts["markStatus"], 200, "{facts}");
    assert_eq!(facts["logoutStatus"], 204, "{facts}");
    item
}

fn api(r: &Value) -> impl Iterator<Item = &Value> {
    r["api"].as_array().into_iter().flatten()
}

/// Whether a playback report with `method` was sent.
fn played(r: &Value, method: &str) -> bool {
    r["reports"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|p| p["playMethod"] == method)
}

/// The effects through the API with a session of the test's own: the item is played, and the
/// browser's token was revoked by its sign-out.
async fn check_effects(base: &str, user: &str, password: &str, item: &str, r: &Value) {
    let mut c = in_process::Client::for_url(base);
    c.login(user, password).await;
    let (status, body) = c.get(&format!("/Items/{item}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["UserData"]["Played"], true, "{body}");
    let token = r["facts"]["token"].as_str().expect("the browser's token");
    let resp = reqwest::Client::new()
        .get(format!("{base}/Users/Me"))
        .header("X-Emby-Token", token)
        .send()
        .await
        .expect("request sent");
    assert_eq!(
        resp.status(),
        StatusCode::UNAUTHORIZED,
        "the signed-out token"
    );
}

#[test]
fn expected_error_patterns() {
    assert!(matches("/Users", "/Users"));
    assert!(!matches("/Users", "/Users/Me"));
    assert!(matches(
        "/Videos/*/hls1/*",
        "/Videos/abc/hls1/main/5.mp4?x=1"
    ));
    assert!(!matches("/Videos/*/hls1/*", "/Videos/abc/stream.mp4"));
    assert!(!matches("/Videos/*/hls1/*", "/Items/abc/hls1/x"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jellyfin_web_signs_in_browses_plays_resumes_and_signs_out() {
    let _one = ONE_AT_A_TIME.lock().await;
    let web = web_client::web_dir();
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &library());
    config.web_dir = Some(web);
    let srv = start_config(config).await;
    let base = srv.base_url();
    let r = web_client::run(&flow(
        &base,
        in_process::ADMIN,
        in_process::ADMIN_PW,
        shots("single-node"),
    ))
    .await;
    let item = check_flow(&r);
    check_effects(&base, in_process::ADMIN, in_process::ADMIN_PW, &item, &r).await;
    srv.shutdown(GRACE).await;
}

/// A socket on one replica with a session of its own, kept alive in the background; the
/// `UserDataChanged` messages it receives.
struct Listener {
    changes: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Listener {
    async fn start(base: &str) -> Self {
        let mut c = in_process::Client::for_url(base);
        c.login(
            ha_test_support::cluster::ADMIN,
            ha_test_support::cluster::ADMIN_PW,
        )
        .await;
        let url = format!(
            "{}/socket?api_key={}&deviceId=web-client-test",
            base.replacen("http://", "ws://", 1),
            c.token.as_deref().expect("a token")
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("the socket opens");
        let changes = Arc::new(Mutex::new(Vec::new()));
        let seen = changes.clone();
        let task = tokio::spawn(async move {
            // The server ends a socket silent for a minute; the flow takes longer.
            let mut keep_alive = tokio::time::interval(Duration::from_secs(20));
            loop {
                tokio::select! {
                    message = socket.next() => match message {
                        Some(Ok(Message::Text(text))) => {
                            let m: Value = serde_json::from_str(text.as_str()).unwrap_or_default();
                            if m["MessageType"] == "UserDataChanged" {
                                ha_core::sync::lock(&seen).push(m);
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                    _ = keep_alive.tick() => {
                        let ping = r#"{"MessageType":"KeepAlive"}"#;
                        if socket.send(Message::Text(ping.into())).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Self { changes, task }
    }

    /// Whether a change marking `item` played arrived within `wait`.
    async fn saw_played(&self, item: &str, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let seen = ha_core::sync::lock(&self.changes).iter().any(|m| {
                m["Data"]["UserDataList"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|d| d["ItemId"] == item && d["Played"] == true)
            });
            if seen || tokio::time::Instant::now() >= deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jellyfin_web_on_two_replicas_behind_haproxy() {
    let _one = ONE_AT_A_TIME.lock().await;
    let web = web_client::web_dir();
    let mut shared = Shared::from_test_env().await;
    shared.extra_args.push("--web-dir".into());
    shared.extra_args.push(web.into_os_string());
    let library = library();
    let http = reqwest::Client::new();
    let mut replicas = vec![
        Replica::start("r1", &shared, &library),
        Replica::start("r2", &shared, &library),
    ];
    for r in &mut replicas {
        r.wait_ready(&http).await;
    }
    let endpoints: Vec<_> = replicas.iter().map(|r| r.endpoint.clone()).collect();
    let proxy = Haproxy::start(&endpoints, LbSettings::recommended()).await;
    // A socket on each replica: whichever one takes the browser's mark, the other's socket
    // hears of it through the cluster's event bus.
    let mut listeners = Vec::new();
    for r in &replicas {
        listeners.push(Listener::start(r.base()).await);
    }

    let r = web_client::run(&flow(
        &proxy.base,
        ha_test_support::cluster::ADMIN,
        ha_test_support::cluster::ADMIN_PW,
        shots("two-replicas"),
    ))
    .await;
    let item = check_flow(&r);
    check_effects(
        &proxy.base,
        ha_test_support::cluster::ADMIN,
        ha_test_support::cluster::ADMIN_PW,
        &item,
        &r,
    )
    .await;

    // Round robin without stickiness: both replicas answered the browser.
    let served = proxy.answers_by_server().await;
    for e in &endpoints {
        assert!(
            served.get(&e.node).copied().unwrap_or(0) > 10,
            "{} answered (almost) none of the browser's requests: {served:?}",
            e.node
        );
    }
    // The played mark reached the sockets on both replicas.
    for (listener, e) in listeners.iter().zip(&endpoints) {
        assert!(
            listener.saw_played(&item, Duration::from_secs(10)).await,
            "no UserDataChanged with {item} played on {}'s socket: {:#?}",
            e.node,
            ha_core::sync::lock(&listener.changes)
        );
    }
    drop(proxy);
}
