//! Item 8: memory per 1,000 idle sessions — the server's VmRSS before and after 1,000
//! sign-ins (each from its own device, then never used again), single node and HA.
//!
//! What a sign-in leaves behind: a session (in-process map, or a Redis hash in HA mode), a
//! device record and an activity-log entry (in-process metadata, or PostgreSQL rows in HA
//! mode). All of it counts: that is what 1,000 idle clients cost.
//!
//! Why warm-up rounds first: each sign-in runs Argon2id (19 MiB) on a blocking thread, and
//! glibc keeps freed arenas of those threads mapped. Signing in [`WARMUP`] times at the same
//! concurrency before the first reading puts that allocator high-water mark in the baseline,
//! so the difference is the sessions, not the hashing. RSS is still an OS view of a
//! malloc heap; read it as ± a few hundred KiB.
//!
//! HA mode also reports how much the PostgreSQL database grew (`pg_database_size`), where the
//! sessions, devices and activity rows live when a server has both stores. No peer: Jellyfin is
//! not installed here, and the figure has no target in the issue.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::runtime::Runtime;

use super::setup::{auth_header, login, Cluster, Stores};
use crate::report::{Better, Figure};

/// Sessions created for the figure.
const SESSIONS: usize = 1000;
/// Sign-ins before the baseline reading.
const WARMUP: usize = 32;
/// Sign-ins in flight at once.
const CONCURRENCY: usize = 4;

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: i32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// `pg_database_size` of the database `url` names, in bytes (through `psql`).
fn pg_database_bytes(url: &str) -> Result<u64, String> {
    let out = std::process::Command::new("psql")
        .args([url, "-Atc", "SELECT pg_database_size(current_database())"])
        .output()
        .map_err(|e| format!("psql (postgresql-client): {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| format!("psql: {}", String::from_utf8_lossy(&out.stderr)))
}

/// Signs in `n` times from distinct devices named `<prefix>-<i>`; returns the tokens.
async fn sign_ins(base: &str, prefix: &str, n: usize) -> Result<Vec<String>, String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())?;
    let mut tokens = Vec::with_capacity(n);
    let mut next = 0;
    while next < n {
        let batch = (next..(next + CONCURRENCY).min(n))
            .map(|i| {
                let http = http.clone();
                let device = format!("{prefix}-{i}");
                let base = base.to_owned();
                tokio::spawn(async move { login(&http, &base, &device).await })
            })
            .collect::<Vec<_>>();
        for task in batch {
            let (token, _) = task.await.map_err(|e| e.to_string())??;
            tokens.push(token);
        }
        next += CONCURRENCY;
    }
    Ok(tokens)
}

/// Checks that the first and the last session still work (the figure counts live sessions).
async fn still_signed_in(base: &str, tokens: &[String]) -> Result<(), String> {
    let http = reqwest::Client::new();
    for t in [tokens.first(), tokens.last()].into_iter().flatten() {
        let status = http
            .get(format!("{base}/Users/Me"))
            .header("Authorization", auth_header("check", Some(t)))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .status();
        if !status.is_success() {
            return Err(format!(
                "a session created for the figure is gone: {status}"
            ));
        }
    }
    Ok(())
}

struct Reading {
    rss_before: u64,
    rss_after: u64,
    db_before: u64,
    db_after: u64,
    secs: f64,
}

async fn measure(media: &Path, stores: Option<&Stores>) -> Result<Reading, String> {
    let db_bytes = || stores.map_or(Ok(0), |s| pg_database_bytes(&s.postgres));
    let cluster = Cluster::start(media, stores, 1).await?;
    let r = &cluster.replicas[0];
    sign_ins(r.base(), "warmup", WARMUP).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(r.pid().as_raw())?;
    let db_before = db_bytes()?;
    let started = Instant::now();
    let tokens = sign_ins(r.base(), "idle", SESSIONS).await?;
    let secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss_kib(r.pid().as_raw())?;
    let db_after = db_bytes()?;
    still_signed_in(r.base(), &tokens).await?;
    Ok(Reading {
        rss_before,
        rss_after,
        db_before,
        db_after,
        secs,
    })
}

fn figure(name: &str, kib: Option<f64>, note: String, raw: serde_json::Value) -> Figure {
    Figure {
        item: 8,
        name: name.into(),
        unit: "KiB per 1,000 sessions".into(),
        ours: kib,
        peer: None,
        peer_name: "— (no Jellyfin here; no target)".into(),
        better: Better::Lower,
        target: None,
        command: String::new(),
        note,
        raw,
    }
}

fn delta_kib(before: u64, after: u64) -> f64 {
    (after as f64 - before as f64) * 1000.0 / SESSIONS as f64
}

/// Single node on in-process stores, then one replica on both `stores`.
pub fn run(rt: &Runtime, media: &Path, stores: &Stores) -> Vec<Figure> {
    let mut figures = Vec::new();
    let single = rt
        .block_on(measure(media, None))
        .unwrap_or_else(|e| panic!("RSS, single node: {e}"));
    {
        let m = single;
        figures.push(figure(
            "server RSS per 1,000 idle sessions, single node (in-process stores)",
            Some(delta_kib(m.rss_before, m.rss_after)),
            format!(
                "VmRSS {:.1} → {:.1} MiB after {SESSIONS} sign-ins ({:.1} s, Argon2id each); \
                 session, device and activity entry in memory (and journaled)",
                m.rss_before as f64 / 1024.0,
                m.rss_after as f64 / 1024.0,
                m.secs
            ),
            json!({ "rss_kib_before": m.rss_before, "rss_kib_after": m.rss_after, "sessions": SESSIONS, "secs": m.secs }),
        ));
    }
    let ha = rt
        .block_on(measure(media, Some(stores)))
        .unwrap_or_else(|e| panic!("RSS, HA: {e}"));
    {
        let m = ha;
        {
            figures.push(figure(
                "server RSS per 1,000 idle sessions, HA (Redis + PostgreSQL)",
                Some(delta_kib(m.rss_before, m.rss_after)),
                format!(
                    "VmRSS {:.1} → {:.1} MiB after {SESSIONS} sign-ins ({:.1} s); sessions, \
                     devices and activity live in PostgreSQL",
                    m.rss_before as f64 / 1024.0,
                    m.rss_after as f64 / 1024.0,
                    m.secs
                ),
                json!({ "rss_kib_before": m.rss_before, "rss_kib_after": m.rss_after, "sessions": SESSIONS, "secs": m.secs }),
            ));
            figures.push(figure(
                "PostgreSQL database growth per 1,000 idle sessions, HA",
                Some(delta_kib(m.db_before / 1024, m.db_after / 1024)),
                format!(
                    "pg_database_size {:.2} → {:.2} MiB (session, device and activity rows, \
                     indexes; 8 KiB pages)",
                    m.db_before as f64 / 1048576.0,
                    m.db_after as f64 / 1048576.0
                ),
                json!({ "db_bytes_before": m.db_before, "db_bytes_after": m.db_after, "sessions": SESSIONS }),
            ));
        }
    }
    figures
}
