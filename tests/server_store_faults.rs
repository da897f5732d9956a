//! Store faults while a client streams HLS (issue 8).
//!
//! One reference server (in-process, the real worker executable for transcodes) runs on
//! *private* stores from ha-testkit — a Redis (no persistence) and a PostgreSQL this test may
//! kill — and a transcode directory of its own. A client signs in, reports watch state, and plays
//! an 18 s 360p clip through HLS (master, media playlist, then every segment in order, retrying
//! what a player retries: 5xx and broken connections). After the first segment one store fault
//! is injected:
//!
//! * `redis_restart_mid_stream`: Redis SIGKILLed and restarted **empty**: leases and job records
//!   are gone. The owner's keeper reports its lease lost, the run stops, and the next segment
//!   request starts the job again at the first missing segment with a fresh record. Sessions and
//!   watch state live in PostgreSQL, so nobody is signed out.
//! * `postgres_restart_mid_stream`: PostgreSQL SIGKILLed (postmaster and backends) and
//!   restarted with its data: requests answer 503 meanwhile, the pool reconnects.
//! * `redis_network_cut_mid_stream`: the link to Redis cut by a loopback proxy
//!   ([`common::proxy::CutProxy`]) for longer than the job lease, then restored: Redis keeps its
//!   data, the lease runs out, and the job is taken over where it stopped.
//! * `redis_frozen_mid_stream` / `postgres_frozen_mid_stream`: the store is alive but answers
//!   nothing (`SIGSTOP` of redis-server; of the postmaster and every backend) for longer than
//!   the job lease, then `SIGCONT`. Connections stay open, so only the clients' own timeouts
//!   can end a call: nothing may hang, readiness must flip and come back, and the commands the
//!   frozen server finds queued when it wakes must not let an old tenure write over a new one.
//!
//! Each checks: every segment arrives and the stitched stream has every frame once with
//! continuous timestamps; `/health/ready` answers 200 `Degraded` while the store is down (the
//! replica stays in the load balancer: every replica sees the same outage) and 200 `Healthy`
//! after, and a refused request carries `Retry-After`;
//! watch state reported before, during (re-sent after a 503, as clients re-report) and after
//! the fault is there once the store is back; the client's session survives; the server still
//! answers; the outage, its cost and the recovery are logged (captured in-process) and counted
//! in `/metrics` (`media_ha_store_errors_total` of the broken store grew). The longest stall between two segment responses is printed (`--nocapture`) and only
//! bounded generously (lease TTL + the outage + slack), never timed tightly.
//!
//! Needs the ffmpeg CLI, `redis-server` and PostgreSQL binaries (see `scripts/install-deps.sh`);
//! no shared services.

use media_ha_server as server;

use ha_test_support::in_process as common;

use ha_test_support::cluster::media;

use ha_test_support::cluster::stitch;

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::proxy::CutProxy;
use common::*;
use ha_testkit::{PostgresServer, RedisServer};
use media::Clip;
use media_ha::core::JobState;
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::watch;

/// 18 s at 360p (3 s segments): three scenarios fit the binary's time budget, and the job is
/// still running when the fault hits after the first segment.
const CLIP: Clip = Clip {
    secs: 18,
    fps: 25,
    size: (640, 360),
};
/// Segments the client has before the fault.
const BEFORE_FAULT: usize = 1;
/// Generous bound for anything that should take seconds on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(60);
/// Added to every stall bound: start-up of a worker, one segment's encode, a loaded machine.
const SLACK: Duration = Duration::from_secs(30);
/// How often the client retries a segment that failed.
const RETRY: Duration = Duration::from_millis(250);

/// What breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Redis SIGKILLed, restarted empty.
    RedisRestart,
    /// PostgreSQL SIGKILLed, restarted with its data.
    PostgresRestart,
    /// The network to Redis cut for longer than the lease TTL, then restored.
    RedisCut,
    /// redis-server `SIGSTOP`ped for longer than the lease TTL, then `SIGCONT`.
    RedisFreeze,
    /// The postmaster and every backend `SIGSTOP`ped for longer than the lease TTL, then
    /// `SIGCONT`.
    PostgresFreeze,
}

impl Fault {
    /// Faults that last longer than the job lease on purpose (the test waits before repairing).
    fn outlasts_the_lease(self) -> bool {
        matches!(
            self,
            Fault::RedisCut | Fault::RedisFreeze | Fault::PostgresFreeze
        )
    }

    /// The `store` label of the store this fault breaks.
    fn store(self) -> &'static str {
        match self {
            Fault::RedisRestart | Fault::RedisCut | Fault::RedisFreeze => "redis",
            Fault::PostgresRestart | Fault::PostgresFreeze => "postgres",
        }
    }

    /// Faults that take the job's lease (in Redis) away, so the job must run again.
    fn loses_the_lease(self) -> bool {
        matches!(
            self,
            Fault::RedisRestart | Fault::RedisCut | Fault::RedisFreeze
        )
    }
}

/// Every log line of the in-process servers, to check that a fault is logged clearly.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Appends to [`LOGS`].
struct LogSink;

impl Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        ha_core::sync::lock(&LOGS).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends the servers' logs (info and up) to [`LOGS`]; once per binary.
fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(|| LogSink)
        .try_init();
}

/// How much has been logged so far.
fn log_mark() -> usize {
    ha_core::sync::lock(&LOGS).len()
}

/// The lines logged since `mark`.
fn logged_since(mark: usize) -> Vec<String> {
    let logs = ha_core::sync::lock(&LOGS);
    String::from_utf8_lossy(&logs[mark.min(logs.len())..])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The log messages an operator must see for `fault` (each: any of the alternatives).
fn expected_logs(fault: Fault) -> Vec<&'static [&'static str]> {
    let mut lines: Vec<&'static [&'static str]> = vec![
        &["not ready: a store does not answer"],
        &["ready again: every store answers"],
    ];
    match fault {
        // The lease vanished with the data: the keeper or the publish gate notices first.
        Fault::RedisRestart => lines.push(&["lease lost", "job record taken over or lost"]),
        Fault::RedisCut | Fault::RedisFreeze => lines.push(&["lease lost"]),
        Fault::PostgresRestart | Fault::PostgresFreeze => lines.push(&["store call failed"]),
    }
    lines
}

/// The job lease TTL the server's transcode manager runs with (its default).
fn lease_ttl() -> Duration {
    media_ha::transcode::manager::ManagerConfig::new("any").lease_ttl()
}

/// The private stores of one scenario.
struct Stores {
    redis: RedisServer,
    pg: PostgresServer,
    proxy: Option<CutProxy>,
}

impl Stores {
    async fn start(fault: Fault) -> Self {
        let (redis, pg) = tokio::join!(RedisServer::start(), PostgresServer::start());
        let proxy = match fault {
            Fault::RedisCut => Some(CutProxy::start(([127, 0, 0, 1], redis.port()).into()).await),
            _ => None,
        };
        Self { redis, pg, proxy }
    }

    fn redis_url(&self) -> String {
        match &self.proxy {
            Some(p) => format!("redis://{}/", p.addr()),
            None => self.redis.url(),
        }
    }

    /// Breaks what `fault` says; returns a description for the log.
    fn inject(&mut self, fault: Fault) -> String {
        match fault {
            Fault::RedisRestart => {
                self.redis.kill();
                "redis-server SIGKILLed".into()
            }
            Fault::PostgresRestart => {
                self.pg.kill();
                "postgres SIGKILLed (postmaster and backends)".into()
            }
            Fault::RedisCut => {
                let proxy = self.proxy.as_ref().expect("the cut scenario has a proxy");
                format!("link to Redis cut ({} connections severed)", proxy.cut())
            }
            Fault::RedisFreeze => {
                self.redis.pause();
                "redis-server SIGSTOPped".into()
            }
            Fault::PostgresFreeze => {
                self.pg.freeze();
                "postgres SIGSTOPped (postmaster and backends)".into()
            }
        }
    }

    async fn repair(&mut self, fault: Fault) {
        match fault {
            Fault::RedisRestart => self.redis.restart().await,
            Fault::PostgresRestart => self.pg.restart().await,
            Fault::RedisCut => self.proxy.as_ref().unwrap().restore(),
            Fault::RedisFreeze => self.redis.resume(),
            Fault::PostgresFreeze => self.pg.thaw(),
        }
    }
}

/// `(sum of media_ha_store_errors_total{store}, its series)` in this server's `/metrics`.
async fn store_errors(c: &Client, store: &str) -> (f64, Vec<String>) {
    let (status, text) = c.get_text("/metrics").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let prefix = format!("media_ha_store_errors_total{{store=\"{store}\"");
    let series: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    let sum = series
        .iter()
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    (sum, series)
}

/// Waits until `/health/ready` says `Healthy` or, while a shared store is down, `Degraded` —
/// both with 200: a shared store's outage is every replica's, so the replica stays in the load
/// balancer (`--readiness-policy stay-ready`, the default); how long that took.
async fn wait_readiness(c: &Client, healthy: bool) -> Duration {
    let started = Instant::now();
    let want = if healthy { "Healthy" } else { "Degraded" };
    loop {
        let last = match c.http.get(c.url("/health/ready")).send().await {
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                if status == StatusCode::OK && body.starts_with(want) {
                    return started.elapsed();
                }
                format!("{status} {body}")
            }
            Err(e) => format!("request failed: {e}"),
        };
        assert!(
            started.elapsed() < PATIENCE,
            "readiness never became 200 {want}; last answer: {last}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reports a playback position; the status.
async fn report_progress(c: &Client, item: &str, ticks: i64) -> StatusCode {
    let req = c
        .http
        .post(c.url("/Sessions/Playing/Progress"))
        .json(&json!({ "ItemId": item, "PositionTicks": ticks }));
    match c.authed(req).send().await {
        Ok(r) => r.status(),
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}

/// What the player saw.
struct Played {
    joined: Vec<u8>,
    /// Time between consecutive segment responses (the first: since the playlist).
    stalls: Vec<Duration>,
    /// Failed attempts (status or error), with the segment index.
    failures: Vec<(usize, String)>,
}

/// Fetches every segment in order, retrying 5xx answers and broken connections as a player
/// does; publishes how many segments it has.
async fn play(
    c: Client,
    base: String,
    segments: Vec<String>,
    have: watch::Sender<usize>,
) -> Played {
    let mut played = Played {
        joined: Vec::new(),
        stalls: Vec::new(),
        failures: Vec::new(),
    };
    let mut last = Instant::now();
    for (i, uri) in segments.iter().enumerate() {
        let asked = Instant::now();
        loop {
            let failure = match c
                .authed(c.http.get(c.url(&format!("{base}{uri}"))))
                .send()
                .await
            {
                Ok(r) if r.status() == StatusCode::OK => match r.bytes().await {
                    Ok(bytes) => {
                        played.joined.extend_from_slice(&bytes);
                        break;
                    }
                    Err(e) => format!("body: {e}"),
                },
                Ok(r) if r.status().is_server_error() => {
                    format!("{} {}", r.status(), r.text().await.unwrap_or_default())
                }
                Ok(r) => panic!(
                    "segment {i}: {} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                ),
                Err(e) => format!("request: {e}"),
            };
            played.failures.push((i, failure));
            assert!(
                asked.elapsed() < PATIENCE,
                "segment {i} never arrived: {:?}",
                played.failures.last()
            );
            tokio::time::sleep(RETRY).await;
        }
        let now = Instant::now();
        played.stalls.push(now - last);
        last = now;
        have.send_replace(i + 1);
    }
    played
}

async fn user_position(c: &Client, user_id: &str, item: &str) -> serde_json::Value {
    let (status, body) = c.get(&format!("/Users/{user_id}/Items/{item}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["UserData"]["PlaybackPositionTicks"].clone()
}

async fn stream_through(fault: Fault) {
    let mut stores = Stores::start(fault).await;
    let data = tempfile::tempdir().unwrap();
    let transcodes = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path(), &CLIP.library());
    config.media = vec![CLIP.library(), media_dir()];
    config.transcode_dir = transcodes.path().to_path_buf();
    config.node_id = "faults-node".into();
    config.stores = server::config::StoreUrls {
        redis: Some(stores.redis_url()),
        postgres: Some(stores.pg.url()),
    };
    let srv = start_config(config).await;
    let mut c = Client::new(&srv);
    let auth = c.login(ADMIN, ADMIN_PW).await;
    let user_id = auth["User"]["Id"].as_str().unwrap().to_owned();
    let (clip_id, _) = find_item(&c, Clip::NAME).await;
    let (alpha_id, _) = find_item(&c, "Alpha").await;
    let (beta_id, _) = find_item(&c, "Beta").await;

    // Watch state before the fault.
    assert_eq!(
        report_progress(&c, &alpha_id, 11_000_000).await,
        StatusCode::NO_CONTENT
    );

    let HlsPlaylists {
        base,
        media,
        segments,
        ..
    } = open_hls(&c, &clip_id).await;
    assert_eq!(
        segments.len(),
        (CLIP.secs / 3) as usize,
        "3 s segments: {media}"
    );

    let (have_tx, mut have) = watch::channel(0);
    let mut player_client = Client::new(&srv);
    player_client.token = c.token.clone();
    let player = tokio::spawn(play(player_client, base, segments.clone(), have_tx));

    // The fault, once the client has its first segment(s).
    tokio::time::timeout(PATIENCE, have.wait_for(|n| *n >= BEFORE_FAULT))
        .await
        .expect("the first segment arrives")
        .expect("the player runs");
    let jobs = srv.state().stores.jobs.list().await.expect("list jobs");
    assert_eq!(jobs.len(), 1, "one job for one rendition: {jobs:?}");
    let before = jobs[0].clone();
    let running_at_fault = before.state == JobState::Running
        && before
            .last_segment
            .is_none_or(|s| s + 1 < segments.len() as u32);
    let errors_before = store_errors(&c, fault.store()).await;
    let fault_at = Instant::now();
    let logs_from = log_mark();
    let what = stores.inject(fault);
    let to_not_ready = wait_readiness(&c, false).await;
    // Watch state reported while the store is down: accepted, or refused with a 503 and re-sent
    // once the store is back (what clients do: they report progress periodically).
    let during_status = report_progress(&c, &beta_id, 22_000_000).await;
    assert!(
        during_status == StatusCode::NO_CONTENT || during_status == StatusCode::SERVICE_UNAVAILABLE,
        "a progress report during the outage is accepted or refused as retryable: {during_status}"
    );
    if during_status == StatusCode::SERVICE_UNAVAILABLE {
        // Refused as retryable, with the hint clients honour.
        let req = c.http.get(c.url("/Users/Me"));
        if let Ok(r) = c.authed(req).send().await {
            if r.status() == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(
                    r.headers().get("retry-after").and_then(|v| v.to_str().ok()),
                    Some("5"),
                    "a 503 during a store outage says when to retry"
                );
            }
        }
    }
    if fault.outlasts_the_lease() {
        // Longer than the lease: the owner must notice it lost the job and stop.
        tokio::time::sleep(lease_ttl() + Duration::from_secs(1)).await;
    }
    stores.repair(fault).await;
    let to_ready = wait_readiness(&c, true).await;
    let outage = fault_at.elapsed();
    if during_status != StatusCode::NO_CONTENT {
        let started = Instant::now();
        while report_progress(&c, &beta_id, 22_000_000).await != StatusCode::NO_CONTENT {
            assert!(
                started.elapsed() < PATIENCE,
                "progress never accepted again"
            );
            tokio::time::sleep(RETRY).await;
        }
    }

    let played = tokio::time::timeout(Duration::from_secs(180), player)
        .await
        .expect("the player finishes")
        .expect("the player did not panic");
    assert_eq!(played.stalls.len(), segments.len(), "every segment arrived");
    let dir = tempfile::tempdir().unwrap();
    stitch::check_every_frame_once(dir.path(), &played.joined, &CLIP);

    // Watch state from before, during and after the fault, read back once the store is back.
    assert_eq!(
        report_progress(&c, &clip_id, 150_000_000).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        user_position(&c, &user_id, &alpha_id).await,
        json!(11_000_000)
    );
    assert_eq!(
        user_position(&c, &user_id, &beta_id).await,
        json!(22_000_000)
    );
    assert_eq!(
        user_position(&c, &user_id, &clip_id).await,
        json!(150_000_000_i64)
    );
    // The client is still signed in, and the server still answers.
    assert_eq!(
        c.get("/Users/Me").await.0,
        StatusCode::OK,
        "session survived"
    );
    assert_eq!(
        c.get_text("/health").await,
        (StatusCode::OK, "Healthy".into())
    );

    // The outage shows in /metrics as failed calls to that store (the backends' counter).
    let errors_after = store_errors(&c, fault.store()).await;
    assert!(
        errors_after.0 > errors_before.0,
        "[{fault:?}] no {} store errors counted: before {errors_before:?}, after {errors_after:?}",
        fault.store()
    );
    println!(
        "[{fault:?}] store errors counted during the fault: {}",
        errors_after.0 - errors_before.0
    );

    let metrics = srv
        .state()
        .transcoder
        .as_ref()
        .expect("a transcoding build")
        .metrics()
        .expect("transcode metrics");
    let runs = metrics.jobs_started + metrics.takeovers;
    let after = srv.state().stores.jobs.list().await.expect("list jobs");
    if running_at_fault && fault.loses_the_lease() {
        // The job's lease was lost (data loss, or a cut or freeze longer than the TTL): it ran
        // again, under a newer token, and the record belongs to that newer tenure: no write with
        // the token from before the fault replaced it (also not one the frozen server found
        // queued when it woke).
        assert!(
            runs >= 2,
            "the job was started again after the fault: {metrics:?}"
        );
        let last = after.iter().find(|j| j.key == before.key);
        if let Some(last) = last {
            assert!(
                last.token > before.token,
                "the record after the fault holds the newer tenure's token: before {before:?}, \
                 after {last:?}"
            );
        }
    }
    if !running_at_fault {
        eprintln!(
            "[{fault:?}] WARNING: the job had finished before the fault; no restart exercised"
        );
    }

    let (worst, at) = played
        .stalls
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, d)| (*d, i))
        .max()
        .unwrap();
    let bound = outage + lease_ttl() + SLACK;
    println!(
        "[{fault:?}] {what} after segment {BEFORE_FAULT} (job {:?}, last segment {:?}); \
         not ready after {:.2} s; outage {:.2} s; ready {:.2} s after repair; progress during: \
         {during_status}; {} failed segment attempts; runs (started + taken over): {runs}; \
         longest stall {:.2} s (before segment {at}, bound {:.0} s); per segment: {:?}; job \
         after: {:?}",
        before.state,
        before.last_segment,
        to_not_ready.as_secs_f64(),
        outage.as_secs_f64(),
        to_ready.as_secs_f64(),
        played.failures.len(),
        worst.as_secs_f64(),
        bound.as_secs_f64(),
        played
            .stalls
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64()))
            .collect::<Vec<_>>(),
        after
            .iter()
            .map(|j| (j.state, j.last_segment, j.attempts))
            .collect::<Vec<_>>(),
    );
    for (i, f) in played.failures.iter().take(5) {
        println!("[{fault:?}]   segment {i}: {f}");
    }
    assert!(worst < bound, "stall {worst:?} over {bound:?}");

    // Clear log lines: the outage, what it cost, and the recovery.
    let logged = logged_since(logs_from);
    for wanted in expected_logs(fault) {
        let line = logged
            .iter()
            .find(|l| wanted.iter().any(|w| l.contains(w)))
            .unwrap_or_else(|| {
                panic!(
                    "[{fault:?}] no log line with any of {wanted:?}; logged since the fault:\n{}",
                    logged.join("\n")
                )
            });
        println!(
            "[{fault:?}] log: {}",
            line.chars().take(300).collect::<String>()
        );
    }
    srv.shutdown(GRACE).await;
}

/// One scenario at a time: two transcodes at once on a small machine would blur the stalls.
fn run(fault: Fault) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ha_core::sync::lock(&ONE_AT_A_TIME);
    capture_logs();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(stream_through(fault));
}

#[test]
fn redis_restart_mid_stream() {
    run(Fault::RedisRestart);
}

#[test]
fn postgres_restart_mid_stream() {
    run(Fault::PostgresRestart);
}

#[test]
fn redis_network_cut_mid_stream() {
    run(Fault::RedisCut);
}

#[test]
fn redis_frozen_mid_stream() {
    run(Fault::RedisFreeze);
}

#[test]
fn postgres_frozen_mid_stream() {
    run(Fault::PostgresFreeze);
}
