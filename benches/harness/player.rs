//! Item 7, with a real player (issue 16): hls.js in Debian's headless chromium through HAProxy
//! (the README's settings) in front of two release replicas on private Redis and PostgreSQL,
//! the job's owner SIGKILLed or SIGTERMed once the player has fragment 1, with about 6 s and
//! about 15 s of forward buffer (hls.js `maxBufferLength`).
//!
//! Why beside the `failover` section: that one times the gap of a client that fetches segments
//! back to back; a player buffers ahead, times its requests out and retries by itself, and
//! counts errors the client never would. The scenario is `tests/browser_failover.rs`'s
//! (`tests/support/browser/scenario.rs`), so the test proves what is measured here. Figures per
//! (exit, buffer): the longest stall (median and max of the runs), player errors (all hls.js
//! error events, stalls included), non-2xx answers at the load balancer, time from the exit to
//! the takeover. The targets: 0 player errors, longest stall ≤ 0.5 s at 6 s buffered,
//! takeover ≤ 1.5 s after SIGKILL, 0 non-2xx on SIGTERM.

use serde_json::json;

use crate::report::{Better, Figure};
use crate::Opts;

use ha_test_support::browser::haproxy::LbSettings;
use ha_test_support::browser::scenario::{play_through_owner_exit_in_browser, BrowserOutcome, Lb};
use ha_test_support::browser::{install_player, require_tools};
use ha_test_support::cluster::media::Clip;
use ha_test_support::cluster::owner_exit::Exit;
use ha_test_support::cluster::setup::Shared;

/// The browser test's clip: 30 s of 720p MPEG-2 in 3 s segments.
const CLIP: Clip = Clip {
    secs: 30,
    fps: 25,
    size: (1280, 720),
};

/// Runs `opts.failover_runs` plays of each (exit, buffer) and returns their figures.
pub async fn run(opts: &Opts) -> Vec<Figure> {
    require_tools();
    install_player();
    let redis = ha_testkit::RedisServer::start().await;
    let postgres = ha_testkit::PostgresServer::start().await;
    let mut figures = Vec::new();
    for buffer in [6, 15] {
        for exit in [Exit::Crash, Exit::Term] {
            let mut runs: Vec<Result<BrowserOutcome, String>> = Vec::new();
            for i in 0..opts.failover_runs {
                eprintln!(
                    "[harness] real player {exit:?}, {buffer} s buffered, run {}/{}",
                    i + 1,
                    opts.failover_runs
                );
                let mut shared = Shared::new(redis.url(), postgres.url());
                // The server's default drain (10 s), as deployed.
                shared.extra_args.clear();
                let lb = Lb::Haproxy(LbSettings::recommended());
                let outcome = tokio::spawn(play_through_owner_exit_in_browser(
                    shared, CLIP, lb, exit, buffer,
                ))
                .await
                .map_err(|e| e.to_string());
                if let Ok(o) = &outcome {
                    eprintln!(
                        "[harness] errors {:?}, stalls {:.2} s (longest {:.2} s), lb {:?}, \
                         takeover {:?}",
                        o.play.errors,
                        o.play.stall_total,
                        o.play.stall_longest,
                        o.answers,
                        o.takeover_after
                    );
                }
                runs.push(outcome);
            }
            figures.extend(figures_of(exit, buffer, &runs));
        }
    }
    figures
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

fn figures_of(exit: Exit, buffer: u32, runs: &[Result<BrowserOutcome, String>]) -> Vec<Figure> {
    let ok: Vec<&BrowserOutcome> = runs.iter().filter_map(|r| r.as_ref().ok()).collect();
    let failed: Vec<&String> = runs.iter().filter_map(|r| r.as_ref().err()).collect();
    let how = match exit {
        Exit::Crash => "SIGKILL",
        Exit::Term => "SIGTERM",
        Exit::Pause => "SIGSTOP",
    };
    let longest: Vec<f64> = ok.iter().map(|o| o.play.stall_longest).collect();
    let totals: Vec<f64> = ok.iter().map(|o| o.play.stall_total).collect();
    let errors: usize = ok.iter().map(|o| o.play.errors.len()).sum();
    let loading: usize = ok.iter().map(|o| o.loading_errors().len()).sum();
    let after_exit: usize = ok.iter().map(|o| o.errors_after_exit().len()).sum();
    let non_2xx: u64 = ok
        .iter()
        .map(|o| o.answers.client + o.answers.server_error)
        .sum();
    let takeovers: Vec<f64> = ok
        .iter()
        .filter_map(|o| o.takeover_after.map(|d| d.as_secs_f64()))
        .collect();
    let once = ok.iter().filter(|o| o.every_fragment_once()).count();
    let frames: Vec<u64> = ok.iter().filter_map(|o| o.play.frames).collect();
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let note = format!(
        "{} of {} runs completed{}; longest stall per run [{}] s, stall total per run [{}] s; \
         player errors {errors} ({loading} loading, the rest stalls/buffer holes; {after_exit} at \
         or after the exit, the rest before it): {:?}; player t at the exit {:?}; \
         non-2xx at HAProxy {non_2xx}; exit to takeover [{}] s; every fragment once in {once} \
         of {} runs; frames decoded {frames:?} of {}; hls.js 1.7 defaults but maxBufferLength \
         {buffer} s, HAProxy with the README's settings, 2 release replicas, 30 s 720p MPEG-2",
        ok.len(),
        runs.len(),
        if failed.is_empty() {
            String::new()
        } else {
            format!("; FAILED: {failed:?}")
        },
        list(&longest),
        list(&totals),
        ok.iter().map(|o| o.play.errors.clone()).collect::<Vec<_>>(),
        ok.iter().map(|o| o.exit_player_secs).collect::<Vec<_>>(),
        list(&takeovers),
        ok.len(),
        CLIP.frames(),
    );
    let raw = json!({
        "exit": how,
        "buffer_s": buffer,
        "longest_stall_s": longest,
        "stall_total_s": totals,
        "errors": ok.iter().map(|o| o.play.errors.clone()).collect::<Vec<_>>(),
        "non_2xx": non_2xx,
        "takeover_s": takeovers,
        "failed": failed,
    });
    let row = |name: String, unit: &str, ours: Option<f64>| Figure {
        item: 7,
        name,
        unit: unit.into(),
        ours,
        peer: None,
        peer_name: "issue 16 target".into(),
        better: Better::Lower,
        target: None,
        command: String::new(),
        note: note.clone(),
        raw: raw.clone(),
    };
    let label = format!("real player (hls.js), owner {how}, {buffer} s buffered");
    let mut rows = vec![
        row(
            format!("{label}: longest stall, median of {}", ok.len()),
            "s",
            median(longest.clone()),
        ),
        row(
            format!("{label}: longest stall, max of {}", ok.len()),
            "s",
            longest.iter().copied().reduce(f64::max),
        ),
        row(
            format!("{label}: player errors, all runs (target 0)"),
            "errors",
            Some(errors as f64),
        ),
        row(
            format!("{label}: player errors at or after the exit, all runs (target 0)"),
            "errors",
            Some(after_exit as f64),
        ),
        row(
            format!("{label}: non-2xx at the load balancer, all runs (target 0)"),
            "answers",
            Some(non_2xx as f64),
        ),
    ];
    if exit == Exit::Crash {
        rows.push(row(
            format!("{label}: kill to takeover, median (target ≤ 1.5 s)"),
            "s",
            median(takeovers),
        ));
    }
    rows
}
