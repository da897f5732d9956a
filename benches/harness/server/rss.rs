//! Item 8: memory per 1,000 idle sessions — the server's VmRSS as 1,000 and then another 1,000
//! clients sign in (each from its own device, then never used again), single node and HA.
//!
//! What a sign-in leaves behind: a session (in-process map, or a PostgreSQL row in HA mode), a
//! device record and an activity-log entry (in-process metadata, or PostgreSQL rows in HA mode).
//! All of it counts: that is what 1,000 idle clients cost. The sign-ins are spread over
//! [`USERS`] users, because the server keeps at most 100 sessions per user (a sign-in beyond it
//! signs the least recently used out; `session_limit.rs`), as a household of many people would.
//!
//! Why the figure is the *second* thousand: RSS is the OS's view of a malloc heap, and a heap
//! has high-water marks that are not per-session costs (each sign-in runs Argon2id with a
//! 19 MiB block; before `ha_core::hash_pool` those ran on any of tokio's blocking threads and
//! each new thread's glibc arena kept its 19 MiB). A per-session cost grows with every
//! thousand; a high-water mark is reached once. So: [`WARMUP`] sign-ins, a reading, 1,000
//! sign-ins, a reading, 1,000 more, a reading; the figure is the growth over the second
//! thousand, and the note gives the first thousand's and the thread count, so a high-water mark
//! shows up as a first thousand much larger than the second. Read RSS as ± a few hundred KiB.
//!
//! HA mode also reports how much the PostgreSQL database grew (`pg_database_size`, per 1,000
//! over both thousands), where the sessions, devices and activity rows live when a server has
//! both stores. No peer: Jellyfin is not installed here, and the figure has no target in the
//! issue.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::runtime::Runtime;

use super::setup::{auth_header, login, login_as, Cluster, Stores};
use crate::report::{Better, Figure};

/// Sessions created for the figure.
const SESSIONS: usize = 1000;
/// Sign-ins before the baseline reading.
const WARMUP: usize = 32;
/// Users the sessions belong to: 2 × [`SESSIONS`] / [`USERS`] = 50 sessions each, under the
/// server's 100 per user.
const USERS: usize = 40;
/// Their password.
const USER_PW: &str = "idle-pw";
/// Sign-ins in flight at once.
const CONCURRENCY: usize = 4;

/// A number field of `/proc/<pid>/status` (`VmRSS` in KiB, `Threads`).
fn status_field(pid: i32, field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status"))
}

/// VmRSS of `pid` in KiB.
fn rss_kib(pid: i32) -> Result<u64, String> {
    status_field(pid, "VmRSS")
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

/// Signs in `n` times from distinct devices named `<prefix>-<i>`, device `i` as the admin
/// (`users` false) or as user `idle-<i mod USERS>`; returns the tokens.
async fn sign_ins(base: &str, prefix: &str, n: usize, users: bool) -> Result<Vec<String>, String> {
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
                tokio::spawn(async move {
                    if users {
                        let user = format!("idle-{}", i % USERS);
                        login_as(&http, &base, &device, &user, USER_PW).await
                    } else {
                        login(&http, &base, &device).await
                    }
                })
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

/// VmRSS (KiB), database size (bytes) and thread count at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    rss: u64,
    db: u64,
    threads: u64,
}

/// After the warm-up, after the first thousand, after the second.
struct Reading {
    samples: [Sample; 3],
    secs: f64,
}

impl Reading {
    fn rss_mib(&self, i: usize) -> f64 {
        self.samples[i].rss as f64 / 1024.0
    }

    /// The figure: growth over the second thousand.
    fn per_thousand(&self) -> f64 {
        delta_kib(self.samples[1].rss, self.samples[2].rss)
    }

    fn first_thousand(&self) -> f64 {
        delta_kib(self.samples[0].rss, self.samples[1].rss)
    }

    fn raw(&self) -> serde_json::Value {
        let s = &self.samples;
        json!({
            "rss_kib": [s[0].rss, s[1].rss, s[2].rss],
            "threads": [s[0].threads, s[1].threads, s[2].threads],
            "db_bytes": [s[0].db, s[1].db, s[2].db],
            "sessions_per_step": SESSIONS,
            "secs": self.secs,
        })
    }

    fn note(&self, what: &str) -> String {
        let t = |i: usize| self.samples[i].threads;
        format!(
            "VmRSS {:.1} → {:.1} → {:.1} MiB after 0 / {SESSIONS} / {} sign-ins ({:.1} s for \
             the second thousand, Argon2id each); first thousand {:.0} KiB; threads {} → {} → \
             {}; {what}",
            self.rss_mib(0),
            self.rss_mib(1),
            self.rss_mib(2),
            2 * SESSIONS,
            self.secs,
            self.first_thousand(),
            t(0),
            t(1),
            t(2),
        )
    }
}

async fn measure(media: &Path, stores: Option<&Stores>) -> Result<Reading, String> {
    let db_bytes = || stores.map_or(Ok(0), |s| pg_database_bytes(&s.postgres));
    let cluster = Cluster::start(media, stores, 1).await?;
    let r = &cluster.replicas[0];
    let pid = r.pid().as_raw();
    let sample = || -> Result<Sample, String> {
        Ok(Sample {
            rss: rss_kib(pid)?,
            db: db_bytes()?,
            threads: status_field(pid, "Threads")?,
        })
    };
    for k in 0..USERS {
        cluster.create_user(&format!("idle-{k}"), USER_PW).await?;
    }
    sign_ins(r.base(), "warmup", WARMUP, false).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = sample()?;
    let first = sign_ins(r.base(), "idle", SESSIONS, true).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let middle = sample()?;
    let started = Instant::now();
    let second = sign_ins(r.base(), "idle2", SESSIONS, true).await?;
    let secs = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = sample()?;
    still_signed_in(r.base(), &first).await?;
    still_signed_in(r.base(), &second).await?;
    Ok(Reading {
        samples: [before, middle, after],
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
    figures.push(figure(
        "server RSS per 1,000 idle sessions, single node (in-process stores)",
        Some(single.per_thousand()),
        single.note("session, device and activity entry in memory (and journaled)"),
        single.raw(),
    ));
    let ha = rt
        .block_on(measure(media, Some(stores)))
        .unwrap_or_else(|e| panic!("RSS, HA: {e}"));
    figures.push(figure(
        "server RSS per 1,000 idle sessions, HA (Redis + PostgreSQL)",
        Some(ha.per_thousand()),
        ha.note("sessions, devices and activity live in PostgreSQL"),
        ha.raw(),
    ));
    let (db0, db2) = (ha.samples[0].db, ha.samples[2].db);
    figures.push(figure(
        "PostgreSQL database growth per 1,000 idle sessions, HA",
        Some(delta_kib(db0 / 1024, db2 / 1024) / 2.0),
        format!(
            "pg_database_size {:.2} → {:.2} MiB over {} sign-ins (session, device and \
             activity rows, indexes; 8 KiB pages)",
            db0 as f64 / 1048576.0,
            db2 as f64 / 1048576.0,
            2 * SESSIONS
        ),
        json!({ "db_bytes_before": db0, "db_bytes_after": db2, "sessions": 2 * SESSIONS }),
    ));
    figures
}
