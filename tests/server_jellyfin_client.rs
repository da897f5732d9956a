//! A real Jellyfin client library drives the reference server.
//!
//! `tests/jellyfin_client/drive.py` uses `jellyfin-apiclient-python` (pinned in
//! `tests/jellyfin_client/requirements.txt`, installed by `scripts/install-deps.sh` into
//! `.test-services/venv`) as an application does: connect, sign in, list views and items page by
//! page, search, ask for PlaybackInfo, fetch the stream URL it builds, report playback start,
//! progress and stop, mark items played and favourite, list by those marks. It prints what it
//! saw as JSON; this test checks that and then checks the effects through the HTTP API with its
//! own session.
//!
//! Without the virtualenv the test fails and says how to create it: a client-compatibility test
//! that skips itself is how an incompatibility ships.

use ha_test_support::in_process as common;

use std::path::{Path, PathBuf};

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The client's identity, as `drive.py` sets it.
const DEVICE_ID: &str = "drive-py-device";
const CLIENT: &str = "media-ha drive.py";

/// The virtualenv's python: `HA_TEST_JELLYFIN_PYTHON`, else `.test-services/venv/bin/python`.
fn venv_python() -> PathBuf {
    if let Some(p) = std::env::var_os("HA_TEST_JELLYFIN_PYTHON") {
        return PathBuf::from(p);
    }
    // This package is `tests/`; the virtualenv lives in the repository's `.test-services/`.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../.test-services/venv/bin/python")
}

/// Runs `drive.py` against `base`; its JSON result.
async fn drive(base: &str) -> Value {
    let python = venv_python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("jellyfin_client/drive.py");
    assert!(
        python.exists(),
        "no Python virtualenv with jellyfin-apiclient-python at {}: run scripts/install-deps.sh \
         (it creates .test-services/venv and installs tests/jellyfin_client/requirements.txt), \
         or point HA_TEST_JELLYFIN_PYTHON at a python that has the package",
        python.display()
    );
    let run = tokio::process::Command::new(&python)
        .arg(&script)
        .args([base, ADMIN, ADMIN_PW])
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run)
        .await
        .expect("drive.py finished within 120 s")
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let result = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!("drive.py printed no result.\nstdout:\n{stdout}\nstderr:\n{stderr}")
        });
    let value: Value = serde_json::from_str(result).expect("drive.py's result is JSON");
    assert!(
        out.status.success() && value.get("error").is_none(),
        "drive.py failed: {}\n{}\nstderr:\n{stderr}",
        value["error"],
        value["trace"].as_str().unwrap_or_default()
    );
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jellyfin_apiclient_python_signs_in_browses_and_reports_playback() {
    let (srv, _data) = start_fresh().await;
    let r = drive(&srv.base_url()).await;

    // What the client saw.
    assert_eq!(r["connect_state"], json!("ServerSignIn"), "{r}");
    assert_eq!(r["me_name"], json!(ADMIN));
    assert_eq!(r["system_info_id"], r["server_id"]);
    assert_eq!(r["views_total"], json!(1));
    assert_eq!(r["movies_total"], json!(2));
    assert_eq!(r["movie_names"], json!(["Alpha", "Beta"]));
    assert_eq!(
        r["movie_pages"],
        json!([{ "StartIndex": 0, "Count": 1 }, { "StartIndex": 1, "Count": 1 }])
    );
    assert_eq!(r["search_names"], json!(["Alpha"]));
    assert_eq!(r["item_type"], json!("Movie"));
    assert_eq!(
        r["item_user_data_before"]["PlaybackPositionTicks"],
        json!(0)
    );
    assert_eq!(r["supports_direct_play"], json!(true), "{r}");
    assert_eq!(r["play_session_id"].as_str().unwrap().len(), 32);
    assert_eq!(
        r["stream_status"],
        json!(206),
        "a Range request on the URL it built"
    );
    assert_eq!(r["stream_bytes"], json!(100));
    assert_eq!(r["session_client"], json!(CLIENT));
    assert_eq!(r["session_now_playing"], r["alpha_id"]);
    let runtime = r["item_runtime_ticks"].as_i64().unwrap();
    assert!(runtime > 10_000_000, "{r}");
    assert_eq!(r["session_position"], json!(runtime / 3));
    assert_eq!(r["session_paused"], json!(true));
    assert_eq!(
        r["resume_ids"],
        json!([r["alpha_id"]]),
        "Filters=IsResumable"
    );
    let stopped_at = r["stopped_at"].as_i64().unwrap();
    assert_eq!(
        r["item_user_data_after"]["PlaybackPositionTicks"],
        json!(stopped_at)
    );
    assert_eq!(r["beta_played"], json!(true));
    assert_eq!(r["played_names"], json!(["Beta"]), "Filters=IsPlayed");
    assert_eq!(r["unplayed_names"], json!(["Alpha"]), "Filters=IsUnplayed");
    assert_eq!(r["favorite_names"], json!(["Alpha"]), "Filters=IsFavorite");

    // The effects, through the API with a session of our own.
    let mut c = Client::new(&srv);
    c.login(ADMIN, ADMIN_PW).await;
    let alpha_id = r["alpha_id"].as_str().unwrap();
    let (status, alpha) = c.get(&format!("/Items/{alpha_id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        alpha["UserData"]["PlaybackPositionTicks"],
        json!(stopped_at)
    );
    assert_eq!(alpha["UserData"]["Played"], json!(false));
    assert!(alpha["UserData"]["LastPlayedDate"].is_string(), "{alpha}");
    let (_, beta) = c
        .get(&format!("/Items/{}", r["beta_id"].as_str().unwrap()))
        .await;
    assert_eq!(beta["UserData"]["Played"], json!(true));
    let (_, sessions) = c.get("/Sessions").await;
    let theirs = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["DeviceId"] == json!(DEVICE_ID))
        .unwrap_or_else(|| panic!("the client's session in {sessions}"));
    assert_eq!(theirs["Client"], json!(CLIENT));
    assert_eq!(theirs["DeviceName"], json!("drive-py"));
    assert_eq!(theirs["ApplicationVersion"], json!("1.0.0"));
    assert!(theirs["NowPlayingItem"].is_null(), "stopped: {theirs}");
    // Its token is still good, in the header form it used.
    let token = r["access_token"].as_str().unwrap();
    let resp = c
        .http
        .get(c.url("/Users/Me"))
        .header(
            "Authorization",
            format!(r#"MediaBrowser Client="{CLIENT}", Token="{token}""#),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    srv.shutdown(GRACE).await;
}
