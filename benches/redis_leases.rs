//! Redis lease and job-store costs: acquire, renew, release, batch renew, job progress.
//!
//! Needs a Redis: `HA_TEST_REDIS_URL` if set, otherwise a private `redis-server` started for
//! the run (ha-testkit). Run with `cargo bench --features redis --bench redis_leases`.
//! Every measured call is sequential on one multiplexed connection (latency, not throughput).

// criterion_group! expands to an undocumented pub fn.
#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ha_core::{JobClaim, LeaseManager, TranscodeJobStore};
use ha_store_redis::{RedisStore, RedisStoreConfig};
use tokio::runtime::Runtime;

const TTL: Duration = Duration::from_secs(60);

struct Setup {
    rt: Runtime,
    store: RedisStore,
    _server: Option<ha_testkit::RedisServer>,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (store, server) = rt.block_on(async {
        let (url, server) = match std::env::var("HA_TEST_REDIS_URL") {
            Ok(url) => (url, None),
            Err(_) => {
                let server = ha_testkit::RedisServer::start().await;
                (server.url(), Some(server))
            }
        };
        let config = RedisStoreConfig::from_url(&url)
            .expect("redis URL")
            .with_prefix(ha_testkit::unique("bench"));
        let store = RedisStore::connect(config).await.expect("connect");
        (store, server)
    });
    Setup {
        rt,
        store,
        _server: server,
    }
}

fn leases(c: &mut Criterion) {
    let s = setup();
    let m: Arc<dyn LeaseManager> = Arc::new(s.store.leases());
    let mut group = c.benchmark_group("redis_lease");

    group.bench_function("acquire", |b| {
        b.to_async(&s.rt).iter_custom(|iters| {
            let m = m.clone();
            async move {
                let mut taken = Vec::with_capacity(iters as usize);
                let start = Instant::now();
                for _ in 0..iters {
                    let key = ha_testkit::unique("k");
                    taken.push(m.try_acquire(&key, "bench", TTL).await.unwrap().unwrap());
                }
                let elapsed = start.elapsed();
                for lease in &taken {
                    m.release(lease).await.unwrap();
                }
                elapsed
            }
        })
    });

    let held =
        s.rt.block_on(m.try_acquire("bench-renew", "bench", TTL))
            .unwrap()
            .unwrap();
    group.bench_function("renew", |b| {
        b.to_async(&s.rt).iter(|| {
            let m = m.clone();
            let held = held.clone();
            async move { m.renew(&held).await.unwrap() }
        })
    });

    group.bench_function("release", |b| {
        b.to_async(&s.rt).iter_custom(|iters| {
            let m = m.clone();
            async move {
                let mut taken = Vec::with_capacity(iters as usize);
                for _ in 0..iters {
                    let key = ha_testkit::unique("k");
                    taken.push(m.try_acquire(&key, "bench", TTL).await.unwrap().unwrap());
                }
                let start = Instant::now();
                for lease in &taken {
                    assert!(m.release(lease).await.unwrap());
                }
                start.elapsed()
            }
        })
    });

    for n in [100usize, 1_000] {
        let batch: Vec<_> = s.rt.block_on(async {
            let mut v = Vec::with_capacity(n);
            for i in 0..n {
                let key = format!("bench-batch-{n}-{i}");
                v.push(m.try_acquire(&key, "bench", TTL).await.unwrap().unwrap());
            }
            v
        });
        group.bench_with_input(BenchmarkId::new("renew_many", n), &batch, |b, batch| {
            b.to_async(&s.rt).iter(|| {
                let m = m.clone();
                async move {
                    let renewed = m.renew_many(batch).await.unwrap();
                    assert!(renewed.iter().all(Option::is_some));
                }
            })
        });
    }
    group.finish();
}

fn jobs(c: &mut Criterion) {
    let s = setup();
    let jobs: Arc<dyn TranscodeJobStore> = Arc::new(s.store.jobs());
    // A real token: the Redis claim script refuses tokens older than the server's start.
    let token =
        s.rt.block_on(s.store.leases().try_acquire(
            "bench-job",
            "bench",
            Duration::from_secs(3600),
        ))
        .unwrap()
        .expect("bench-job lease free");
    let token = token.token;
    s.rt.block_on(jobs.claim(&JobClaim {
        key: "bench-job".into(),
        source: "movie".into(),
        profile: "{}".into(),
        owner_node: "bench".into(),
        owner_addr: None,
        token,
        start_segment: 0,
    }))
    .unwrap();
    let mut segment = 0u32;
    c.bench_function("redis_job/record_progress", |b| {
        b.to_async(&s.rt).iter_custom(|iters| {
            let jobs = jobs.clone();
            let first = segment;
            segment = segment.wrapping_add(iters as u32);
            async move {
                let start = Instant::now();
                for i in 0..iters as u32 {
                    jobs.record_progress("bench-job", token, first.wrapping_add(i))
                        .await
                        .unwrap();
                }
                start.elapsed()
            }
        })
    });
}

criterion_group!(benches, leases, jobs);
criterion_main!(benches);
