//! Issue 19.1, the HA request path with its shortcuts on: coalesced progress and the metadata
//! cache, across two reference-server *processes* on Redis + PostgreSQL.
//!
//! * A replica killed with SIGKILL right after a session's first progress report, or right
//!   after a stop report, loses neither: both are written before they are acknowledged
//!   (`progress/mod.rs`). The replicas coalesce with `--progress-interval 60s`, far longer than
//!   the test runs, so nothing but the write-through can put the positions in the store; and
//!   the replica that holds the coalesced reports shows them on its own reads at once.
//! * With every cache on for 60 s (`--session-cache`, `--metadata-cache`), a replica never
//!   serves another user's data (the user's own marks are never cached; listing pages are
//!   user-independent) nor a session signed out on the other replica, and a library change
//!   on one replica reaches the other's cached listing by the `metadata.changed` event.
//! * Rights and existence changed directly in PostgreSQL (no event announces it: an
//!   administrator right granted or removed, a user deleted) take effect on both replicas
//!   within the user cache's bound (`--metadata-cache 2s`), although the session itself is
//!   cached for 60 s. (A change through a replica drops the user on the others at once by an
//!   event: `metadata_cache/tests.rs`.)
//!
//! Needs `HA_TEST_REDIS_URL` / `HA_TEST_DATABASE_URL` (scripts/services.sh) and ffmpeg; each
//! test uses its own Redis prefix and PostgreSQL schema.

use std::path::Path;
use std::time::{Duration, Instant};

use ha_test_support::cluster;

use cluster::client::Client;
use cluster::media::Clip;
use cluster::replica::Replica;
use cluster::setup::Shared;
use cluster::{ADMIN, ADMIN_PW};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// 3 s long: 30,000,000 ticks.
const CLIP: Clip = Clip {
    secs: 3,
    fps: 25,
    size: (320, 240),
};
/// Longer than anything below waits: only a write-through or an event can explain a result.
const LONG: &str = "60s";
/// How long an event may take to arrive (milliseconds normally); well under `LONG`.
const PATIENCE: Duration = Duration::from_secs(20);

async fn sign_in(c: &mut Client, base: &str, user: &str, pw: &str) -> String {
    let (status, auth) = c
        .post(
            base,
            "/Users/AuthenticateByName",
            json!({ "Username": user, "Pw": pw }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "login of {user}: {auth}");
    c.token = Some(auth["AccessToken"].as_str().expect("a token").to_owned());
    auth["User"]["Id"].as_str().expect("a user id").to_owned()
}

/// The movies `user` sees on `base` (a listing page: cached on the replica when it can be).
async fn movies(c: &Client, base: &str, user: &str, filters: &str) -> Vec<Value> {
    let (status, page) = c
        .get(
            base,
            &format!("/Users/{user}/Items?Recursive=true&IncludeItemTypes=Movie,Video&SortBy=SortName{filters}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["Items"].as_array().cloned().unwrap_or_default()
}

/// Waits until `base` lists the clip; its id.
async fn clip_id(c: &Client, base: &str, user: &str) -> String {
    let deadline = Instant::now() + cluster::PATIENCE;
    loop {
        if let Some(item) = movies(c, base, user, "")
            .await
            .iter()
            .find(|i| i["Name"] == json!(Clip::NAME))
        {
            return item["Id"].as_str().expect("an id").to_owned();
        }
        assert!(Instant::now() < deadline, "{base} never listed the clip");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `user`'s UserData for `item` as `base` answers it.
async fn user_data(c: &Client, base: &str, user: &str, item: &str) -> (StatusCode, Value) {
    let (status, body) = c.get(base, &format!("/Users/{user}/Items/{item}")).await;
    (status, body["UserData"].clone())
}

async fn post_ok(c: &Client, base: &str, path: &str, body: Value) {
    let (status, reply) = c.post(base, path, body).await;
    assert!(status.is_success(), "{path}: {status} {reply}");
}

async fn two_replicas(extra: &[&str], library: &Path) -> (Shared, Replica, Replica) {
    let mut shared = Shared::from_test_env().await;
    shared
        .extra_args
        .extend(extra.iter().map(|a| a.to_string().into()));
    let http = reqwest::Client::new();
    let mut a = Replica::start("r1", &shared, library);
    let mut b = Replica::start("r2", &shared, library);
    a.wait_ready(&http).await;
    b.wait_ready(&http).await;
    (shared, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_right_after_a_report_loses_neither_the_first_report_nor_a_stop() {
    let library = CLIP.library();
    let (_shared, mut a, b) = two_replicas(&["--progress-interval", LONG], &library).await;
    let (a_url, b_url) = (a.base().to_owned(), b.base().to_owned());
    let mut c = Client::new();
    let user = sign_in(&mut c, &a_url, ADMIN, ADMIN_PW).await;
    let item = clip_id(&c, &a_url, &user).await;
    let progress = |ticks: i64| json!({ "ItemId": item, "PositionTicks": ticks });

    post_ok(&c, &a_url, "/Sessions/Playing", progress(0)).await;
    // The first report is written through; the next ones are coalesced on A.
    post_ok(
        &c,
        &a_url,
        "/Sessions/Playing/Progress",
        progress(6_000_000),
    )
    .await;
    for ticks in [7_000_000, 8_000_000, 9_000_000] {
        post_ok(&c, &a_url, "/Sessions/Playing/Progress", progress(ticks)).await;
    }
    // A reads back what it acknowledged, on an item page and in a listing, although only the
    // first report is stored (the interval outlasts the test): its reads overlay its table.
    let (_, data) = user_data(&c, &a_url, &user, &item).await;
    assert_eq!(
        data["PlaybackPositionTicks"],
        json!(9_000_000),
        "A shows its newest report: {data}"
    );
    let listed = movies(&c, &a_url, &user, "").await;
    let listed = listed.iter().find(|i| i["Id"] == json!(item));
    assert_eq!(
        listed.map(|i| &i["UserData"]["PlaybackPositionTicks"]),
        Some(&json!(9_000_000)),
        "A's listing shows its newest report: {listed:?}"
    );
    // B reads the store: the first report, the coalesced ones not yet.
    let (_, data) = user_data(&c, &b_url, &user, &item).await;
    assert_eq!(
        data["PlaybackPositionTicks"],
        json!(6_000_000),
        "B sees what is stored, the first report: {data}"
    );
    // A stop is written before it is acknowledged, then A dies without a drain.
    post_ok(
        &c,
        &a_url,
        "/Sessions/Playing/Stopped",
        progress(15_000_000),
    )
    .await;
    a.crash();
    let (status, data) = user_data(&c, &b_url, &user, &item).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&data["PlaybackPositionTicks"], &data["Played"]),
        (&json!(15_000_000), &json!(false)),
        "the stop's resume point outlives A: {data}\n{}",
        b.log_tail()
    );

    // A new session's first report through a fresh A, then SIGKILL again.
    a.restart();
    a.wait_ready(&reqwest::Client::new()).await;
    let mut again = Client::new();
    sign_in(&mut again, &a_url, ADMIN, ADMIN_PW).await;
    post_ok(
        &again,
        &a_url,
        "/Sessions/Playing/Progress",
        progress(12_000_000),
    )
    .await;
    a.crash();
    let (_, data) = user_data(&again, &b_url, &user, &item).await;
    assert_eq!(
        data["PlaybackPositionTicks"],
        json!(12_000_000),
        "a session's first report outlives A: {data}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caches_serve_no_other_users_data_and_no_session_signed_out_elsewhere() {
    let library = CLIP.library();
    let extra = [
        "--session-cache",
        LONG,
        "--metadata-cache",
        LONG,
        "--progress-interval",
        LONG,
    ];
    let (_shared, a, b) = two_replicas(&extra, &library).await;
    let (a_url, b_url) = (a.base().to_owned(), b.base().to_owned());
    let mut admin = Client::new();
    let admin_id = sign_in(&mut admin, &a_url, ADMIN, ADMIN_PW).await;
    let item = clip_id(&admin, &a_url, &admin_id).await;
    post_ok(
        &admin,
        &a_url,
        "/Users/New",
        json!({ "Name": "bob", "Password": "bob-password" }),
    )
    .await;
    let mut bob = Client::new();
    let bob_id = sign_in(&mut bob, &b_url, "bob", "bob-password").await;

    // Both users' views cached on both replicas.
    for base in [&a_url, &b_url] {
        assert_eq!(
            user_data(&admin, base, &admin_id, &item).await.0,
            StatusCode::OK
        );
        assert_eq!(
            user_data(&bob, base, &bob_id, &item).await.0,
            StatusCode::OK
        );
        assert_eq!(movies(&admin, base, &admin_id, "").await.len(), 1);
        assert_eq!(movies(&bob, base, &bob_id, "").await.len(), 1);
    }

    // Bob's position and played mark are his own, on either replica.
    let report = json!({ "ItemId": item, "PositionTicks": 9_000_000 });
    post_ok(&bob, &b_url, "/Sessions/Playing/Progress", report).await;
    for base in [&a_url, &b_url] {
        let (_, mine) = user_data(&admin, base, &admin_id, &item).await;
        assert_eq!(mine["PlaybackPositionTicks"], json!(0), "{base}: {mine}");
        let (_, his) = user_data(&bob, base, &bob_id, &item).await;
        assert_eq!(
            his["PlaybackPositionTicks"],
            json!(9_000_000),
            "{base}: {his}"
        );
        let listed = movies(&bob, base, &bob_id, "").await;
        assert_eq!(
            listed[0]["UserData"]["PlaybackPositionTicks"],
            json!(9_000_000)
        );
        let listed = movies(&admin, base, &admin_id, "").await;
        assert_eq!(listed[0]["UserData"]["PlaybackPositionTicks"], json!(0));
        assert_eq!(
            bob.get(base, &format!("/Users/{admin_id}/Items/{item}"))
                .await
                .0,
            StatusCode::FORBIDDEN,
            "{base}: bob may not read the administrator's data"
        );
    }
    post_ok(
        &bob,
        &a_url,
        &format!("/Users/{bob_id}/PlayedItems/{item}"),
        json!({}),
    )
    .await;
    for base in [&a_url, &b_url] {
        assert_eq!(
            movies(&bob, base, &bob_id, "&Filters=IsPlayed").await.len(),
            1
        );
        assert_eq!(
            movies(&admin, base, &admin_id, "&Filters=IsPlayed")
                .await
                .len(),
            0
        );
        assert_eq!(
            movies(&admin, base, &admin_id, "&Filters=IsUnplayed")
                .await
                .len(),
            1
        );
    }

    // Bob signs out on B: A, which holds his session and user in its caches, refuses him.
    assert_eq!(bob.get(&a_url, "/Users/Me").await.0, StatusCode::OK);
    post_ok(&bob, &b_url, "/Sessions/Logout", json!({})).await;
    assert_eq!(
        bob.get(&b_url, "/Users/Me").await.0,
        StatusCode::UNAUTHORIZED
    );
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, _) = bob.get(&a_url, &format!("/Items/{item}")).await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert_eq!(status, StatusCode::OK);
        assert!(
            Instant::now() < deadline,
            "A still serves a session signed out on B\n{}",
            a.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(admin.get(&b_url, "/Users/Me").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_library_change_reaches_the_other_replicas_cached_listing() {
    let library = tempfile::tempdir().expect("a library");
    let clip = CLIP.library().join(format!("{}.mkv", Clip::NAME));
    std::fs::copy(&clip, library.path().join(format!("{}.mkv", Clip::NAME))).expect("copy");
    let (_shared, a, b) = two_replicas(&["--metadata-cache", LONG], library.path()).await;
    let (a_url, b_url) = (a.base().to_owned(), b.base().to_owned());
    let mut admin = Client::new();
    let user = sign_in(&mut admin, &a_url, ADMIN, ADMIN_PW).await;
    clip_id(&admin, &a_url, &user).await;
    clip_id(&admin, &b_url, &user).await;
    // Cached on both now.
    assert_eq!(movies(&admin, &a_url, &user, "").await.len(), 1);
    assert_eq!(movies(&admin, &b_url, &user, "").await.len(), 1);

    std::fs::copy(&clip, library.path().join("Second.mkv")).expect("copy");
    post_ok(&admin, &a_url, "/Library/Refresh", json!({})).await;
    // One replica scans (the lease decides which); the other has only the event to go by.
    let deadline = Instant::now() + cluster::PATIENCE;
    loop {
        let on_a = movies(&admin, &a_url, &user, "").await.len();
        let on_b = movies(&admin, &b_url, &user, "").await.len();
        if on_a == 2 && on_b == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "listings after the scan: A {on_a}, B {on_b}\n{}\n{}",
            a.log_tail(),
            b.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs `sql` (with `{ns}` standing for the cluster's schema) on the shared PostgreSQL, behind
/// the servers' backs: no event announces it.
async fn behind_the_servers_back(shared: &Shared, sql: &str) {
    let (client, connection) = tokio_postgres::connect(&shared.postgres, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL");
    tokio::spawn(connection);
    let changed = client
        .execute(&sql.replace("{ns}", &shared.namespace), &[])
        .await
        .expect("the change");
    assert_eq!(changed, 1, "{sql}");
}

/// How long a replica may answer a user record changed behind its back (`--metadata-cache`).
const USER_BOUND: &str = "2s";

/// Polls `path` as `client` on both replicas until each answers `expected`; fails after
/// [`PATIENCE`], far beyond [`USER_BOUND`].
async fn until_both_answer(
    client: &Client,
    bases: [&str; 2],
    call: (Method, &str),
    expected: StatusCode,
) {
    let deadline = Instant::now() + PATIENCE;
    for base in bases {
        loop {
            let (status, body) = if call.0 == Method::DELETE {
                client.delete(base, call.1).await
            } else {
                client.get(base, call.1).await
            };
            if status == expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{base} {} {}: {status} {body}, expected {expected}",
                call.0,
                call.1
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rights_and_deletion_behind_the_servers_backs_take_effect_within_the_cache_bound() {
    let library = CLIP.library();
    let extra = ["--session-cache", LONG, "--metadata-cache", USER_BOUND];
    let (shared, a, b) = two_replicas(&extra, &library).await;
    let bases = [a.base(), b.base()];
    let mut admin = Client::new();
    sign_in(&mut admin, bases[0], ADMIN, ADMIN_PW).await;
    post_ok(
        &admin,
        bases[0],
        "/Users/New",
        json!({ "Name": "carol", "Password": "carol-password" }),
    )
    .await;
    let mut carol = Client::new();
    let carol_id = sign_in(&mut carol, bases[0], "carol", "carol-password").await;
    // An administrator-only call: 403 for a user, 404 (no such device) for an administrator.
    let revoke = || (Method::DELETE, "/Devices?id=no-such-device");
    // Read (and cached) on both replicas.
    until_both_answer(&carol, bases, revoke(), StatusCode::FORBIDDEN).await;
    behind_the_servers_back(
        &shared,
        &format!("UPDATE {{ns}}.users SET is_admin = true WHERE id = '{carol_id}'"),
    )
    .await;
    until_both_answer(&carol, bases, revoke(), StatusCode::NOT_FOUND).await;
    behind_the_servers_back(
        &shared,
        &format!("UPDATE {{ns}}.users SET is_admin = false WHERE id = '{carol_id}'"),
    )
    .await;
    until_both_answer(&carol, bases, revoke(), StatusCode::FORBIDDEN).await;
    until_both_answer(&carol, bases, (Method::GET, "/Users/Me"), StatusCode::OK).await;
    behind_the_servers_back(
        &shared,
        &format!("DELETE FROM {{ns}}.users WHERE id = '{carol_id}'"),
    )
    .await;
    // The session itself is cached for 60 s: only the user's bound explains the refusal.
    until_both_answer(
        &carol,
        bases,
        (Method::GET, "/Users/Me"),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}
