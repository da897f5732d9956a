//! Item 7: requests/s and p50/p99 of the hot API endpoints under `wrk`, single node and two
//! replicas on Redis + PostgreSQL, each against `GET /health` of the same servers, with a
//! profile of every phase ([`super::profile`]: CPU µs per request of each process, store round
//! trips per request) so a row that misses its target shows what bounds it.
//!
//! The peer, and why: Jellyfin is not installed here and would not be the same work, so the
//! honest bar on this machine is the server's own HTTP stack with nothing behind it —
//! `GET /health` (same process, same router and middleware, same wrk settings, seconds apart).
//! It is an upper bound, not a competitor: the ratio says how much of the HTTP ceiling an
//! endpoint keeps once it does its store work (token lookup, metadata query, writes).
//!
//! Same client budget in both modes: 16 connections and 2 wrk threads in total (single node:
//! one `wrk -t2 -c16`; two replicas: one `wrk -t1 -c8` per replica at once, since wrk cannot
//! alternate hosts — the even split a round-robin balancer makes).
//!
//! Progress is reported by [`VIEWERS`] sessions, each for the item it plays
//! (`progress_viewers.lua`); the old shape (one session, a new item on every report,
//! `progress.lua`) stays as an untargeted HA row. The "beside" phase runs the three targeted
//! endpoints at once on the HA cluster, each with its usual 16-connection budget (48 in all):
//! each endpoint's p99 with the other two as the second load of issue 19.

use std::path::Path;

use serde_json::json;
use tokio::runtime::Runtime;

use super::library::MOVIES;
use super::profile::{Probe, Profile};
use super::setup::{Cluster, Stores};
use super::wrk::{combine, WrkRun, WrkStats};
use crate::report::{Better, Figure};
use crate::Opts;

const CONNECTIONS: u32 = 16;
const PAGE: usize = 20;
/// Sessions reporting progress at once.
const VIEWERS: usize = 16;
/// Issue 19: p99 of each HA endpoint alone, and beside the other two, ms.
const P99_MS: f64 = 10.0;
const P99_BESIDE_MS: f64 = 25.0;

struct Endpoint {
    name: &'static str,
    script: &'static str,
    /// Target ratio to /health: (single node, HA).
    target: (Option<f64>, Option<f64>),
}

const ITEMS: Endpoint = Endpoint {
    name: "GET /Users/{id}/Items (page of 20 of 121)",
    script: "items.lua",
    target: (None, Some(0.2)),
};
const ITEM: Endpoint = Endpoint {
    name: "GET /Items/{id}",
    script: "item.lua",
    target: (None, Some(0.3)),
};
const PROGRESS: Endpoint = Endpoint {
    name: "POST /Sessions/Playing/Progress (16 viewers, each reporting its own item)",
    script: "progress_viewers.lua",
    target: (Some(0.3), Some(0.3)),
};
const PROGRESS_ONE: Endpoint = Endpoint {
    name: "POST /Sessions/Playing/Progress (one session, a new item each report)",
    script: "progress.lua",
    target: (None, None),
};

/// The targeted endpoints, in phase order.
const TARGETED: [&Endpoint; 3] = [&ITEMS, &ITEM, &PROGRESS];

/// A mode's servers, signed-in viewers and probe.
struct Bench<'a> {
    opts: &'a Opts,
    cluster: &'a Cluster,
    viewers: Vec<String>,
    probe: Probe,
    label: &'a str,
}

/// One measured phase: per endpoint its stats and command line, and the phase's profile.
struct Measured {
    stats: Vec<(WrkStats, String)>,
    profile: Profile,
}

impl Bench<'_> {
    /// One wrk per replica (connections split evenly) for `script`.
    fn runs(&self, script: &str) -> Vec<WrkRun> {
        let bases = self.cluster.bases();
        let threads: u32 = if bases.len() == 1 { 2 } else { 1 };
        let n = bases.len();
        bases
            .iter()
            .enumerate()
            .map(|(i, base)| {
                // Replica i's wrk reports for viewers i, i+n, … (a session stays on one wrk).
                let viewers: Vec<String> = self
                    .viewers
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| k % n == i)
                    .map(|(k, t)| format!("{k}:{t}"))
                    .collect();
                WrkRun {
                    base: base.clone(),
                    script: script.into(),
                    connections: CONNECTIONS / n as u32,
                    threads,
                    duration: self.opts.secs,
                    timeout: std::time::Duration::from_secs(10),
                    env: vec![
                        ("HA_TOKEN".into(), self.cluster.token.clone()),
                        ("HA_USER_ID".into(), self.cluster.user.clone()),
                        ("HA_ITEM_IDS".into(), self.cluster.ids.join(",")),
                        ("HA_PAGE_SIZE".into(), PAGE.to_string()),
                        ("HA_PAGES".into(), (MOVIES / PAGE).to_string()),
                        ("HA_THREADS".into(), threads.to_string()),
                        ("HA_VIEWERS".into(), viewers.join(",")),
                    ],
                }
            })
            .collect()
    }

    fn command(&self, runs: &[WrkRun]) -> String {
        let line = runs[0]
            .command_line()
            .split_whitespace()
            .filter(|w| !w.starts_with("HA_VIEWERS=") && !w.starts_with("HA_TOKEN="))
            .collect::<Vec<_>>()
            .join(" ");
        let line = format!("HA_TOKEN=… HA_VIEWERS=… {line}");
        if runs.len() == 1 {
            line
        } else {
            format!("{} × at once, one per replica: {line}", runs.len())
        }
    }

    /// Runs `scripts` at once (each on every replica), profiled.
    fn phase(&self, scripts: &[&str]) -> Result<Measured, String> {
        let plans: Vec<Vec<WrkRun>> = scripts.iter().map(|s| self.runs(s)).collect();
        let start = self.probe.begin();
        let mut children = Vec::new();
        for plan in &plans {
            let mut group = Vec::new();
            for run in plan {
                group.push(run.spawn()?);
            }
            children.push(group);
        }
        let mut stats = Vec::new();
        let mut failure = None;
        for (plan, group) in plans.iter().zip(children) {
            let parts: Vec<Result<WrkStats, String>> =
                group.into_iter().map(WrkRun::finish).collect();
            match parts.into_iter().collect::<Result<Vec<_>, _>>() {
                Ok(parts) => stats.push((combine(&parts), self.command(plan))),
                Err(e) => failure = Some(e),
            }
        }
        let requests = stats.iter().map(|(s, _)| s.requests).sum();
        let profile = self.probe.end(start, requests);
        match failure {
            Some(e) => Err(e),
            None => Ok(Measured { stats, profile }),
        }
    }
}

fn errors_note(s: &WrkStats) -> String {
    if s.errors() == 0 {
        "0 errors".into()
    } else {
        format!(
            "ERRORS: {} socket, {} timeouts, {} status ≥ 400",
            s.socket_errors, s.timeouts, s.status_errors
        )
    }
}

fn failed(name: String, unit: &str, better: Better, err: &str) -> Figure {
    eprintln!("[harness] wrk failed: {err}");
    Figure {
        item: 7,
        name,
        unit: unit.into(),
        ours: None,
        peer: None,
        peer_name: String::new(),
        better,
        target: None,
        command: String::new(),
        note: format!("wrk failed: {}", err.lines().next().unwrap_or("")),
        raw: serde_json::Value::Null,
    }
}

/// A p99 row against an absolute bound.
fn p99_row(
    name: String,
    stats: &WrkStats,
    bound: f64,
    command: String,
    profile: &Profile,
) -> Figure {
    Figure {
        item: 7,
        name,
        unit: "ms".into(),
        ours: Some(stats.p99_ms),
        peer: Some(bound),
        peer_name: format!("issue 19 target (p99 ≤ {bound:.0} ms)"),
        better: Better::Lower,
        target: Some(1.0),
        command,
        note: format!(
            "p50 {:.2} ms, max {:.1} ms; {} requests, {}; {}",
            stats.p50_ms,
            stats.max_ms,
            stats.requests,
            errors_note(stats),
            profile.note()
        ),
        raw: json!({ "ours": stats_json(stats), "profile": profile.json() }),
    }
}

/// The figures of one mode (`label`: "single node" or "2 replicas, Redis + PostgreSQL").
fn mode(bench: &Bench<'_>) -> Vec<Figure> {
    let label = bench.label;
    let ha = bench.cluster.replicas.len() > 1;
    let mut figures = Vec::new();
    let peer = bench.phase(&["health.lua"]);
    let mut endpoints: Vec<&Endpoint> = TARGETED.to_vec();
    if ha {
        endpoints.push(&PROGRESS_ONE);
    }
    for e in endpoints {
        let name = format!("{}, {label}", e.name);
        let target = if ha { e.target.1 } else { e.target.0 };
        let ours = bench.phase(&[e.script]);
        let (ours, peer) = match (&ours, &peer) {
            (Ok(o), Ok(p)) => (o, p),
            (Err(err), _) | (_, Err(err)) => {
                figures.push(failed(name, "req/s", Better::Higher, err));
                continue;
            }
        };
        let ((o, command), (p, _)) = (&ours.stats[0], &peer.stats[0]);
        figures.push(Figure {
            item: 7,
            name: name.clone(),
            unit: "req/s".into(),
            ours: Some(o.rate()),
            peer: Some(p.rate()),
            peer_name: "GET /health, same servers and wrk settings (upper bound)".into(),
            better: Better::Higher,
            target,
            command: format!("{command} (peer: the same with health.lua)"),
            note: format!(
                "p50/p99 ms: ours {:.2}/{:.2}, /health {:.2}/{:.2}; {} requests, {}; /health {}; {}; /health: {}",
                o.p50_ms,
                o.p99_ms,
                p.p50_ms,
                p.p99_ms,
                o.requests,
                errors_note(o),
                errors_note(p),
                ours.profile.note(),
                peer.profile.note()
            ),
            raw: json!({
                "ours": stats_json(o),
                "peer": stats_json(p),
                "replicas": bench.cluster.replicas.len(),
                "profile": ours.profile.json(),
                "peer_profile": peer.profile.json(),
            }),
        });
        if ha && target.is_some() {
            figures.push(p99_row(
                format!("{} p99 (ms), {label}", e.name),
                o,
                P99_MS,
                command.clone(),
                &ours.profile,
            ));
        }
    }
    if ha {
        figures.extend(beside(bench));
    }
    figures
}

/// The three targeted endpoints at once, each at its usual budget: one row per endpoint.
fn beside(bench: &Bench<'_>) -> Vec<Figure> {
    let scripts: Vec<&str> = TARGETED.iter().map(|e| e.script).collect();
    let name = |e: &Endpoint| {
        format!(
            "{} p99 beside the other two rows (ms), {}",
            e.name, bench.label
        )
    };
    match bench.phase(&scripts) {
        Err(err) => TARGETED
            .iter()
            .map(|e| failed(name(e), "ms", Better::Lower, &err))
            .collect(),
        Ok(m) => TARGETED
            .iter()
            .zip(&m.stats)
            .map(|(e, (stats, command))| {
                let mut row = p99_row(
                    name(e),
                    stats,
                    P99_BESIDE_MS,
                    format!(
                        "{command}, at once with the other two endpoints' runs (each 16 connections; 48 in all)"
                    ),
                    &m.profile,
                );
                row.note = format!("{} (profile: all three endpoints together)", row.note);
                row
            })
            .collect(),
    }
}

fn stats_json(s: &WrkStats) -> serde_json::Value {
    json!({
        "requests": s.requests, "secs": s.secs, "rate": s.rate(),
        "p50_ms": s.p50_ms, "p99_ms": s.p99_ms, "max_ms": s.max_ms,
        "socket_errors": s.socket_errors, "timeouts": s.timeouts, "status_errors": s.status_errors,
    })
}

/// Single node, then two replicas on `stores`.
pub fn run(opts: &Opts, rt: &Runtime, media: &Path, stores: &Stores) -> Vec<Figure> {
    let mut figures = Vec::new();
    for (label, stores, n) in [
        ("single node, in-process stores", None, 1),
        ("2 replicas, Redis + PostgreSQL", Some(stores), 2),
    ] {
        let cluster = rt
            .block_on(Cluster::start(media, stores, n))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let viewers = rt
            .block_on(cluster.sign_in_viewers(VIEWERS))
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        let bench = Bench {
            opts,
            probe: Probe::new(cluster.pids(), stores),
            cluster: &cluster,
            viewers,
            label,
        };
        if stores.is_some() {
            // Let the setup's PostgreSQL counters reach pg_stat_database first.
            std::thread::sleep(std::time::Duration::from_secs(11));
        }
        figures.extend(mode(&bench));
    }
    figures
}
