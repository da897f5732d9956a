//! The SIGTERM drain of a reference-server *process* on real Redis and PostgreSQL: readiness
//! fails at once while every other request is still answered for the drain window, then the
//! process exits cleanly; a second signal ends it at once.
//!
//! Spawns the `ha-test-server` binary (`media_ha_server::run::main`, the same code as the
//! installed server). Needs `HA_TEST_REDIS_URL` / `HA_TEST_DATABASE_URL` (see
//! `scripts/services.sh`).

use ha_test_support::cluster;

use std::time::{Duration, Instant};

use cluster::client::Client;
use cluster::media::Clip;
use cluster::replica::Replica;
use cluster::setup::Shared;
use cluster::{ADMIN, ADMIN_PW};
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
