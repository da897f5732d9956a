//! PostgreSQL restarting under a running store: in-flight calls fail with `Unavailable`, the
//! pool heals by itself, committed data is all there, event subscribers get a `Resync`.
//! Each test owns its server (`ha_testkit::PostgresServer`), so killing it disturbs nobody.

use std::time::Duration;

use ha_core::{
    ids, BusMessage, Error, EventBus, EventPublisher, FencingToken, Item, ItemKind, JobClaim,
    LeaseManager, MetadataRepo, TranscodeJobStore, User,
};
use ha_store_pg::{PgStore, PgStoreConfig};
use std::sync::Arc;

async fn store_on(pg: &ha_testkit::PostgresServer) -> PgStore {
    let config = PgStoreConfig::from_url(&pg.url())
        .unwrap()
        .with_schema("restart")
        .with_pool_size(4)
        .with_connect_timeout(Duration::from_secs(2))
        .with_wait_timeout(Duration::from_secs(2))
        .with_job_retention(Duration::from_secs(600));
    PgStore::connect(config).await.unwrap()
}

/// A session of its own (outside any store) with a transaction open, to hold locks.
async fn session_in_transaction(pg: &ha_testkit::PostgresServer) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.batch_execute("BEGIN").await.unwrap();
    client
}

/// Kills the server while `blocked` (a call waiting on a lock) is in flight: the call must
/// return `Unavailable`, not hang.
async fn kill_under<T: std::fmt::Debug>(
    pg: &mut ha_testkit::PostgresServer,
    blocked: tokio::task::JoinHandle<ha_core::Result<T>>,
) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    pg.kill();
    let in_flight = tokio::time::timeout(Duration::from_secs(15), blocked)
        .await
        .expect("the in-flight call returns, it does not hang")
        .unwrap();
    assert!(
        matches!(in_flight, Err(Error::Unavailable { .. })),
        "in-flight call: {in_flight:?}"
    );
}

/// Calls `f` until it succeeds, for at most `secs` seconds.
async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ha_core::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if tokio::time::Instant::now() < deadline => {
                assert!(
                    e.is_transient(),
                    "only transient errors while recovering: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("did not recover within {secs} s: {e:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_fails_calls_cleanly_then_the_pool_recovers_with_every_commit() {
    let mut pg = ha_testkit::PostgresServer::start().await;
    let store = store_on(&pg).await;
    let repo = store.metadata();
    let leases = store.leases();
    let jobs = store.jobs();

    let user = User {
        id: ids::new_id(),
        name: "survivor".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        is_admin: true,
        created_ms: 1,
    };
    repo.create_user(&user).await.unwrap();
    let item = Item {
        id: ids::item_id_for_path("/m/a.mkv"),
        parent_id: None,
        path: "/m/a.mkv".into(),
        kind: ItemKind::Movie,
        name: "A".into(),
        date_added_ms: 2,
        size_bytes: None,
        runtime_ticks: None,
        container: None,
        probe_json: None,
        images: Vec::new(),
    };
    repo.upsert_item(&item).await.unwrap();
    let lease = leases
        .try_acquire("job:a", "node-1", Duration::from_secs(120))
        .await
        .unwrap()
        .unwrap();
    let claim = JobClaim {
        key: "a/720p".into(),
        source: item.id.clone(),
        profile: "{}".into(),
        owner_node: "node-1".into(),
        owner_addr: None,
        token: lease.token,
        start_segment: 0,
    };
    jobs.claim(&claim).await.unwrap();
    jobs.record_progress("a/720p", lease.token, 7)
        .await
        .unwrap();

    // An in-flight call: blocked behind a row lock held by another session when the server dies.
    let locker = session_in_transaction(&pg).await;
    locker
        .batch_execute("SELECT * FROM restart.users FOR UPDATE")
        .await
        .unwrap();
    let blocked = {
        let repo = repo.clone();
        let renamed = User {
            name: "renamed".into(),
            ..user.clone()
        };
        tokio::spawn(async move { repo.update_user(&renamed).await })
    };
    kill_under(&mut pg, blocked).await;
    let down = repo.get_user(&user.id).await;
    assert!(
        matches!(down, Err(Error::Unavailable { .. })),
        "call while down: {down:?}"
    );

    pg.restart().await;
    let back = eventually(30, || repo.get_user(&user.id)).await;
    assert_eq!(
        back,
        Some(user.clone()),
        "the uncommitted rename is gone, the user is not"
    );
    assert_eq!(repo.get_item(&item.id).await.unwrap(), Some(item));
    let current = leases
        .current("job:a")
        .await
        .unwrap()
        .expect("lease survived");
    assert_eq!(
        (current.holder.as_str(), current.token),
        ("node-1", lease.token)
    );
    let record = jobs.get("a/720p").await.unwrap().expect("job survived");
    assert_eq!(record.last_segment, Some(7));
    // A new tenure after the restart still gets a larger token.
    leases.release(&current).await.unwrap();
    let next = leases
        .try_acquire("job:a", "node-2", Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    assert!(next.token > lease.token);
    assert!(next.token > FencingToken(0));
    // Every pooled connection works again (not just one).
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let repo = repo.clone();
            let id = user.id.clone();
            tokio::spawn(async move { repo.get_user(&id).await })
        })
        .collect();
    for call in calls {
        assert!(call.await.unwrap().unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_subscribers_resync_after_a_restart_and_keep_receiving() {
    let mut pg = ha_testkit::PostgresServer::start().await;
    let store = store_on(&pg).await;
    let bus: Arc<dyn EventBus> = Arc::new(store.events());
    let mut sub = bus.subscribe().await.unwrap();
    let publisher = EventPublisher::new(bus.clone(), "node-1");
    publisher
        .publish("library.changed", serde_json::json!({"n": 1}))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), sub.next()).await;
    assert!(matches!(first, Ok(Some(BusMessage::Event(_)))), "{first:?}");

    pg.kill();
    pg.restart().await;
    let resync = tokio::time::timeout(Duration::from_secs(30), sub.next())
        .await
        .expect("a resync arrives after the restart");
    assert!(
        matches!(resync, Some(BusMessage::Resync { .. })),
        "{resync:?}"
    );

    // The subscription listens again: a new event arrives.
    let again = EventPublisher::new(bus.clone(), "node-1");
    eventually(30, || {
        again.publish("library.changed", serde_json::json!({"n": 2}))
    })
    .await;
    let next = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("events flow again");
    match next {
        Some(BusMessage::Event(e)) => assert_eq!(e.payload["n"], 2),
        other => panic!("expected the event, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_slots_survive_a_restart_and_capacity_still_holds() {
    use ha_core::SlotLimiter;
    let mut pg = ha_testkit::PostgresServer::start().await;
    let store = store_on(&pg).await;
    let slots = store.slots();
    let long = Duration::from_secs(120);
    let a = slots
        .try_acquire("qsv:a", "job-a", 2, long)
        .await
        .unwrap()
        .unwrap();
    let b = slots
        .try_acquire("qsv:a", "job-b", 2, long)
        .await
        .unwrap()
        .unwrap();

    // An acquire in flight, waiting for the pool's lock held by another session, when the
    // server dies: it fails cleanly instead of hanging.
    let locker = session_in_transaction(&pg).await;
    locker
        .execute(
            include_str!("../sql/slot_lock.sql"),
            &[&"restart", &"qsv:a"],
        )
        .await
        .unwrap();
    let blocked = {
        let slots = store.slots();
        tokio::spawn(async move { slots.try_acquire("qsv:a", "job-c", 3, long).await })
    };
    kill_under(&mut pg, blocked).await;
    let down = slots.try_acquire("qsv:a", "job-c", 3, long).await;
    assert!(
        down.as_ref().is_err_and(Error::is_transient),
        "while down: {down:?}"
    );

    pg.restart().await;
    // Both committed slots are still held: the pool is still full, and the holders renew.
    assert_eq!(eventually(30, || slots.in_use("qsv:a")).await, 2);
    assert!(slots
        .try_acquire("qsv:a", "job-c", 2, long)
        .await
        .unwrap()
        .is_none());
    slots.renew(&a).await.unwrap();
    assert!(slots.release(&b).await.unwrap());
    let c = slots.try_acquire("qsv:a", "job-c", 2, long).await.unwrap();
    assert!(c.is_some(), "capacity freed by the release");
}
