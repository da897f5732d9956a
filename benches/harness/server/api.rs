//! Item 7: requests/s and p50/p99 of the hot API endpoints under `wrk`, single node and two
//! replicas on Redis + PostgreSQL, each against `GET /health` of the same servers.
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

use std::path::Path;

use serde_json::json;
use tokio::runtime::Runtime;

use super::library::MOVIES;
use super::setup::{Cluster, Stores};
use super::wrk::{combine, run_split, WrkRun, WrkStats};
use crate::report::{Better, Figure};
use crate::Opts;

const CONNECTIONS: u32 = 16;
const PAGE: usize = 20;

struct Endpoint {
    name: &'static str,
    script: &'static str,
}

const ENDPOINTS: [Endpoint; 3] = [
    Endpoint {
        name: "GET /Users/{id}/Items (page of 20 of 121)",
        script: "items.lua",
    },
    Endpoint {
        name: "GET /Items/{id}",
        script: "item.lua",
    },
    Endpoint {
        name: "POST /Sessions/Playing/Progress",
        script: "progress.lua",
    },
];

/// One endpoint under wrk on every replica of `cluster`.
fn measure(opts: &Opts, cluster: &Cluster, script: &str) -> Result<(WrkStats, String), String> {
    let bases = cluster.bases();
    let threads = if bases.len() == 1 { 2 } else { 1 };
    let template = WrkRun {
        base: bases[0].clone(),
        script: script.into(),
        connections: CONNECTIONS,
        threads,
        duration: opts.secs,
        timeout: std::time::Duration::from_secs(10),
        env: vec![
            ("HA_TOKEN".into(), cluster.token.clone()),
            ("HA_USER_ID".into(), cluster.user.clone()),
            ("HA_ITEM_IDS".into(), cluster.ids.join(",")),
            ("HA_PAGE_SIZE".into(), PAGE.to_string()),
            ("HA_PAGES".into(), (MOVIES / PAGE).to_string()),
        ],
    };
    let command = if bases.len() == 1 {
        template.command_line()
    } else {
        format!(
            "{} × at once, one per replica: {}",
            bases.len(),
            WrkRun {
                connections: CONNECTIONS / bases.len() as u32,
                ..template.clone()
            }
            .command_line()
        )
    };
    let parts = run_split(&template, &bases)?;
    Ok((combine(&parts), command))
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

/// The figures of one mode (`label`: "single node" or "2 replicas, Redis + PostgreSQL").
fn mode(opts: &Opts, cluster: &Cluster, label: &str) -> Vec<Figure> {
    let peer = measure(opts, cluster, "health.lua");
    let mut figures = Vec::new();
    for e in &ENDPOINTS {
        let name = format!("{}, {label}", e.name);
        let ours = measure(opts, cluster, e.script);
        let (ours, command, peer_stats) = match (&ours, &peer) {
            (Ok((o, cmd)), Ok((p, _))) => (o, cmd.clone(), p),
            (Err(err), _) | (_, Err(err)) => {
                eprintln!("[harness] wrk failed: {err}");
                figures.push(Figure {
                    item: 7,
                    name,
                    unit: "req/s".into(),
                    ours: None,
                    peer: None,
                    peer_name: "GET /health, same servers".into(),
                    better: Better::Higher,
                    target: None,
                    command: String::new(),
                    note: format!("wrk failed: {}", err.lines().next().unwrap_or("")),
                    raw: serde_json::Value::Null,
                });
                continue;
            }
        };
        figures.push(Figure {
            item: 7,
            name,
            unit: "req/s".into(),
            ours: Some(ours.rate()),
            peer: Some(peer_stats.rate()),
            peer_name: "GET /health, same servers and wrk settings (upper bound)".into(),
            better: Better::Higher,
            target: None,
            command: format!("{command} (peer: the same with health.lua)"),
            note: format!(
                "p50/p99 ms: ours {:.2}/{:.2}, /health {:.2}/{:.2}; {} requests, {}; /health {}",
                ours.p50_ms,
                ours.p99_ms,
                peer_stats.p50_ms,
                peer_stats.p99_ms,
                ours.requests,
                errors_note(ours),
                errors_note(peer_stats)
            ),
            raw: json!({
                "ours": stats_json(ours),
                "peer": stats_json(peer_stats),
                "replicas": cluster.replicas.len(),
            }),
        });
    }
    figures
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
        figures.extend(mode(opts, &cluster, label));
    }
    figures
}
