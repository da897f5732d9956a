//! Two OS processes race for one lease: exactly one wins.
//!
//! The test binary re-executes itself: with `HA_CONTEND_KEY` set, the `contender` test acts
//! as one contender (acquires, prints the outcome, holds on a little), otherwise it is a no-op.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use ha_core::LeaseManager;

const KEY_VAR: &str = "HA_CONTEND_KEY";
const PREFIX_VAR: &str = "HA_CONTEND_PREFIX";
const START_VAR: &str = "HA_CONTEND_START_MS";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contender() {
    let (Ok(key), Ok(prefix), Ok(start)) = (
        std::env::var(KEY_VAR),
        std::env::var(PREFIX_VAR),
        std::env::var(START_VAR),
    ) else {
        return; // not a child run
    };
    let store = common::store_with_prefix(&prefix).await;
    let leases = store.leases();
    // Line both processes up on one wall-clock instant so the calls really race.
    let start: u64 = start.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(start.saturating_sub(now))).await;
    let holder = format!("pid-{}", std::process::id());
    let outcome = leases
        .try_acquire(&key, &holder, Duration::from_secs(30))
        .await
        .unwrap();
    match outcome {
        Some(lease) => println!("CONTEND-RESULT won {}", lease.token),
        None => println!("CONTEND-RESULT lost"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_one_winner() {
    let exe = std::env::current_exe().unwrap();
    let url = ha_testkit::redis_url().await;
    for round in 0..3 {
        let key = ha_testkit::unique("contended");
        let prefix = ha_testkit::unique("contention");
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 1500;
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(&exe)
                    .args(["--exact", "contender", "--nocapture", "--test-threads", "1"])
                    .env(KEY_VAR, &key)
                    .env(PREFIX_VAR, &prefix)
                    .env(START_VAR, start.to_string())
                    .env("HA_TEST_REDIS_URL", &url)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut won = 0;
        let mut lost = 0;
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "child failed: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // libtest prints "test contender ... " on the same line first.
            let line = stdout
                .lines()
                .find_map(|l| l.split_once("CONTEND-RESULT").map(|(_, r)| r))
                .unwrap_or_else(|| panic!("no result from child: {stdout}"));
            if line.contains("won") {
                won += 1;
            } else {
                lost += 1;
            }
        }
        assert_eq!((won, lost), (1, 1), "round {round}");

        // And the store agrees: one live lease on the key.
        let store = common::store_with_prefix(&prefix).await;
        let current = store.leases().current(&key).await.unwrap();
        assert!(current.is_some_and(|l| l.holder.starts_with("pid-")));
    }
}
