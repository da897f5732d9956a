//! LeaseKeeper behaviour on paused tokio time: renewals, loss, release, failing stores.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ha_core::memory::MemoryLeaseManager;
use ha_core::{
    telemetry, Error, KeeperConfig, KeeperStatus, Lease, LeaseKeeper, LeaseManager, Result,
    SystemClock,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

const TTL: Duration = Duration::from_secs(3);

async fn setup() -> (Arc<MemoryLeaseManager>, Lease) {
    let leases = Arc::new(MemoryLeaseManager::new());
    let lease = leases
        .try_acquire("job", "node-a", TTL)
        .await
        .unwrap()
        .unwrap();
    (leases, lease)
}

#[tokio::test(start_paused = true)]
async fn keeps_the_lease_alive_far_past_its_ttl() {
    let (leases, lease) = setup().await;
    let keeper = LeaseKeeper::spawn(
        leases.clone(),
        lease.clone(),
        SystemClock::shared(),
        KeeperConfig::default(),
    );
    tokio::time::sleep(TTL * 10).await;
    assert!(keeper.is_held());
    let current = leases.current("job").await.unwrap().unwrap();
    assert_eq!(
        (current.holder.as_str(), current.token),
        ("node-a", lease.token)
    );
    assert!(keeper.lease().unwrap().expires_at > lease.expires_at + TTL * 8);
}

#[tokio::test(start_paused = true)]
async fn shutdown_releases_so_another_node_takes_over_at_once() {
    let (leases, lease) = setup().await;
    let keeper = LeaseKeeper::spawn(
        leases.clone(),
        lease.clone(),
        SystemClock::shared(),
        KeeperConfig::default(),
    );
    tokio::time::sleep(TTL).await;
    assert_eq!(keeper.shutdown().await, KeeperStatus::Released);
    let next = leases.try_acquire("job", "node-b", TTL).await.unwrap();
    assert!(next.unwrap().token > lease.token);
}

#[tokio::test(start_paused = true)]
async fn a_takeover_is_reported_as_loss() {
    let (leases, lease) = setup().await;
    let keeper = LeaseKeeper::spawn(
        leases.clone(),
        lease.clone(),
        SystemClock::shared(),
        KeeperConfig::default(),
    );
    // Somebody forcibly ends the tenure (e.g. an admin release) and another node takes it.
    assert!(leases.release(&lease).await.unwrap());
    leases
        .try_acquire("job", "node-b", TTL)
        .await
        .unwrap()
        .unwrap();
    let status = tokio::time::timeout(TTL, keeper.lost())
        .await
        .expect("loss within one TTL");
    assert!(matches!(status, KeeperStatus::Lost { .. }), "{status:?}");
    assert!(!keeper.is_held());
}

/// A manager whose store can be switched off: renewals fail with `Unavailable`.
#[derive(Debug)]
struct Flaky {
    inner: MemoryLeaseManager,
    down: AtomicBool,
    hang: AtomicBool,
}

impl Flaky {
    async fn check(&self) -> Result<()> {
        if self.hang.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::Unavailable {
                what: "test store".into(),
                source: None,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl LeaseManager for Flaky {
    async fn try_acquire(&self, key: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        self.check().await?;
        self.inner.try_acquire(key, holder, ttl).await
    }
    async fn renew(&self, lease: &Lease) -> Result<Lease> {
        self.check().await?;
        self.inner.renew(lease).await
    }
    async fn renew_many(&self, leases: &[Lease]) -> Result<Vec<Option<Lease>>> {
        self.check().await?;
        self.inner.renew_many(leases).await
    }
    async fn release(&self, lease: &Lease) -> Result<bool> {
        self.check().await?;
        self.inner.release(lease).await
    }
    async fn current(&self, key: &str) -> Result<Option<Lease>> {
        self.check().await?;
        self.inner.current(key).await
    }
    async fn take_over(&self, stale: &Lease, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        self.check().await?;
        self.inner.take_over(stale, holder, ttl).await
    }
}

fn flaky() -> Arc<Flaky> {
    Arc::new(Flaky {
        inner: MemoryLeaseManager::new(),
        down: AtomicBool::new(false),
        hang: AtomicBool::new(false),
    })
}

#[tokio::test(start_paused = true)]
async fn a_short_outage_is_ridden_out() {
    let store = flaky();
    let lease = store
        .try_acquire("job", "node-a", TTL)
        .await
        .unwrap()
        .unwrap();
    let keeper = LeaseKeeper::spawn(
        store.clone(),
        lease,
        SystemClock::shared(),
        KeeperConfig::default(),
    );
    tokio::time::sleep(TTL / 2).await;
    store.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(700)).await; // shorter than what is left of the TTL
    store.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(TTL * 3).await;
    assert!(keeper.is_held());
}

#[tokio::test(start_paused = true)]
async fn a_long_outage_is_reported_before_the_lease_could_expire() {
    for hang in [false, true] {
        let store = flaky();
        let lease = store
            .try_acquire("job", "node-a", TTL)
            .await
            .unwrap()
            .unwrap();
        let keeper = LeaseKeeper::spawn(
            store.clone(),
            lease,
            SystemClock::shared(),
            KeeperConfig::default(),
        );
        tokio::time::sleep(TTL / 2).await;
        let last_deadline = keeper.lease().unwrap().expires_at;
        if hang {
            store.hang.store(true, Ordering::SeqCst);
        } else {
            store.down.store(true, Ordering::SeqCst);
        }
        let status = keeper.lost().await;
        let noticed = tokio::time::Instant::now();
        assert!(matches!(status, KeeperStatus::Lost { .. }), "{status:?}");
        assert!(
            noticed < last_deadline,
            "loss must be signalled before the store could expire the lease (hang={hang})"
        );
    }
}

/// A manager whose renewals take a fixed time (on tokio's clock, so paused tests are exact).
#[derive(Debug)]
struct Slow {
    inner: MemoryLeaseManager,
    renew_takes: Duration,
}

#[async_trait]
impl LeaseManager for Slow {
    async fn try_acquire(&self, key: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        self.inner.try_acquire(key, holder, ttl).await
    }
    async fn renew(&self, lease: &Lease) -> Result<Lease> {
        tokio::time::sleep(self.renew_takes).await;
        self.inner.renew(lease).await
    }
    async fn renew_many(&self, leases: &[Lease]) -> Result<Vec<Option<Lease>>> {
        self.inner.renew_many(leases).await
    }
    async fn release(&self, lease: &Lease) -> Result<bool> {
        self.inner.release(lease).await
    }
    async fn current(&self, key: &str) -> Result<Option<Lease>> {
        self.inner.current(key).await
    }
    async fn take_over(&self, stale: &Lease, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        self.inner.take_over(stale, holder, ttl).await
    }
}

/// What a local recorder holds: the renew-time samples (seconds) and the lost-lease count.
fn recorded(snapshotter: &Snapshotter) -> (Vec<f64>, u64) {
    let (mut samples, mut lost) = (Vec::new(), 0);
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        match (key.key().name(), value) {
            (telemetry::LEASE_RENEW_SECONDS, DebugValue::Histogram(v)) => {
                samples.extend(v.into_iter().map(|x| x.into_inner()));
            }
            (telemetry::LEASES_LOST_TOTAL, DebugValue::Counter(n)) => lost = n,
            _ => {}
        }
    }
    (samples, lost)
}

#[tokio::test(start_paused = true)]
async fn renew_time_and_lost_leases_are_reported_through_the_metrics_facade() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // The test runtime is single-threaded, so the keeper's task records into this recorder.
    let _guard = metrics::set_default_local_recorder(&recorder);

    let store = Arc::new(Slow {
        inner: MemoryLeaseManager::new(),
        renew_takes: Duration::from_millis(30),
    });
    let lease = store
        .try_acquire("job", "node-a", TTL)
        .await
        .unwrap()
        .unwrap();
    let keeper = LeaseKeeper::spawn(
        store.clone(),
        lease,
        SystemClock::shared(),
        KeeperConfig::default(),
    );
    // Renewals every TTL/3 = 1 s, each answered 30 ms after it was sent: three in 3.5 s, timed
    // on the injected (paused) clock.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    assert!(keeper.is_held());
    let (samples, lost) = recorded(&snapshotter);
    assert_eq!(samples, vec![0.03; 3]);
    assert_eq!(lost, 0);

    // A failed renewal is timed too (the store answered); a tenure that runs out is counted.
    let flaky = flaky();
    let lease = flaky
        .try_acquire("job", "node-a", TTL)
        .await
        .unwrap()
        .unwrap();
    let other = LeaseKeeper::spawn(
        flaky.clone(),
        lease,
        SystemClock::shared(),
        KeeperConfig::default(),
    );
    flaky.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(TTL + Duration::from_secs(1)).await;
    assert!(!other.is_held());
    let (samples, lost) = recorded(&snapshotter);
    assert!(samples.len() > 3, "{samples:?}");
    assert_eq!(lost, 1);
    keeper.shutdown().await;
}
