//! The PostgreSQL slot limiter beyond the conformance suite: several replicas (stores with
//! pools of their own) racing for one pool never hold more than its capacity, renewals racing
//! expiry never over-admit, and the per-pool advisory lock neither hangs callers nor leaks.

mod common;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ha_core::{Error, SlotLimiter};
use ha_store_pg::{PgSlotLimiter, PgStore, PgStoreConfig};
use tokio::sync::Barrier;
use tokio::time::{sleep, Instant};

/// The statement that takes a pool's lock, exactly as the limiter sends it.
const POOL_LOCK: &str = include_str!("../sql/slot_lock.sql");

const LONG: Duration = Duration::from_secs(30);

/// `n` replicas: stores on one schema, each with its own connection pool.
async fn replicas(schema: &str, n: usize) -> Vec<Arc<PgSlotLimiter>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(Arc::new(common::store_on(schema).await.slots()));
    }
    out
}

/// The limiter of a store on `schema` of the shared server, its configuration adjusted by
/// `tune`.
async fn limiter_with(
    schema: &str,
    tune: impl FnOnce(PgStoreConfig) -> PgStoreConfig,
) -> Arc<PgSlotLimiter> {
    let url = ha_testkit::postgres_url().await;
    let config = tune(PgStoreConfig::from_url(&url).unwrap().with_schema(schema));
    Arc::new(PgStore::connect(config).await.unwrap().slots())
}

/// A connection outside any store, holding `pool`'s advisory lock in an open transaction.
async fn hold_pool_lock(schema: &str, pool: &str) -> tokio_postgres::Client {
    let url = ha_testkit::postgres_url().await;
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client.batch_execute("BEGIN").await.unwrap();
    client.execute(POOL_LOCK, &[&schema, &pool]).await.unwrap();
    client
}

/// Samples the database's count of live slots in `pool` until `until`; the largest it saw.
fn watch_in_use(
    slots: Arc<PgSlotLimiter>,
    pool: &'static str,
    until: Instant,
) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut most = 0;
        while Instant::now() < until {
            most = most.max(slots.in_use(pool).await.unwrap());
            sleep(Duration::from_millis(3)).await;
        }
        most
    })
}

/// Waits for every task, failing on the first that panicked.
async fn join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_acquirers_on_several_replicas_never_exceed_capacity() {
    const CAPACITY: u32 = 3;
    const TASKS: usize = 24;
    let schema = ha_testkit::unique("slots_race");
    let limiters = replicas(&schema, 3).await;
    let pool = "qsv:node-a";

    // One wave, all at once: exactly CAPACITY winners across the replicas.
    let barrier = Arc::new(Barrier::new(TASKS));
    let wave: Vec<_> = (0..TASKS)
        .map(|i| {
            let slots = limiters[i % limiters.len()].clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                slots
                    .try_acquire(pool, &format!("wave-{i}"), CAPACITY, LONG)
                    .await
            })
        })
        .collect();
    let mut won = Vec::new();
    for task in wave {
        if let Some(slot) = task.await.unwrap().unwrap() {
            won.push(slot);
        }
    }
    assert_eq!(won.len(), CAPACITY as usize, "winners of one wave");
    for slots in &limiters {
        assert_eq!(slots.in_use(pool).await.unwrap(), CAPACITY);
    }
    for slot in &won {
        assert!(limiters[0].release(slot).await.unwrap());
    }

    // Churn: every task acquires, holds a little, releases, again and again. `held` counts
    // slots between a granted acquire and the start of their release, so it can only exceed
    // the capacity if the database granted more than that at once; a monitor also samples the
    // database's own count.
    let held = Arc::new(AtomicU32::new(0));
    let most_held = Arc::new(AtomicU32::new(0));
    let grants = Arc::new(AtomicU64::new(0));
    let refusals = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_millis(2_500);
    let churn: Vec<_> = (0..TASKS)
        .map(|i| {
            let slots = limiters[i % limiters.len()].clone();
            let (held, most_held) = (held.clone(), most_held.clone());
            let (grants, refusals) = (grants.clone(), refusals.clone());
            tokio::spawn(async move {
                let holder = format!("churn-{i}");
                while Instant::now() < until {
                    match slots
                        .try_acquire(pool, &holder, CAPACITY, LONG)
                        .await
                        .unwrap()
                    {
                        Some(slot) => {
                            grants.fetch_add(1, Ordering::Relaxed);
                            let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                            most_held.fetch_max(now, Ordering::SeqCst);
                            sleep(Duration::from_millis(15)).await;
                            held.fetch_sub(1, Ordering::SeqCst);
                            assert!(slots.release(&slot).await.unwrap(), "own live slot");
                        }
                        None => {
                            refusals.fetch_add(1, Ordering::Relaxed);
                            sleep(Duration::from_millis(2)).await;
                        }
                    }
                }
            })
        })
        .collect();
    let monitor = watch_in_use(limiters[1].clone(), pool, until);
    join(churn).await;
    let most_in_use = monitor.await.unwrap();
    let (grants, refusals) = (
        grants.load(Ordering::Relaxed),
        refusals.load(Ordering::Relaxed),
    );
    let most_held = most_held.load(Ordering::SeqCst);
    println!("churn: {grants} grants, {refusals} refusals, at most {most_held} held, at most {most_in_use} in use");
    assert!(most_held <= CAPACITY, "{most_held} slots held at once");
    assert!(
        most_in_use <= CAPACITY,
        "{most_in_use} slots in use at once"
    );
    assert!(
        grants > u64::from(CAPACITY),
        "slots were taken and given back"
    );
    assert!(refusals > 0, "the pool was contended");
    assert_eq!(limiters[2].in_use(pool).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_racing_expiry_never_over_admit() {
    const CAPACITY: u32 = 2;
    const TTL: Duration = Duration::from_millis(150);
    let schema = ha_testkit::unique("slots_renew");
    let limiters = replicas(&schema, 2).await;
    let pool = "user:42";
    let renewed = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_millis(2_500);

    // Holders renew around their deadline: sometimes just before it (renewed), sometimes just
    // after (lost, and the slot may already belong to somebody else).
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            let slots = limiters[i as usize % limiters.len()].clone();
            let (renewed, lost) = (renewed.clone(), lost.clone());
            tokio::spawn(async move {
                let holder = format!("holder-{i}");
                let mut step = i;
                while Instant::now() < until {
                    let Some(mut slot) = slots
                        .try_acquire(pool, &holder, CAPACITY, TTL)
                        .await
                        .unwrap()
                    else {
                        sleep(Duration::from_millis(3)).await;
                        continue;
                    };
                    for _ in 0..4 {
                        step = step
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        // 100..=200 ms: around the 150 ms TTL.
                        sleep(Duration::from_millis(100 + (step >> 33) % 101)).await;
                        match slots.renew(&slot).await {
                            Ok(next) => {
                                renewed.fetch_add(1, Ordering::Relaxed);
                                slot = next;
                            }
                            Err(Error::LeaseLost { .. }) => {
                                lost.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            Err(e) => panic!("renew: {e:?}"),
                        }
                    }
                    slots.release(&slot).await.unwrap();
                }
            })
        })
        .collect();
    let monitor = watch_in_use(limiters[0].clone(), pool, until);
    join(tasks).await;
    let most = monitor.await.unwrap();
    let (renewed, lost) = (
        renewed.load(Ordering::Relaxed),
        lost.load(Ordering::Relaxed),
    );
    println!("renewals: {renewed} renewed, {lost} lost, at most {most} in use");
    assert!(most <= CAPACITY, "{most} slots in use at once");
    assert!(renewed > 0 && lost > 0, "renewals raced expiry both ways");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_pool_times_out_without_blocking_other_pools_or_releases() {
    let schema = ha_testkit::unique("slots_lock");
    let slots = limiter_with(&schema, |c| {
        c.with_statement_timeout(Duration::from_millis(300))
    })
    .await;
    let held = slots
        .try_acquire("qsv:a", "job-1", 2, LONG)
        .await
        .unwrap()
        .expect("free");
    let kept = slots
        .try_acquire("qsv:a", "job-2", 2, LONG)
        .await
        .unwrap()
        .expect("free");

    let locker = hold_pool_lock(&schema, "qsv:a").await;
    let acquire = tokio::time::timeout(
        Duration::from_secs(20),
        slots.try_acquire("qsv:a", "job-3", 3, LONG),
    )
    .await
    .expect("no hang");
    assert!(
        matches!(acquire, Err(Error::Timeout { after, .. }) if after == Duration::from_millis(300)),
        "{acquire:?}"
    );
    let renew = tokio::time::timeout(Duration::from_secs(20), slots.renew(&kept))
        .await
        .expect("no hang");
    assert!(matches!(renew, Err(Error::Timeout { .. })), "{renew:?}");
    // Another pool has another lock; a release takes none.
    assert!(slots
        .try_acquire("qsv:b", "job-4", 1, LONG)
        .await
        .unwrap()
        .is_some());
    assert!(slots.release(&held).await.unwrap());

    locker.batch_execute("ROLLBACK").await.unwrap();
    slots.renew(&kept).await.unwrap();
    assert!(slots
        .try_acquire("qsv:a", "job-3", 2, LONG)
        .await
        .unwrap()
        .is_some());
    assert_eq!(slots.in_use("qsv:a").await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_giving_up_mid_wait_leaves_no_lock_behind() {
    let schema = ha_testkit::unique("slots_cancel");
    let slots = limiter_with(&schema, |c| c.with_pool_size(1)).await;
    assert_eq!(slots.in_use("qsv:a").await.unwrap(), 0); // the pool's connection exists

    let locker = hold_pool_lock(&schema, "qsv:a").await;
    let impatient = {
        let slots = slots.clone();
        tokio::spawn(async move { slots.try_acquire("qsv:a", "impatient", 1, LONG).await })
    };
    // Give up only once the acquire is really waiting for the lock on the server.
    let waiting_since = Instant::now();
    loop {
        let blocked: i64 = locker
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if blocked > 0 {
            break;
        }
        assert!(
            waiting_since.elapsed() < Duration::from_secs(20),
            "the acquire never reached the lock"
        );
        sleep(Duration::from_millis(20)).await;
    }
    impatient.abort();
    assert!(impatient.await.unwrap_err().is_cancelled());
    locker.batch_execute("ROLLBACK").await.unwrap();

    // The abandoned transaction was rolled back: the pool's only connection acquires again, the
    // impatient caller holds nothing, and the lock is free afterwards.
    let slot = tokio::time::timeout(
        Duration::from_secs(20),
        slots.try_acquire("qsv:a", "patient", 1, LONG),
    )
    .await
    .expect("no hang")
    .unwrap()
    .expect("the abandoned acquire took no slot");
    assert_eq!(slot.holder, "patient");
    locker.batch_execute("BEGIN").await.unwrap();
    let free: bool = locker
        .query_one(
            &POOL_LOCK.replace("pg_advisory_xact_lock", "pg_try_advisory_xact_lock"),
            &[&schema, &"qsv:a"],
        )
        .await
        .unwrap()
        .get(0);
    assert!(free, "no advisory lock left behind");
    locker.batch_execute("ROLLBACK").await.unwrap();
}
