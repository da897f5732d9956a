//! The official TypeScript SDK, `@jellyfin/sdk` 1.0 (unchanged, from npm), drives the reference
//! server as an app built on it would (issue 15, Tests, third bullet): discovery grades the
//! server a good candidate (the SDK's `RecommendedServerDiscovery` score), browsing with list
//! parameters sent as repeated keys, item detail with `MediaSources`, PlaybackInfo followed to
//! the HLS master playlist, play-state reports, the resume row at the reported position, the
//! played and favourite filters, and sign-out (a later call answers 401).
//!
//! The script is `tests/sdk_client/flow.mjs`; its packages (`tests/sdk_client/package.json`,
//! pinned) are installed once by `tests/browser/install.sh tests/sdk_client` into the
//! git-ignored `tests/sdk_client/node_modules`. Needs `node` and `npm`
//! (`scripts/install-deps.sh`): without them the test fails and says so.

use std::path::PathBuf;
use std::time::Duration;

use ha_test_support::in_process as common;

use common::*;
use serde_json::Value;

const GRACE: Duration = Duration::from_secs(5);

fn sdk_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sdk_client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_browses_plays_resumes_and_signs_out() {
    ha_test_support::browser::install_node_packages(&sdk_dir());
    let (srv, _data) = start_fresh().await;
    let out = tokio::process::Command::new("node")
        .arg(sdk_dir().join("flow.mjs"))
        .current_dir(sdk_dir())
        .env("MEDIA_HA_BASE", srv.base_url())
        .env("MEDIA_HA_USER", ADMIN)
        .env("MEDIA_HA_PW", ADMIN_PW)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .expect("the SDK flow finishes within a minute")
        .expect("node runs (scripts/install-deps.sh installs nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the SDK flow failed:\n{stderr}\n{stdout}"
    );
    let summary: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("a JSON summary last: {stdout}"));
    eprintln!("SDK flow: {summary}");
    // What the script checked, checked again here from its own report.
    assert!(
        summary["discovery"]["score"].as_i64() >= Some(1),
        "graded GOOD or better: {summary}"
    );
    assert_eq!(
        summary["discovery"]["address"]
            .as_str()
            .map(|a| a.trim_end_matches('/')),
        Some(srv.base_url().as_str())
    );
    assert_eq!(summary["browse"], serde_json::json!(["Alpha", "Beta"]));
    assert!(summary["hls"]
        .as_str()
        .is_some_and(|u| u.ends_with(".m3u8")));
    assert!(summary["resume_ticks"].as_i64() > Some(0));
    assert_eq!(summary["after_sign_out"], serde_json::json!(401));
    srv.shutdown(GRACE).await;
}
