//! Item 7, failover: how long a viewer stalls when the replica that owns its transcode is
//! SIGKILLed (a node dies: the survivor takes over once its liveness record lapses) or SIGTERMed (a
//! rolling restart: the owner releases its leases on the way out), median and max of several
//! runs, in release mode.
//!
//! Why this drives the very scenario `tests/server_failover.rs` runs (`tests/support/cluster/`,
//! included below): the stall is only worth reporting for a stream that is proven whole, so
//! every run here also checks every segment, every frame once and the watch position. A run
//! that fails a check is reported as failed in the note, never timed.
//!
//! The reference figure is the configured job lease TTL: the bound a SIGKILL stall should stay
//! near (plus the time to produce one segment on the new owner). A single Jellyfin server has
//! no failover at all: its viewers stall until the process is back and they start over.

use std::time::Duration;

use serde_json::json;

use crate::report::{Better, Figure};
use crate::Opts;

use ha_test_support::cluster;

use cluster::media::Clip;
use cluster::owner_exit::{play_through_owner_exit, Exit, OwnerExitOutcome, BEFORE_EXIT};
use cluster::setup::Shared;

/// The clip of `tests/server_failover.rs`: 30 s of 720p MPEG-2, so the transcode is still
/// running when the owner goes away after two segments.
const CLIP: Clip = Clip {
    secs: 30,
    fps: 25,
    size: (1280, 720),
};

/// Runs `opts.failover_runs` SIGKILL and SIGTERM runs (alternating) on private Redis and
/// PostgreSQL servers and returns the median and max stall of each.
pub async fn run(opts: &Opts) -> Vec<Figure> {
    let redis = ha_testkit::RedisServer::start().await;
    let postgres = ha_testkit::PostgresServer::start().await;
    let ttl = cluster::lease_ttl();
    let mut runs: Vec<(Exit, Result<OwnerExitOutcome, String>)> = Vec::new();
    for i in 0..opts.failover_runs {
        for exit in [Exit::Crash, Exit::Term] {
            eprintln!(
                "[harness] failover run {}/{} ({exit:?})",
                i + 1,
                opts.failover_runs
            );
            let shared = Shared::new(redis.url(), postgres.url());
            // Its own task: a failed check (a panic) costs this run, not the harness.
            let outcome = tokio::spawn(play_through_owner_exit(shared, CLIP, exit))
                .await
                .map_err(panic_text);
            match &outcome {
                Ok(o) => eprintln!("[harness] {}", o.summary()),
                Err(e) => eprintln!("[harness] failover run failed: {e}"),
            }
            runs.push((exit, outcome));
        }
    }
    [Exit::Crash, Exit::Term]
        .into_iter()
        .flat_map(|exit| figures(exit, &runs, ttl))
        .collect()
}

/// The median and max rows for one kind of exit.
fn figures(
    exit: Exit,
    runs: &[(Exit, Result<OwnerExitOutcome, String>)],
    ttl: Duration,
) -> Vec<Figure> {
    let mine: Vec<&Result<OwnerExitOutcome, String>> = runs
        .iter()
        .filter(|(e, _)| *e == exit)
        .map(|(_, r)| r)
        .collect();
    let failed: Vec<&String> = mine.iter().filter_map(|r| r.as_ref().err()).collect();
    let ok: Vec<&OwnerExitOutcome> = mine.iter().filter_map(|r| r.as_ref().ok()).collect();
    // Only runs whose owner was still transcoding exercise a takeover; the others are listed.
    let mut stalls: Vec<f64> = ok
        .iter()
        .filter(|o| o.took_over)
        .map(|o| o.stall.as_secs_f64())
        .collect();
    stalls.sort_by(f64::total_cmp);
    let mut gaps: Vec<f64> = ok
        .iter()
        .map(|o| o.timeline.median_gap().as_secs_f64())
        .collect();
    gaps.sort_by(f64::total_cmp);
    let median = stalls.get(stalls.len() / 2).copied();
    let max = stalls.last().copied();
    let how = match exit {
        Exit::Crash => "SIGKILL (server and worker)",
        Exit::Term => "SIGTERM (graceful handover)",
        Exit::Pause => "SIGSTOP past its liveness record (false suspicion)",
    };
    let mut takeovers: Vec<f64> = ok
        .iter()
        .filter_map(|o| o.takeover_after.map(|d| d.as_secs_f64()))
        .collect();
    takeovers.sort_by(f64::total_cmp);
    let note = format!(
        "{} of {} runs took the job over{}{}; stall = gap spanning the exit after {BEFORE_EXIT} \
         segments, each run: [{}] s; exit to takeover (job record) [{}] s; normal gap between segments (median of runs' medians) {} s; \
         30 s 720p MPEG-2 clip, 3 s segments, 2 release replicas on private Redis + PostgreSQL",
        stalls.len(),
        mine.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(
                "; FAILED: {}",
                failed
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" / ")
            )
        },
        if ok.iter().any(|o| !o.took_over) {
            "; the others had finished transcoding before the exit (not timed)"
        } else {
            ""
        },
        stalls
            .iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
        takeovers
            .iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
        gaps.get(gaps.len() / 2)
            .map_or("—".into(), |g| format!("{g:.2}")),
    );
    let raw = json!({
        "exit": format!("{exit:?}"),
        "lease_ttl_s": ttl.as_secs_f64(),
        "stalls_s": stalls,
        "failed": failed,
        "runs": ok.iter().map(|o| json!({
            "victim": o.victim,
            "took_over": o.took_over,
            "stall_s": o.stall.as_secs_f64(),
            "takeover_s": o.takeover_after.map(|d| d.as_secs_f64()),
            "liveness_takeovers": o.liveness_takeovers,
            "gaps_s": o.timeline.gaps().iter().map(Duration::as_secs_f64).collect::<Vec<_>>(),
            "served_by": o.timeline.served_by(),
        })).collect::<Vec<_>>(),
    });
    let peer_name = format!(
        "job lease TTL ({} s); a Jellyfin replica has no failover",
        ttl.as_secs_f64()
    );
    [("median", median), ("max", max)]
        .into_iter()
        .map(|(stat, ours)| Figure {
            item: 7,
            name: format!("failover stall, owner {how}, {stat} of {}", stalls.len()),
            unit: "s".into(),
            ours,
            peer: Some(ttl.as_secs_f64()),
            peer_name: peer_name.clone(),
            better: Better::Lower,
            target: None,
            command: String::new(),
            note: note.clone(),
            raw: raw.clone(),
        })
        .collect()
}

fn panic_text(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let p = e.into_panic();
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .map_or("a panic".into(), |s| {
            s.lines().next().unwrap_or("").to_owned()
        })
}
