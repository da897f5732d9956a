//! A real player through a real load balancer while the replica that transcodes dies.
//!
//! hls.js 1.7 (default settings but a 6 s forward buffer, the "about 6 s buffered" of issue
//! 16) in Debian's headless chromium plays a transcoded clip through HAProxy (round robin, the
//! README's settings: `/health/ready` checks, `retry-on` + `redispatch`) in front of two
//! reference-server processes on Redis + PostgreSQL and one shared transcode directory. Once
//! the player has fragment 1, the job's owner is SIGKILLed (server and worker: a dead node), or
//! SIGTERMed (a rolling restart: the server's default 10 s drain, in which it hands its
//! transcode over at once and keeps answering while HAProxy's checks take it out of rotation).
//! The player must not notice: no loading error (a 5xx, a timeout, a dead connection), no fatal
//! error, every fragment loaded exactly once, the play reaches the end, and the survivor owns
//! the job; on SIGTERM the load balancer answers nothing but 2xx. Stalls are printed, never
//! asserted (timing on a shared machine; the bench measures them).
//!
//! `load_balancer_configurations` (ignored: about 7 minutes, figures only) plays the same
//! scenario through every configuration of the README's load-balancer section and one with
//! none of its settings, SIGKILL and SIGTERM each, and prints a table row per run:
//! `cargo test -p ha-test-support --test browser_failover -- --ignored --nocapture`.
//!
//! Needs chromium, haproxy, nginx, node/npm (`scripts/install-deps.sh`), the npm packages
//! (`tests/browser/install.sh`, run by the test) and `HA_TEST_REDIS_URL` /
//! `HA_TEST_DATABASE_URL` (`scripts/services.sh`). About a minute each: the clip plays in real
//! time.

use ha_test_support::browser::haproxy::LbSettings;
use ha_test_support::browser::nginx::NginxRetry;
use ha_test_support::browser::scenario::{play_through_owner_exit_in_browser, BrowserOutcome, Lb};
use ha_test_support::browser::{install_player, require_tools};
use ha_test_support::cluster::media::Clip;
use ha_test_support::cluster::owner_exit::Exit;
use ha_test_support::cluster::setup::Shared;

/// 30 s at 720p: the transcode is still running when the owner goes after fragment 1.
const CLIP: Clip = Clip {
    secs: 30,
    fps: 25,
    size: (1280, 720),
};

/// hls.js's forward buffer.
const BUFFER_SECS: u32 = 6;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn describe(o: &BrowserOutcome) -> String {
    format!(
        "player: ended {}, {} frames, errors {:?}, {} stalls ({:.2} s, longest {:.2} s); \
         fragments {:?}; takeover {:?} after the exit ({} -> {}); load balancer answered {:?}\n{}",
        o.play.ended,
        o.play.frames.unwrap_or(0),
        o.play.errors,
        o.play.stalls,
        o.play.stall_total,
        o.play.stall_longest,
        o.play.fragments_loaded,
        o.takeover_after,
        o.victim,
        o.owner_after,
        o.answers,
        o.play.timeline,
    )
}

/// Plays the clip through HAProxy with the README's settings while the owner goes by `exit`,
/// and asserts the player noticed nothing.
fn player_does_not_notice(exit: Exit) -> BrowserOutcome {
    // One at a time: two players and four replicas at once on a small machine would stall
    // each other, not show the failover.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ha_core::sync::lock(&ONE_AT_A_TIME);
    require_tools();
    install_player();
    let o = runtime().block_on(async {
        let mut shared = Shared::from_test_env().await;
        if exit == Exit::Term {
            // The server's default drain (10 s), not the cluster tests' 1 s: what a deployment
            // runs, and longer than HAProxy needs to take the replica out of rotation.
            shared.extra_args.clear();
        }
        play_through_owner_exit_in_browser(
            shared,
            CLIP,
            Lb::Haproxy(LbSettings::recommended()),
            exit,
            BUFFER_SECS,
        )
        .await
    });
    let text = describe(&o);
    eprintln!("{text}");
    assert_ne!(o.owner_after, o.victim, "the survivor took the job over");
    assert!(o.play.ended, "the play reached the end: {text}");
    assert_eq!(o.play.fatal, 0, "{text}");
    assert!(
        o.loading_errors().is_empty(),
        "the player saw the failover: {text}"
    );
    assert!(
        o.every_fragment_once(),
        "every fragment loaded exactly once: {text}"
    );
    o
}

#[test]
fn hls_js_plays_through_a_sigkill_of_the_owner_behind_haproxy() {
    player_does_not_notice(Exit::Crash);
}

#[test]
fn hls_js_plays_through_a_sigterm_of_the_owner_behind_haproxy() {
    let o = player_does_not_notice(Exit::Term);
    assert_eq!(
        o.answers.client + o.answers.server_error,
        0,
        "a draining replica is left by the load balancer without a single non-2xx: {}",
        describe(&o)
    );
}

#[test]
#[ignore = "figures for the README's load-balancer section: ~7 minutes"]
fn load_balancer_configurations() {
    require_tools();
    install_player();
    let configs = [
        (
            "HAProxy, README settings",
            Lb::Haproxy(LbSettings::recommended()),
        ),
        ("HAProxy, none of them", Lb::Haproxy(LbSettings::none())),
        ("nginx, README settings", Lb::Nginx(NginxRetry::Recommended)),
        ("nginx, retries off", Lb::Nginx(NginxRetry::Off)),
    ];
    let mut rows = Vec::new();
    for (name, lb) in configs {
        for exit in [Exit::Crash, Exit::Term] {
            let o = runtime().block_on(async {
                let mut shared = Shared::from_test_env().await;
                // The server's default drain (10 s), not the cluster tests' 1 s: what a
                // deployment runs.
                shared.extra_args.clear();
                play_through_owner_exit_in_browser(shared, CLIP, lb, exit, BUFFER_SECS).await
            });
            eprintln!("{}", describe(&o));
            // Whatever the load balancer does, the stores hand the job over.
            assert_ne!(o.owner_after, o.victim, "{name} {exit:?}: no takeover");
            let loading = o.loading_errors();
            rows.push(format!(
                "| {name} | {} | {} | {} | {:.2} s / {:.2} s | {} non-2xx of {} | {} | {} |",
                if exit == Exit::Crash {
                    "SIGKILL"
                } else {
                    "SIGTERM"
                },
                if loading.is_empty() {
                    "none".to_owned()
                } else {
                    format!("{loading:?}")
                },
                o.play.fatal,
                o.play.stall_total,
                o.play.stall_longest,
                o.answers.client + o.answers.server_error,
                o.answers.ok + o.answers.client + o.answers.server_error,
                o.takeover_after.map_or("not seen".to_owned(), |d| format!(
                    "{:.2} s",
                    d.as_secs_f64()
                )),
                if o.every_fragment_once() { "yes" } else { "NO" },
            ));
        }
    }
    println!("| load balancer | owner | player loading errors | fatal | stall total / longest | at the load balancer | takeover after the exit | every fragment once |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
}
