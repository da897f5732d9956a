//! The SIGTERM drain of a reference-server *process* on real Redis and PostgreSQL: readiness
//! fails at once while every other request is still answered for the drain window, then the
//! process exits cleanly; a second signal ends it at once. With two replicas, the draining
//! replica's transcode is handed over at the *start* of the window (leases and events in Redis,
//! and in PostgreSQL alone): the other replica owns the job long before the window ends,
//! while the draining one still answers segment requests with 200.
//!
//! Spawns the `ha-test-server` binary (`media_ha_server::run::main`, the same code as the
//! installed server). Needs `HA_TEST_REDIS_URL` / `HA_TEST_DATABASE_URL` (see
//! `scripts/services.sh`).

use ha_test_support::cluster;

use std::time::{Duration, Instant};

use cluster::client::Client;
use cluster::job::JobView;
use cluster::media::Clip;
use cluster::playback::Playback;
use cluster::replica::Replica;
use cluster::setup::{Cluster, Shared};
use cluster::{ADMIN, ADMIN_PW, PATIENCE};
use media_ha::core::JobState;
use reqwest::StatusCode;
use serde_json::json;

const CLIP: Clip = Clip {
    secs: 3,
    fps: 25,
    size: (320, 240),
};

async fn one_replica(drain: &str) -> (Replica, reqwest::Client, Shared) {
    let mut shared = Shared::from_test_env().await;
    shared.extra_args = vec!["--shutdown-drain".into(), drain.into()];
    let mut replica = Replica::start("r1", &shared, &CLIP.library());
    let http = reqwest::Client::new();
    replica.wait_ready(&http).await;
    (replica, http, shared)
}

async fn status(http: &reqwest::Client, url: String) -> Option<StatusCode> {
    http.get(url).send().await.ok().map(|r| r.status())
}

/// While draining, a signed-in client keeps getting answers (public and authenticated
/// requests) from the replica whose readiness fails; after the window it exits with 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_replica_answers_while_unready() {
    let (mut replica, http, _shared) = one_replica("4s").await;
    let client = Client::new();
    let base = replica.base().to_owned();
    let (code, auth) = client
        .post(
            &base,
            "/Users/AuthenticateByName",
            json!({ "Username": ADMIN, "Pw": ADMIN_PW }),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{auth}");
    let token = auth["AccessToken"].as_str().expect("a token").to_owned();
    let mut authed = Client::new();
    authed.token = Some(token);

    let signalled = Instant::now();
    replica.terminate();
    let mut answered = 0;
    let mut unready = 0;
    // Well inside the 4 s window: every request must be answered.
    while signalled.elapsed() < Duration::from_secs(3) {
        let ready = status(&http, format!("{base}/health/ready")).await;
        if ready == Some(StatusCode::SERVICE_UNAVAILABLE) {
            unready += 1;
        } else {
            // Only the first look may still race the signal handler.
            assert!(
                signalled.elapsed() < Duration::from_millis(500),
                "readiness still {ready:?} {:?} after SIGTERM",
                signalled.elapsed()
            );
        }
        assert_eq!(
            status(&http, format!("{base}/health")).await,
            Some(StatusCode::OK),
            "liveness keeps answering while draining"
        );
        let (code, info) = client.get(&base, "/System/Info/Public").await;
        assert_eq!(code, StatusCode::OK, "{info}");
        let (code, me) = authed.get(&base, "/Users/Me").await;
        assert_eq!(code, StatusCode::OK, "{me}");
        answered += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        unready > 0 && answered > 10,
        "{unready} unready, {answered} answered"
    );
    let exit = replica.wait_exit(Duration::from_secs(30)).await;
    assert!(
        exit.is_some_and(|s| s.success()),
        "{exit:?}\n{}",
        replica.log_tail()
    );
    assert!(
        signalled.elapsed() >= Duration::from_secs(4),
        "exited before its drain window ended"
    );
    assert_eq!(status(&http, format!("{base}/health")).await, None);
}

/// A second SIGTERM cuts a long drain short: the process exits at once with 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let (mut replica, http, _shared) = one_replica("120s").await;
    let base = replica.base().to_owned();
    replica.terminate();
    let deadline = Instant::now() + Duration::from_secs(10);
    while status(&http, format!("{base}/health/ready")).await
        != Some(StatusCode::SERVICE_UNAVAILABLE)
    {
        assert!(Instant::now() < deadline, "{}", replica.log_tail());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    replica.terminate();
    // Far less than the 120 s window.
    let exit = replica.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(
        exit.and_then(|s| s.code()),
        Some(130),
        "{}",
        replica.log_tail()
    );
}

/// 30 s at 720p (as in `server_failover.rs`): still transcoding when its owner is stopped.
const LONG_CLIP: Clip = Clip {
    secs: 30,
    fps: 25,
    size: (1280, 720),
};

/// The drain window of the handover scenario: long enough that "handed over at its start"
/// and "released at its end" cannot be confused, short enough for CI.
const HANDOVER_DRAIN: Duration = Duration::from_secs(12);

/// Two replicas; a viewer fetches two segments; the job's owner gets SIGTERM. The other
/// replica must own the job (record and lease) well inside the drain window — handed over at
/// its start, not released at its end — while the draining replica answers the next segment
/// requests with 200 (segments the new owner makes) and never takes the job back; then it
/// exits cleanly once the window is over.
async fn handover_at_drain_start(shared: Shared) {
    // One at a time: two 720p transcodes at once on a small machine only slow both down.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let mut shared = shared;
    let window = format!("{}s", HANDOVER_DRAIN.as_secs());
    shared.extra_args = vec!["--shutdown-drain".into(), window.into()];
    let store = shared.lease_store();
    let mut cluster = Cluster::start(shared, 2, LONG_CLIP).await;
    let endpoints = cluster.endpoints();
    let mut client = Client::new();
    let playback = Playback::open(&mut client, &endpoints, &LONG_CLIP).await;
    let jobs = JobView::connect(&cluster.shared).await;
    for (i, segment) in playback.segments[..2].iter().enumerate() {
        let (code, _) = segment_from(&client, &endpoints[i % 2].base, segment).await;
        assert_eq!(code, StatusCode::OK, "segment {i}");
    }
    let job = jobs.the_job().await;
    let total = playback.segments.len() as u32;
    assert!(
        job.state == JobState::Running && job.last_segment.is_none_or(|s| s + 2 < total),
        "the transcode must still run when its owner is stopped: {job:?}"
    );
    let owner = cluster.index_of(&job.owner_node);
    let other = endpoints[1 - owner].node.clone();
    let draining = endpoints[owner].base.clone();

    let signalled = Instant::now();
    cluster.replicas[owner].terminate();
    let moved = loop {
        let now = jobs.the_job().await;
        if now.owner_node == other {
            assert!(now.token > job.token, "a new tenure: {now:?}");
            break signalled.elapsed();
        }
        assert!(
            signalled.elapsed() < HANDOVER_DRAIN,
            "[{store}] not handed over within the drain window\n{}",
            cluster.replicas[owner].log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("[{store}] job owned by {other} {moved:.2?} after SIGTERM of its owner");
    assert_eq!(
        jobs.lease_holder(&job).await.as_deref(),
        Some(other.as_str())
    );

    // The draining replica still serves the stream: the next segments, made by the new owner.
    let mut retried = 0;
    for (i, segment) in playback.segments.iter().enumerate().skip(2).take(2) {
        let (code, retries) = segment_from(&client, &draining, segment).await;
        retried += retries;
        assert_eq!(
            code,
            StatusCode::OK,
            "[{store}] segment {i} from the draining replica\n{}",
            cluster.replicas[owner].log_tail()
        );
        assert!(
            !cluster.replicas[owner].exited(),
            "segment {i} answered by a replica that has exited"
        );
    }
    println!(
        "[{store}] segments 2 and 3 served by the draining replica {:.2?} after SIGTERM ({retried} \
         answers 503 + Retry-After, retried)",
        signalled.elapsed()
    );
    let now = jobs.the_job().await;
    assert_eq!(
        now.owner_node, other,
        "the draining replica took the job back"
    );

    let exit = cluster.replicas[owner].wait_exit(PATIENCE).await;
    assert!(
        exit.is_some_and(|s| s.success()),
        "{exit:?}\n{}",
        cluster.replicas[owner].log_tail()
    );
    assert!(
        signalled.elapsed() >= HANDOVER_DRAIN,
        "exited before its drain window ended"
    );
}

/// `GET` of a segment, retried as players do while the answer is 503 with `Retry-After` (a
/// segment not ready within the server's segment wait); the final status and the retries.
async fn segment_from(client: &Client, base: &str, segment: &str) -> (StatusCode, usize) {
    let mut retries = 0;
    loop {
        let (code, _) = client
            .get_bytes(base, segment)
            .await
            .unwrap_or_else(|e| panic!("GET {segment} on {base}: {e}"));
        if code != StatusCode::SERVICE_UNAVAILABLE || retries >= 5 {
            return (code, retries);
        }
        retries += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_the_transcode_over_at_the_start_of_the_drain() {
    handover_at_drain_start(Shared::from_test_env().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_the_transcode_over_at_the_start_of_the_drain_on_postgres() {
    handover_at_drain_start(Shared::from_test_env().await.postgres_only()).await;
}
