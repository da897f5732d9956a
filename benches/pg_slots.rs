//! What the PostgreSQL slot limiter costs: an acquire + release beside a lease acquire +
//! release (the limiter's transaction and advisory lock against the lease's single statement),
//! a renew, and 16 concurrent tasks taking and giving back slots of *one* pool (every writer
//! waits for the pool's lock) against 16 tasks on 16 pools (no lock shared): the price of
//! serializing a pool's writers.
//!
//! Needs a PostgreSQL: `HA_TEST_DATABASE_URL` if set, otherwise a private server started for the
//! run (ha-testkit). Everything goes into a fresh schema. Run with
//! `cargo bench --features postgres --bench pg_slots`.

// criterion_group! expands to an undocumented pub fn.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ha_core::{LeaseManager, SlotLimiter};

use ha_test_support::pg_bench;

const TTL: Duration = Duration::from_secs(60);
const TASKS: usize = 16;

/// `iters` acquire + release rounds on `pool`, which must never be full.
async fn take_and_give_back(slots: &dyn SlotLimiter, pool: &str, iters: u64) {
    for _ in 0..iters {
        let slot = slots
            .try_acquire(pool, "bench", TASKS as u32, TTL)
            .await
            .unwrap()
            .expect("capacity for every task");
        assert!(slots.release(&slot).await.unwrap());
    }
}

/// `TASKS` tasks doing `iters` rounds each; task `t` uses `pool(t)`. The wall time.
async fn concurrent(
    slots: Arc<dyn SlotLimiter>,
    pool: impl Fn(usize) -> String,
    iters: u64,
) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let slots = slots.clone();
            let pool = pool(t);
            tokio::spawn(async move { take_and_give_back(slots.as_ref(), &pool, iters).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}

fn slots(c: &mut Criterion) {
    let db = pg_bench::connect(TASKS);
    let slots: Arc<dyn SlotLimiter> = Arc::new(db.store.slots());
    let leases: Arc<dyn LeaseManager> = Arc::new(db.store.leases());
    let mut group = c.benchmark_group("pg_slots");

    group.bench_function("lease_acquire_release", |b| {
        b.to_async(&db.rt).iter_custom(|iters| {
            let leases = leases.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    let lease = leases
                        .try_acquire("bench-lease", "bench", TTL)
                        .await
                        .unwrap()
                        .expect("free");
                    assert!(leases.release(&lease).await.unwrap());
                }
                start.elapsed()
            }
        })
    });

    group.bench_function("slot_acquire_release", |b| {
        b.to_async(&db.rt).iter_custom(|iters| {
            let slots = slots.clone();
            async move {
                let start = Instant::now();
                take_and_give_back(slots.as_ref(), "bench-one", iters).await;
                start.elapsed()
            }
        })
    });

    let held = db
        .rt
        .block_on(slots.try_acquire("bench-renew", "bench", 1, TTL))
        .unwrap()
        .expect("free");
    group.bench_function("slot_renew", |b| {
        b.to_async(&db.rt).iter_custom(|iters| {
            let slots = slots.clone();
            let held = held.clone();
            async move {
                let start = Instant::now();
                for _ in 0..iters {
                    slots.renew(&held).await.unwrap();
                }
                start.elapsed()
            }
        })
    });

    group.throughput(Throughput::Elements(TASKS as u64));
    group.bench_function("slot_acquire_release_16_tasks_one_pool", |b| {
        b.to_async(&db.rt)
            .iter_custom(|iters| concurrent(slots.clone(), |_| "bench-shared".into(), iters))
    });
    group.bench_function("slot_acquire_release_16_tasks_16_pools", |b| {
        b.to_async(&db.rt)
            .iter_custom(|iters| concurrent(slots.clone(), |t| format!("bench-own-{t}"), iters))
    });
    group.finish();
}

criterion_group!(benches, slots);
criterion_main!(benches);
