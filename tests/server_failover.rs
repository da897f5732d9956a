//! Failover of an HLS transcode between reference-server *processes*.
//!
//! Replicas of `examples/reference-server` (built by `cargo test` itself) share one Redis, one
//! PostgreSQL and one transcode directory; a viewer plays a transcoded 720p clip (30 s; 18 s for the
//! rolling restart; 3 s segments) by sending its requests round-robin to the replicas that are up. The scenarios
//! live in `tests/support/cluster/` (the bench harness times the same ones):
//!
//! * `owner_killed_mid_stream_survivor_finishes_it` (leases in Redis) and
//!   `owner_killed_mid_stream_on_postgres` (no Redis): two replicas; SIGKILL of the owner's
//!   whole process group (server and worker: a node that dies). The survivor takes the job over
//!   once the owner's liveness record (1 s) has lapsed, not the job lease (5 s): its
//!   `/metrics` must count a liveness takeover.
//! * `owner_paused_past_its_liveness_is_fenced` (Redis) and `..._on_postgres`: the owner's
//!   process group is SIGSTOPped for 3 s (past its 1 s liveness record, inside its 5 s lease)
//!   and resumed. The survivor takes over by liveness while the owner still believes in its
//!   lease; every lease operation and fenced write of both replicas is recorded and the
//!   lease-history checker must find 0 violations (a woken owner's writes are fenced).
//! * `owner_stopped_mid_stream_hands_over`: two replicas; SIGTERM of the owner. It stops its
//!   jobs and releases their leases, so the survivor takes over at once.
//! * `rolling_restart_of_every_replica_mid_stream`: three replicas, each SIGTERMed, restarted
//!   with the same flags and waited for in turn while the viewer keeps streaming.
//!
//! All check that every segment arrives, that the stitched stream decodes with every frame once
//! and strictly continuous timestamps, and that the watch position survives the replica it was
//! reported through. The stalls (gaps between two segment responses) are printed
//! (`--nocapture`) and bounded only generously, by multiples of the lease TTL: the machine this
//! runs on is shared; `scripts/bench.sh --only failover` measures them.
//!
//! Runs the example binary next to this test binary: `cargo build --features full --example
//! reference-server` first (a plain `cargo test --features full` builds it too). Needs the ffmpeg
//! CLI, and `HA_TEST_REDIS_URL` / `HA_TEST_DATABASE_URL` (see `scripts/services.sh`); each run
//! uses its own Redis prefix and PostgreSQL schema.

use ha_test_support::cluster;

use std::future::Future;

use cluster::lease_ttl;
use cluster::media::Clip;
use cluster::owner_exit::{play_through_owner_exit, Exit};
use cluster::rolling::play_through_rolling_restart;
use cluster::setup::Shared;

/// 30 s at 720p: long enough that the transcode is still running when the owner goes away.
const CLIP: Clip = Clip {
    secs: 30,
    fps: 25,
    size: (1280, 720),
};

/// 18 s at 720p for the rolling restart: every handover restarts the transcode on the next
/// owner, so the stream outlasts the three restarts even on a short clip (the first restart
/// lands on the running owner: its worker has at most one segment done of six).
const ROLLING_CLIP: Clip = Clip { secs: 18, ..CLIP };

/// One scenario at a time: two transcodes at once on a small machine would blur the stalls.
fn run<F: Future>(scenario: impl FnOnce() -> F) -> F::Output {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ha_core::sync::lock(&ONE_AT_A_TIME);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(scenario())
}

fn owner_exit(exit: Exit) {
    let outcome =
        run(|| async { play_through_owner_exit(Shared::from_test_env().await, CLIP, exit).await });
    println!("{}", outcome.summary());
}

#[test]
fn owner_killed_mid_stream_survivor_finishes_it() {
    owner_exit(Exit::Crash);
}

#[test]
fn owner_killed_mid_stream_on_postgres() {
    let outcome = run(|| async {
        let shared = Shared::from_test_env().await.postgres_only();
        play_through_owner_exit(shared, CLIP, Exit::Crash).await
    });
    println!("[postgres] {}", outcome.summary());
}

fn owner_paused(postgres_only: bool) {
    let outcome = run(|| async {
        let mut shared = Shared::from_test_env().await.with_history();
        if postgres_only {
            shared = shared.postgres_only();
        }
        println!("leases in {}", shared.lease_store());
        play_through_owner_exit(shared, CLIP, Exit::Pause).await
    });
    println!("{}", outcome.summary());
    assert!(outcome.history.is_some(), "the history was checked");
}

#[test]
fn owner_paused_past_its_liveness_is_fenced() {
    owner_paused(false);
}

#[test]
fn owner_paused_past_its_liveness_is_fenced_on_postgres() {
    owner_paused(true);
}

#[test]
fn owner_stopped_mid_stream_hands_over() {
    owner_exit(Exit::Term);
}

#[test]
fn rolling_restart_of_every_replica_mid_stream() {
    let outcome = run(|| async {
        play_through_rolling_restart(Shared::from_test_env().await, ROLLING_CLIP).await
    });
    println!("{}", outcome.summary());
    // Generous: a handover that silently fell back to lease expiry still fits under it on a
    // loaded machine; a stream that hangs does not.
    let (worst, at) = outcome.timeline.longest();
    assert!(
        worst < lease_ttl() * 3,
        "stall of {worst:?} before segment {at}: more than three lease TTLs"
    );
    assert!(
        outcome.restarts[0].handed_over(),
        "the first restart stops the job's owner mid-transcode: {:?}",
        outcome.restarts[0]
    );
}
