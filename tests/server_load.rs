//! Load on a two-replica cluster: `wrk` against the hot API endpoints and simulated HLS
//! viewers, zero errors expected.
//!
//! Two `examples/reference-server` processes (built by `cargo test` itself) share one Redis, one
//! PostgreSQL and one transcode directory, over a library of 121 movies (120 one-second films
//! and a 12 s MPEG-2 clip that must be transcoded). Then, one phase after another:
//!
//! * `wrk` with the scripts in `tests/wrk/`: `GET /Users/{id}/Items` paged (`items.lua`),
//!   `GET /Items/{id}` (`item.lua`), `POST /Sessions/Playing/Progress` (`progress.lua`). wrk
//!   cannot alternate hosts within one run, so the load is split the way an even balancer
//!   splits it: one wrk per replica, at the same time, half the connections each.
//! * N viewers (`tests/support/load/viewers.rs`) playing the transcoded clip at once, every
//!   request to the next replica: PlaybackInfo, playlists, every segment of one shared job.
//!   Each viewer is a user of its own, as N people watching are: one user starting the same
//!   rendition from more devices at once than the per-user transcode limit (3) can get a 429
//!   (see "Found" under "Load" in `docs/RELIABILITY.md`).
//!
//! Asserted: every replica answered requests in every phase, wrk counted no socket error, no
//! timeout (10 s) and no status ≥ 400, every viewer received every segment, no request failed,
//! and a progress report is read back. One answer is not a failure, because it is the server's
//! documented answer and players retry it: a segment request answered `503` with the segment
//! wait's `Retry-After: 1` (the segment is being made but took longer than `--segment-wait`,
//! e.g. while the debug transcode starts under this load); viewers retry it after 1 s, as
//! hls.js does, at most `MAX_SEGMENT_RETRIES` times per segment, and the count is printed. Any
//! other 5xx, and that 503 on any other request, is an error (`tests/support/load/viewers.rs`). Latencies (p50/p99) are printed (`--nocapture`), never
//! asserted: the machine is shared, and performance figures come from the bench harness
//! (`scripts/bench.sh`, release build). This test runs the debug build.
//!
//! Sizes (`tests/support/load/plan.rs`): 3 s per endpoint, 8 connections, 8 viewers; with
//! `HA_SOAK=1`, 60 s per endpoint, 32 connections, 32 viewers replaying for 60 s.
//!
//! Needs `wrk`, the ffmpeg CLI, `HA_TEST_REDIS_URL` / `HA_TEST_DATABASE_URL` (see
//! `scripts/services.sh`) and the example binary: `cargo build --features full --example
//! reference-server` first (a plain `cargo test --features full` builds it too).

use ha_test_support::cluster;
use ha_test_support::load;

use std::path::Path;
use std::time::{Duration, Instant};

use cluster::replica::Replica;
use cluster::setup::Shared;
use cluster::{ADMIN, ADMIN_PW, SEGMENT_SECS};
use load::library::{CLIP_SECS, MOVIES};
use load::plan::Plan;
use load::viewers::{watch, Audience};
use load::wrk::{self, WrkRun, WrkStats};
use serde_json::{json, Value};

const VIEWER_PW: &str = "viewer-password";
/// Generous bound for the first scan of 121 files by a debug build on a busy machine.
const SCAN_PATIENCE: Duration = Duration::from_secs(180);

/// A minimal Jellyfin-style client for the set-up requests.
struct Setup {
    http: reqwest::Client,
    token: Option<String>,
}

impl Setup {
    async fn call(&self, base: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{base}{path}");
        let mut auth = r#"MediaBrowser Client="media-ha load", Device="Setup", DeviceId="load-setup", Version="1.0""#.to_owned();
        if let Some(t) = &self.token {
            auth.push_str(&format!(r#", Token="{t}""#));
        }
        let req = match body {
            Some(b) => self.http.post(&url).json(&b),
            None => self.http.get(&url),
        };
        let resp = req
            .header("Authorization", auth)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// Waits until `base` lists every movie (one replica scans; the other reads PostgreSQL).
async fn wait_for_library(c: &Setup, r: &Replica, user: &str) {
    let deadline = Instant::now() + SCAN_PATIENCE;
    loop {
        let path = format!("/Users/{user}/Items?Recursive=true&IncludeItemTypes=Movie&Limit=1");
        let (status, page) = c.call(r.base(), &path, None).await;
        if status == 200 && page["TotalRecordCount"] == json!(MOVIES) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} lists {} of {MOVIES} movies ({status})\n{}",
            r.node(),
            page["TotalRecordCount"],
            r.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn print_phase(name: &str, nodes: &[String], parts: &[WrkStats]) {
    let all = wrk::combine(parts);
    println!(
        "load [{name}] both: {} requests in {:.1} s ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms, max \
         {:.0} ms; errors: {} socket, {} timeout, {} status",
        all.requests,
        all.secs,
        all.requests as f64 / all.secs.max(1e-9),
        all.p50_ms,
        all.p99_ms,
        all.max_ms,
        all.socket_errors,
        all.timeouts,
        all.status_errors
    );
    for (node, p) in nodes.iter().zip(parts) {
        println!(
            "load [{name}] {node}: {} requests ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms",
            p.requests,
            p.rate(),
            p.p50_ms,
            p.p99_ms
        );
    }
}

#[test]
fn two_replicas_under_load_answer_without_errors() {
    let plan = Plan::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let media =
        load::library::generate(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-load"))
            .unwrap_or_else(|e| panic!("{e}"));
    let shared = rt.block_on(Shared::from_test_env());
    let mut replicas: Vec<Replica> = ["r1", "r2"]
        .iter()
        .map(|n| Replica::start(n, &shared, &media))
        .collect();
    let bases: Vec<String> = replicas.iter().map(|r| r.base().to_owned()).collect();
    let nodes: Vec<String> = replicas.iter().map(|r| r.node().to_owned()).collect();

    // Set-up: sign in on r1, wait for the library on both, pick the ids the scripts use.
    let (token, user, ids, clip, viewer_tokens) = rt.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        for r in &mut replicas {
            r.wait_ready(&http).await;
        }
        let mut c = Setup { http, token: None };
        let (status, auth) = c
            .call(
                &bases[0],
                "/Users/AuthenticateByName",
                Some(json!({ "Username": ADMIN, "Pw": ADMIN_PW })),
            )
            .await;
        assert_eq!(status, 200, "login: {auth}");
        c.token = auth["AccessToken"].as_str().map(str::to_owned);
        let user = auth["User"]["Id"].as_str().unwrap().to_owned();
        for r in &replicas {
            wait_for_library(&c, r, &user).await;
        }
        // The second page, from the replica that did not sign in: not empty, and ids to cycle.
        let (status, page) = c
            .call(
                &bases[1],
                &format!("/Users/{user}/Items?Recursive=true&IncludeItemTypes=Movie&SortBy=SortName&StartIndex=20&Limit=20"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        let ids: Vec<String> = page["Items"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["Id"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        assert_eq!(ids.len(), 20, "a full second page: {page}");
        let (status, found) = c
            .call(&bases[0], "/Items?Recursive=true&SearchTerm=Clip", None)
            .await;
        assert_eq!(status, 200, "{found}");
        let clip = found["Items"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["Name"] == json!("Clip")))
            .and_then(|i| i["Id"].as_str())
            .unwrap_or_else(|| panic!("no Clip in {found}"))
            .to_owned();
        // One user per viewer, each signed in on the replica it will start on.
        let mut viewers = Vec::new();
        for i in 0..plan.viewers {
            let name = format!("viewer-{i}");
            let (status, body) = c
                .call(
                    &bases[0],
                    "/Users/New",
                    Some(json!({ "Name": name, "Password": VIEWER_PW })),
                )
                .await;
            assert_eq!(status, 200, "create {name}: {body}");
            let anonymous = Setup {
                http: c.http.clone(),
                token: None,
            };
            let (status, auth) = anonymous
                .call(
                    &bases[i % bases.len()],
                    "/Users/AuthenticateByName",
                    Some(json!({ "Username": name, "Pw": VIEWER_PW })),
                )
                .await;
            assert_eq!(status, 200, "login of {name}: {auth}");
            viewers.push(auth["AccessToken"].as_str().unwrap().to_owned());
        }
        (c.token.unwrap(), user, ids, clip, viewers)
    });

    // wrk, one endpoint at a time, split across both replicas.
    let env = vec![
        ("HA_TOKEN".to_owned(), token.clone()),
        ("HA_USER_ID".to_owned(), user.clone()),
        ("HA_ITEM_IDS".to_owned(), ids.join(",")),
        ("HA_PAGE_SIZE".to_owned(), "20".to_owned()),
        ("HA_PAGES".to_owned(), (MOVIES / 20).to_string()),
    ];
    for (name, script) in [
        ("GET /Users/{id}/Items paged", "items.lua"),
        ("GET /Items/{id}", "item.lua"),
        ("POST /Sessions/Playing/Progress", "progress.lua"),
    ] {
        let template = WrkRun {
            base: String::new(),
            script: script.into(),
            connections: plan.connections,
            threads: 1,
            duration: plan.wrk_secs,
            timeout: Duration::from_secs(10),
            env: env.clone(),
        };
        let parts = wrk::run_split(&template, &bases).unwrap_or_else(|e| panic!("{e}"));
        print_phase(name, &nodes, &parts);
        for (r, p) in replicas.iter_mut().zip(&parts) {
            assert!(
                !r.exited(),
                "{} died under load\n{}",
                r.node(),
                r.log_tail()
            );
            assert!(p.requests > 0, "{name}: {} answered nothing", r.node());
            assert_eq!(
                p.errors(),
                0,
                "{name} on {}: {p:?}\n{}",
                r.node(),
                r.log_tail()
            );
        }
    }

    rt.block_on(async {
        // The progress reports landed: some position is read back through r2.
        let c = Setup {
            http: reqwest::Client::new(),
            token: Some(token.clone()),
        };
        let mut positions = Vec::new();
        for id in &ids {
            let (status, item) = c
                .call(&bases[1], &format!("/Users/{user}/Items/{id}"), None)
                .await;
            assert_eq!(status, 200, "{item}");
            positions.push(
                item["UserData"]["PlaybackPositionTicks"]
                    .as_i64()
                    .unwrap_or(0),
            );
        }
        assert!(
            positions.iter().any(|p| *p > 0),
            "no progress report was stored: {positions:?}"
        );

        // N viewers of one transcoded item, round-robin across the replicas.
        let expected = (CLIP_SECS / SEGMENT_SECS) as usize;
        let audience = Audience {
            bases: bases.clone(),
            tokens: viewer_tokens.clone(),
            item_id: clip.clone(),
            expected_segments: expected,
        };
        let started = Instant::now();
        let stats = watch(audience, plan.viewers, plan.viewer_secs).await;
        println!(
            "load [HLS viewers] {} viewers, {} passes, {} segments ({} kB), {} requests in {:.1} \
             s, p50 {:.1} ms, p99 {:.1} ms; errors: {}; segment requests answered 503 + \
             Retry-After (segment wait) and retried: {}",
            plan.viewers,
            stats.passes,
            stats.segments,
            stats.bytes / 1024,
            stats.ok,
            started.elapsed().as_secs_f64(),
            stats.percentile(50.0),
            stats.percentile(99.0),
            stats.error_count,
            stats.segment_retries
        );
        let tails: String = replicas.iter().map(Replica::log_tail).collect();
        assert_eq!(
            stats.error_count, 0,
            "viewer errors: {:#?}\n{tails}",
            stats.errors
        );
        assert!(
            stats.passes >= plan.viewers as u64,
            "every viewer played the item through: {stats:?}"
        );
        assert_eq!(stats.segments, stats.passes * expected as u64);
    });
    for r in &mut replicas {
        assert!(!r.exited(), "{} died\n{}", r.node(), r.log_tail());
    }
}
