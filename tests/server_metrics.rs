//! `/metrics` of reference-server *processes* (each with its own recorder, as deployed): the
//! cluster's session gauge sums to the live sessions over replicas and moves to another replica
//! when its reporter dies; HTTP series carry bounded labels (1,000 random paths add none of
//! their own); store, store-call and process series are there.
//!
//! Needs `HA_TEST_REDIS_URL` / `HA_TEST_DATABASE_URL` (see `scripts/services.sh`); the replicas
//! use their own Redis prefix and PostgreSQL schema.

use ha_test_support::cluster;

use std::time::{Duration, Instant};

use cluster::client::Client;
use cluster::replica::Replica;
use cluster::setup::Shared;
use cluster::{ADMIN, ADMIN_PW};
use reqwest::StatusCode;
use serde_json::json;

/// How long the gauges may take to catch up: a few report intervals plus the reporter lease's
/// TTL (2 s at a 1 s interval) when the reporter changes.
const PATIENCE: Duration = Duration::from_secs(20);

async fn scrape(http: &reqwest::Client, base: &str) -> String {
    let resp = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.text().await.expect("a text body")
}

/// The value of the unlabelled series `name`, if present.
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `(sum of media_ha_cluster_sessions, replicas reporting)` over `bases`.
async fn cluster_sessions(http: &reqwest::Client, bases: &[&str]) -> (f64, usize) {
    let (mut sum, mut reporters) = (0.0, 0);
    for base in bases {
        let text = scrape(http, base).await;
        sum += value(&text, "media_ha_cluster_sessions").unwrap_or(0.0);
        if value(&text, "media_ha_cluster_gauges_reporter") == Some(1.0) {
            reporters += 1;
        }
    }
    (sum, reporters)
}

/// Waits until the replicas at `bases` report `expected` sessions in all from one reporter.
async fn until_reported(
    http: &reqwest::Client,
    bases: &[&str],
    expected: f64,
    logs: impl Fn() -> String,
) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (sum, reporters) = cluster_sessions(http, bases).await;
        if sum == expected && reporters == 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cluster sessions {sum} from {reporters} reporters, expected {expected} from one\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The distinct `route` labels of the HTTP request counter in `text`.
fn route_labels(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("media_ha_http_requests_total{"))
        .filter_map(|l| {
            let (_, rest) = l.split_once("route=\"")?;
            Some(rest.split_once('"')?.0.to_owned())
        })
        .collect()
}

/// 1,000 requests to random paths (random first segments, and random ids under real route
/// prefixes) add at most the few templates they can match to the `route` label, and none of
/// their random parts reaches the output.
async fn route_labels_stay_bounded(http: &reqwest::Client, base: &str) {
    use rand::distributions::{Alphanumeric, DistString};
    use rand::Rng;
    let before = route_labels(&scrape(http, base).await);
    let mut rng = rand::thread_rng();
    let mut tokens = Vec::new();
    for i in 0..1_000 {
        let token = format!("zq{}", Alphanumeric.sample_string(&mut rng, 12));
        let path = match i % 4 {
            0 => format!("/{token}"),
            1 => format!("/{token}/{}", rng.gen::<u32>()),
            2 => format!("/Items/{token}"),
            _ => format!("/Videos/{token}/master.m3u8"),
        };
        let resp = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("an answer");
        assert!(
            !resp.status().is_server_error(),
            "{path}: {}",
            resp.status()
        );
        tokens.push(token);
    }
    let text = scrape(http, base).await;
    let after = route_labels(&text);
    let new: Vec<&String> = after.difference(&before).collect();
    assert!(
        new.len() <= 3,
        "1,000 random paths added route labels {new:?} (before: {before:?})"
    );
    assert!(after.contains("unmatched"), "{after:?}");
    for token in &tokens {
        assert!(!text.contains(token.as_str()), "{token} in {text}");
    }
}

async fn sign_in(base: &str) -> Client {
    let mut c = Client::new();
    let (status, body) = c
        .post(
            base,
            "/Users/AuthenticateByName",
            json!({ "Username": ADMIN, "Pw": ADMIN_PW }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    c.token = Some(body["AccessToken"].as_str().expect("a token").to_owned());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_session_gauge_sums_over_replicas_and_survives_its_reporter() {
    let mut shared = Shared::from_test_env().await;
    shared.extra_args = vec!["--cluster-gauge-interval".into(), "1s".into()];
    let library = tempfile::tempdir().expect("an empty library");
    let http = reqwest::Client::new();
    let mut replicas = [
        Replica::start("m1", &shared, library.path()),
        Replica::start("m2", &shared, library.path()),
    ];
    for r in &mut replicas {
        r.wait_ready(&http).await;
    }
    let (a_url, b_url) = (replicas[0].base().to_owned(), replicas[1].base().to_owned());
    let logs = |replicas: &[Replica]| {
        replicas
            .iter()
            .map(Replica::log_tail)
            .collect::<Vec<_>>()
            .join("\n")
    };

    let admin = sign_in(&a_url).await;
    let _second = sign_in(&b_url).await;
    let (status, sessions) = admin.get(&b_url, "/Sessions").await;
    assert_eq!(status, StatusCode::OK, "{sessions}");
    let live = sessions.as_array().expect("a list").len() as f64;
    assert!(live >= 1.0);
    until_reported(&http, &[&a_url, &b_url], live, || logs(&replicas)).await;

    // A sign-out is counted out at the next report.
    let (status, _) = admin.post(&a_url, "/Sessions/Logout", json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    until_reported(&http, &[&a_url, &b_url], live - 1.0, || logs(&replicas)).await;

    // HTTP series: route templates and statuses, the raw path never a label.
    let _ = http
        .get(format!("{a_url}/Items/not-an-id-98765"))
        .send()
        .await;
    let text = scrape(&http, &a_url).await;
    let http_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("media_ha_http_requests_total{"))
        .collect();
    assert!(
        http_lines
            .iter()
            .any(|l| l.contains(r#"route="/Users/AuthenticateByName""#)
                && l.contains(r#"method="POST""#)
                && l.contains(r#"status="200""#)),
        "{text}"
    );
    assert!(
        http_lines
            .iter()
            .any(|l| l.contains(r#"route="/Items/{item_id}""#) && l.contains(r#"status="401""#)),
        "{text}"
    );
    assert!(!text.contains("98765"), "{text}");
    for contract in ["leases", "metadata", "sessions", "jobs", "slots"] {
        let series = format!("media_ha_store_up{{contract=\"{contract}\"}} 1");
        assert!(text.contains(&series), "{series} in {text}");
    }
    assert!(value(&text, "process_resident_memory_bytes").is_some_and(|v| v > 0.0));
    assert!(value(&text, "process_open_fds").is_some_and(|v| v > 0.0));
    // The store backends report their calls (leases and jobs on Redis, the rest on PostgreSQL).
    for store in ["redis", "postgres"] {
        let series = format!("media_ha_store_call_seconds_count{{store=\"{store}\"}}");
        assert!(
            value(&text, &series).is_some_and(|v| v > 0.0),
            "{series} in {text}"
        );
    }

    route_labels_stay_bounded(&http, &a_url).await;

    // The reporter dies: the other replica takes the lease and reports the same count alone.
    let reporter_is_a = value(
        &scrape(&http, &a_url).await,
        "media_ha_cluster_gauges_reporter",
    ) == Some(1.0);
    let (dead, survivor) = if reporter_is_a { (0, 1) } else { (1, 0) };
    replicas[dead].crash();
    let survivor_url = replicas[survivor].base().to_owned();
    until_reported(&http, &[&survivor_url], live - 1.0, || logs(&replicas)).await;
}
