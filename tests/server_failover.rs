//! Failover of an HLS transcode between two reference-server *processes*.
//!
//! Two replicas of `examples/reference-server` (built by `cargo test` itself) share one Redis,
//! one PostgreSQL and one transcode directory. A client plays a transcoded 30 s clip by sending
//! its requests round-robin to both replicas; after a few segments the replica that owns the
//! transcode job is killed, and the rest of the stream is fetched from the survivor:
//!
//! * `owner_killed_mid_stream_survivor_finishes_it`: SIGKILL of the owner's whole process group
//!   (server and its worker: a node that dies). The survivor takes the job over once the job
//!   lease (5 s) has expired.
//! * `owner_stopped_mid_stream_hands_over`: SIGTERM of the owner (a rolling restart): it stops
//!   its jobs and releases their leases, so the survivor takes over at once.
//!
//! Both check that every segment arrives, that the stitched stream decodes with every frame
//! once and strictly continuous timestamps, and that a progress report sent to the killed
//! replica is read back from the survivor. The longest stall between two segment responses is
//! printed (`--nocapture`), never asserted against a time.
//!
//! Runs the example binary next to this test binary: `cargo build --features full --example
//! reference-server` first (a plain `cargo test --features full` builds it too). Needs the ffmpeg
//! CLI, and `HA_TEST_REDIS_URL` / `HA_TEST_DATABASE_URL` (see
//! `scripts/services.sh`); each run uses its own Redis prefix and PostgreSQL schema.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use media_ha::core::{JobRecord, JobState, TranscodeJobStore};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::{json, Value};

const ADMIN: &str = "admin";
const ADMIN_PW: &str = "failover-password";
const SECONDS: u32 = 30;
const FPS: u32 = 25;
/// Segments fetched (round-robin) before the owner is killed.
const BEFORE_KILL: usize = 2;
/// Generous bound for anything that should take seconds (start-up, scan, one segment).
const PATIENCE: Duration = Duration::from_secs(60);

/// The reference-server example binary `cargo test` built next to this test binary.
fn server_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // .../debug/deps/server_failover-HASH → .../debug/examples/reference-server
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    let bin = profile_dir.join("examples").join("reference-server");
    assert!(
        bin.is_file(),
        "{} is missing: build it first with `cargo build --features full --example reference-server` \
         (a plain `cargo test --features full` builds it too; `--test server_failover` alone does not)",
        bin.display()
    );
    bin
}

/// A 30 s MPEG-2/MP2 clip in Matroska (the default profile cannot direct-play it), generated
/// once per target directory. 720p so that the transcode is still running when the owner dies.
fn media_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-failover-media");
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("Clip.mkv");
        if !target.exists() {
            let tmp = dir.join("Clip.mkv.partial");
            let status = Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-y"])
                .args(["-f", "lavfi", "-i"])
                .arg(format!("testsrc2=size=1280x720:rate={FPS}"))
                .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
                .args(["-t", &SECONDS.to_string()])
                .args([
                    "-c:v",
                    "mpeg2video",
                    "-q:v",
                    "4",
                    "-c:a",
                    "mp2",
                    "-f",
                    "matroska",
                ])
                .arg(&tmp)
                .status()
                .expect("the test needs the ffmpeg CLI");
            assert!(status.success(), "ffmpeg failed to generate the clip");
            std::fs::rename(&tmp, &target).unwrap();
        }
        dir
    })
    .clone()
}

/// One replica process, in its own process group (server and transcode workers), killed with
/// that group on drop.
struct Replica {
    node: String,
    base: String,
    child: Child,
    log: PathBuf,
    _data: tempfile::TempDir,
}

impl Replica {
    fn start(node: &str, shared: &Shared) -> Self {
        let port = ha_testkit::free_port();
        let data = tempfile::tempdir().unwrap();
        let log = shared.logs.path().join(format!("{node}.log"));
        let out = File::create(&log).unwrap();
        let child = Command::new(server_binary())
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--media")
            .arg(media_dir())
            .arg("--data")
            .arg(data.path())
            .arg("--transcode-dir")
            .arg(shared.transcodes.path())
            .args(["--redis", &shared.redis])
            .args(["--postgres", &shared.postgres])
            .args(["--namespace", &shared.namespace])
            .args(["--node-id", node])
            .args(["--admin-user", ADMIN, "--admin-password", ADMIN_PW])
            .args(["--scan-interval", "0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("start the reference server");
        Self {
            node: node.to_owned(),
            base: format!("http://127.0.0.1:{port}"),
            child,
            log,
            _data: data,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(self.child.id() as i32)
    }

    fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        format!("--- {} log tail ---\n{}", self.node, &text[start..])
    }

    async fn wait_healthy(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(
                !self.exited(),
                "{} exited at start\n{}",
                self.node,
                self.log_tail()
            );
            if let Ok(r) = http.get(format!("{}/health", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} not healthy\n{}",
                self.node,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        // The whole group: an orphaned worker must not outlive the test.
        let _ = killpg(self.pid(), Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What both replicas share.
struct Shared {
    redis: String,
    postgres: String,
    namespace: String,
    transcodes: tempfile::TempDir,
    logs: tempfile::TempDir,
}

/// A Jellyfin-style client that sends the same token to whichever replica it is given.
struct Client {
    http: reqwest::Client,
    token: Option<String>,
}

impl Client {
    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let mut value = r#"MediaBrowser Client="media-ha failover test", Device="Test", DeviceId="failover-device", Version="1.0""#.to_owned();
        if let Some(t) = &self.token {
            value.push_str(&format!(r#", Token="{t}""#));
        }
        req.header("Authorization", value)
    }

    async fn json(&self, req: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let resp = self.authed(req).send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, r: &Replica, path: &str) -> (StatusCode, Value) {
        self.json(self.http.get(format!("{}{path}", r.base))).await
    }

    async fn post(&self, r: &Replica, path: &str, body: Value) -> (StatusCode, Value) {
        self.json(self.http.post(format!("{}{path}", r.base)).json(&body))
            .await
    }

    async fn get_bytes(&self, r: &Replica, path: &str) -> (StatusCode, Vec<u8>) {
        let resp = self
            .authed(self.http.get(format!("{}{path}", r.base)))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} on {}: {e}", r.node));
        let status = resp.status();
        (status, resp.bytes().await.unwrap_or_default().to_vec())
    }
}

/// Waits until `name` is listed by `r` (the scan runs on one replica; the other reads it from
/// PostgreSQL). Returns its id.
async fn wait_for_item(c: &Client, r: &Replica, name: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, items) = c
            .get(r, &format!("/Items?Recursive=true&SearchTerm={name}"))
            .await;
        if status == StatusCode::OK {
            if let Some(item) = items["Items"]
                .as_array()
                .and_then(|a| a.iter().find(|i| i["Name"] == json!(name)))
            {
                return item["Id"].as_str().unwrap().to_owned();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{name} never appeared on {}: {status} {items}\n{}",
            r.node,
            r.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The one transcode job of this namespace, read straight from Redis.
async fn the_job(shared: &Shared) -> JobRecord {
    let config = media_ha::redis::RedisStoreConfig::from_url(&shared.redis)
        .unwrap()
        .prefix(shared.namespace.clone());
    let store = media_ha::redis::RedisStore::connect_with(config)
        .await
        .expect("connect to Redis");
    let mut jobs = store.job_store().list().await.expect("list jobs");
    assert_eq!(jobs.len(), 1, "one shared job for one rendition: {jobs:?}");
    jobs.remove(0)
}

/// Every video frame's pts of a transport stream.
fn video_pts(file: &Path) -> Vec<i64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "frame=pts", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// How the owner goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    /// SIGKILL of its process group (server and worker): the node dies without a word.
    Crash,
    /// SIGTERM of the server: graceful shutdown, leases released.
    Term,
}

async fn play_through_failover(exit: Exit) {
    let shared = Shared {
        redis: ha_testkit::redis_url().await,
        postgres: ha_testkit::postgres_url().await,
        namespace: ha_testkit::unique("fo")
            .replace('-', "_")
            .to_ascii_lowercase(),
        transcodes: tempfile::tempdir().unwrap(),
        logs: tempfile::tempdir().unwrap(),
    };
    media_dir();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(90))
        .build()
        .unwrap();
    let mut replicas = vec![Replica::start("r1", &shared), Replica::start("r2", &shared)];
    for r in &mut replicas {
        r.wait_healthy(&http).await;
    }

    // Sign in on r1; the token works on r2.
    let mut c = Client { http, token: None };
    let (status, auth) = c
        .post(
            &replicas[0],
            "/Users/AuthenticateByName",
            json!({ "Username": ADMIN, "Pw": ADMIN_PW }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "login: {auth}");
    c.token = Some(auth["AccessToken"].as_str().unwrap().to_owned());
    let user_id = auth["User"]["Id"].as_str().unwrap().to_owned();
    let item_id = wait_for_item(&c, &replicas[0], "Clip").await;
    assert_eq!(wait_for_item(&c, &replicas[1], "Clip").await, item_id);

    // PlaybackInfo on r2, master on r1, media playlist on r2.
    let (status, info) = c
        .post(
            &replicas[1],
            &format!("/Items/{item_id}/PlaybackInfo"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{info}");
    let master_url = info["MediaSources"][0]["TranscodingUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("MPEG-2 in Matroska needs a transcode: {info}"))
        .to_owned();
    let (status, master) = c.get(&replicas[0], &master_url).await;
    assert_eq!(status, StatusCode::OK, "{master}");
    let master = master.as_str().expect("a playlist").to_owned();
    let media_uri = master
        .lines()
        .find(|l| l.starts_with("main.m3u8"))
        .expect("master lists the media playlist")
        .to_owned();
    let base = format!("/Videos/{item_id}/");
    let (status, media) = c.get(&replicas[1], &format!("{base}{media_uri}")).await;
    assert_eq!(status, StatusCode::OK, "{media}");
    let media = media.as_str().expect("a playlist").to_owned();
    let segments: Vec<String> = media
        .lines()
        .filter(|l| l.starts_with("hls1/"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        segments.len(),
        (SECONDS / 3) as usize,
        "3 s segments: {media}"
    );

    // Segments in order, alternating replicas; the owner goes away after BEFORE_KILL.
    let mut alive: Vec<usize> = vec![0, 1];
    let mut joined = Vec::new();
    let mut last = Instant::now();
    let mut stalls = Vec::new();
    let mut killed = None;
    let mut running_at_kill = false;
    let mut served_by = Vec::new();
    for (i, uri) in segments.iter().enumerate() {
        if i == BEFORE_KILL {
            let job = the_job(&shared).await;
            let victim = replicas
                .iter()
                .position(|r| r.node == job.owner_node)
                .unwrap_or_else(|| panic!("owner {} is not a replica", job.owner_node));
            running_at_kill = job.state == JobState::Running
                && job
                    .last_segment
                    .is_none_or(|s| s + 1 < segments.len() as u32);
            eprintln!(
                "[{exit:?}] owner {} (state {:?}, last segment {:?}, attempts {}): going away",
                job.owner_node, job.state, job.last_segment, job.attempts
            );
            // A progress report written through the victim must outlive it.
            let (status, body) = c
                .post(
                    &replicas[victim],
                    "/Sessions/Playing/Progress",
                    json!({ "ItemId": item_id, "PositionTicks": 60_000_000_i64 }),
                )
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
            let r = &mut replicas[victim];
            match exit {
                Exit::Crash => killpg(r.pid(), Signal::SIGKILL).expect("SIGKILL"),
                Exit::Term => kill(r.pid(), Signal::SIGTERM).expect("SIGTERM"),
            }
            if exit == Exit::Crash {
                let _ = r.child.wait();
            }
            alive.retain(|&a| a != victim);
            killed = Some(victim);
            // The stall the viewer sees starts at the last response before the kill.
        }
        let r = &replicas[alive[i % alive.len()]];
        let (status, bytes) = c.get_bytes(r, &format!("{base}{uri}")).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "segment {i} from {}: {}\n{}",
            r.node,
            String::from_utf8_lossy(&bytes),
            r.log_tail()
        );
        let now = Instant::now();
        stalls.push(now - last);
        last = now;
        served_by.push(r.node.clone());
        joined.extend(bytes);
    }
    let victim = killed.expect("the owner was killed");
    let survivor = &replicas[alive[0]];
    let job = the_job(&shared).await;
    eprintln!(
        "[{exit:?}] served by {served_by:?}; after: owner {}, state {:?}, attempts {}",
        job.owner_node, job.state, job.attempts
    );
    if running_at_kill {
        assert_eq!(
            job.owner_node, survivor.node,
            "the survivor took the job over"
        );
        assert!(job.attempts >= 2, "a second tenure: {job:?}");
    } else {
        eprintln!(
            "[{exit:?}] WARNING: the job had finished before the kill; no takeover exercised"
        );
    }

    // Every frame once, timestamps strictly continuous across the takeover.
    let file = shared.logs.path().join("joined.ts");
    std::fs::write(&file, &joined).unwrap();
    let pts = video_pts(&file);
    assert_eq!(pts.len() as u32, FPS * SECONDS, "every frame decoded once");
    let step = 90_000 / i64::from(FPS);
    for w in pts.windows(2) {
        assert_eq!(
            w[1] - w[0],
            step,
            "no gap, duplicate or jump at pts {}",
            w[0]
        );
    }

    // The progress written through the victim is read through the survivor.
    let (status, item) = c
        .get(survivor, &format!("/Users/{user_id}/Items/{item_id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{item}");
    assert_eq!(
        item["UserData"]["PlaybackPositionTicks"],
        json!(60_000_000_i64)
    );

    let (worst, at) = stalls
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, d)| (*d, i))
        .max()
        .unwrap();
    println!(
        "[{exit:?}] killed {} after {BEFORE_KILL} segments; longest stall {:.2} s (before segment \
         {at}); per segment: {:?}",
        replicas[victim].node,
        worst.as_secs_f64(),
        stalls
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>()
    );
    if exit == Exit::Term {
        // A graceful exit: the victim's server should have exited on its own by now.
        let r = &mut replicas[victim];
        let deadline = Instant::now() + Duration::from_secs(20);
        while !r.exited() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            r.exited(),
            "{} did not exit on SIGTERM\n{}",
            r.node,
            r.log_tail()
        );
    }
}

/// One scenario at a time: two transcodes at once on a small machine would blur the stalls.
fn run(exit: Exit) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(play_through_failover(exit));
}

#[test]
fn owner_killed_mid_stream_survivor_finishes_it() {
    run(Exit::Crash);
}

#[test]
fn owner_stopped_mid_stream_hands_over() {
    run(Exit::Term);
}
