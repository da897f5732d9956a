//! Sentinel against real `redis-server` and `redis-server --sentinel` processes
//! (ha_testkit's [`RedisSentinelSet`]): open, with `requirepass` on the data nodes and the
//! sentinels, with TLS, through a `SENTINEL FAILOVER` and a killed primary.

use std::sync::Arc;
use std::time::Duration;

use ha_core::{
    BusMessage, Error, EventBus, EventPublisher, FencingToken, JobClaim, Lease, LeaseManager,
    TranscodeJobStore,
};
use ha_store_redis::{RedisStore, RedisStoreConfig, RedisStoreError, Target};
use ha_testkit::RedisSentinelSet;

const DATA_PASSWORD: &str = "data-p@ss/word";
const SENTINEL_PASSWORD: &str = "sentinel-secret";

fn claim(key: &str, owner: &str, token: FencingToken) -> JobClaim {
    JobClaim {
        key: key.into(),
        source: "movie-1".into(),
        profile: "{}".into(),
        owner_node: owner.into(),
        owner_addr: None,
        token,
        start_segment: 0,
    }
}

/// The config for `set`, credentials and CA included.
fn config_for(set: &RedisSentinelSet, prefix: &str) -> RedisStoreConfig {
    let mut config = RedisStoreConfig::from_url(&set.url())
        .unwrap()
        .with_prefix(ha_testkit::unique(prefix))
        .with_op_timeout(Duration::from_secs(1));
    if let Some(tls) = set.tls() {
        config = config.with_tls_root_cert(tls.ca_pem());
    }
    config
}

fn authenticated(set: &RedisSentinelSet, prefix: &str) -> RedisStoreConfig {
    config_for(set, prefix)
        .with_password(DATA_PASSWORD)
        .with_sentinel_password(SENTINEL_PASSWORD)
}

async fn events_flow(store: &RedisStore) {
    let bus: Arc<dyn EventBus> = Arc::new(store.events());
    let mut sub = bus.subscribe().await.unwrap();
    EventPublisher::new(bus.clone(), "n")
        .publish("t", serde_json::json!({}))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("an event within 10 s");
    assert!(matches!(got, Some(BusMessage::Event(_))), "{got:?}");
}

/// Retries `op` through the transient errors of a failover (the store asks the sentinels
/// again after each), for at most 40 s.
async fn through_failover<T, F, Fut>(what: &str, mut op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ha_core::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        match op().await {
            Ok(v) => return v,
            Err(e) => {
                assert!(e.is_transient(), "{what}: {e:?}");
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{what}: the store did not follow the failover within 40 s: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// A lease and a job written before a `SENTINEL FAILOVER` are on the new primary after it;
/// the holder keeps working there; once another node takes over, the old token can no longer
/// write, and the new token is larger.
async fn failover_keeps_fencing(set: &RedisSentinelSet, store: &RedisStore) {
    let leases = store.leases();
    let jobs = store.jobs();
    let (lease_key, job) = ("job:movie-1/720p", "movie-1/720p");
    let a: Lease = leases
        .try_acquire(lease_key, "node-a", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("a free key");
    jobs.claim(&claim(job, "node-a", a.token)).await.unwrap();
    jobs.record_progress(job, a.token, 3).await.unwrap();
    // Asynchronous replication may lose the last writes in a failover (the documented window);
    // this test is about what happens to writes the replica has.
    set.wait_replicated().await;

    let old = set.primary_port();
    let started = std::time::Instant::now();
    let new = set.failover().await;
    let promoted = started.elapsed();
    assert_ne!(old, new);
    // Until the sentinels turn the old primary into a replica (seconds later) it still accepts
    // writes, and whatever lands there is lost when it resyncs. The store listens to the
    // sentinels' +switch-master and moves at once: a fresh write reaches the new primary while
    // the old one still calls itself master.
    let mut attempt = 0;
    let switched = loop {
        attempt += 1;
        let probe = format!("after-failover-{attempt}");
        let written = leases
            .try_acquire(&probe, "node-a", Duration::from_secs(30))
            .await;
        let on_new = written.is_ok()
            && set
                .node_command(new, &["KEYS", &format!("*lease:{probe}}}")])
                .is_ok_and(|k| k.lines().count() == 1);
        if on_new {
            break started.elapsed();
        }
        assert_eq!(
            set.role(old).as_deref(),
            Some("master"),
            "the old primary was demoted before the store wrote to the new one: \
             +switch-master was not followed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while set.role(old).as_deref() != Some("slave") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "old primary never demoted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let demoted = started.elapsed();

    // Work continues against the new primary: the holder renews with its token.
    let renewed = through_failover("renew after the failover", || leases.renew(&a)).await;
    assert_eq!(renewed.token, a.token);
    // Figures for docs/RELIABILITY.md (printed, never asserted: the machine is noisy).
    eprintln!(
        "SENTINEL FAILOVER: new primary agreed after {promoted:?}, the store wrote there after \
         {switched:?}, the old primary was demoted after {demoted:?}"
    );
    // The lease lives on the new primary.
    let keys = set
        .node_command(new, &["KEYS", "*lease:job:movie-1/720p}"])
        .unwrap();
    assert_eq!(keys.lines().count(), 1, "{keys:?}");
    // The write went to the new primary (the old one is a read-only replica now or soon).
    assert_eq!(set.role(new).as_deref(), Some("master"));
    let record = jobs.record_progress(job, a.token, 4).await.unwrap();
    assert_eq!(record.last_segment, Some(4));
    // The lease survived: nobody else can take it.
    assert!(leases
        .try_acquire(lease_key, "node-b", Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());

    // Hand-over on the new primary: a larger token, and the old one is fenced.
    assert!(leases.release(&renewed).await.unwrap());
    let b = leases
        .try_acquire(lease_key, "node-b", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("released key");
    assert!(b.token > a.token, "{:?} after {:?}", b.token, a.token);
    let taken = jobs.claim(&claim(job, "node-b", b.token)).await.unwrap();
    assert_eq!(taken.owner_node, "node-b");
    let stale = jobs.record_progress(job, a.token, 9).await;
    assert!(matches!(stale, Err(Error::Fenced { .. })), "{stale:?}");
    let stale = jobs.claim(&claim(job, "node-a", a.token)).await;
    assert!(matches!(stale, Err(Error::Fenced { .. })), "{stale:?}");
    assert!(leases.renew(&a).await.is_err());
    assert_eq!(jobs.get(job).await.unwrap().map(|r| r.token), Some(b.token));

    // Subscribers followed too.
    events_flow(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_and_events_through_an_open_sentinel() {
    let set = RedisSentinelSet::builder().replicas(0).start().await;
    let config = config_for(&set, "sentinel");
    assert!(matches!(config.target(), Target::Sentinel { .. }));
    let store = RedisStore::connect(config).await.unwrap();
    let leases = store.leases();
    let lease = leases
        .try_acquire("k", "a", Duration::from_secs(5))
        .await
        .unwrap()
        .unwrap();
    // The lease really is on the primary the sentinel named.
    let keys = set
        .node_command(set.primary_port(), &["KEYS", "*sentinel*lease:k}"])
        .unwrap();
    assert_eq!(keys.lines().count(), 1, "{keys:?}");
    assert!(leases.release(&lease).await.unwrap());
    events_flow(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_on_data_nodes_and_sentinels_through_a_failover() {
    let set = RedisSentinelSet::builder()
        .replicas(1)
        .sentinels(3)
        .password(DATA_PASSWORD)
        .sentinel_password(SENTINEL_PASSWORD)
        .start()
        .await;
    // The password in the URL (percent-encoded), the sentinels' in the query.
    let url = set.url().replacen(
        "://",
        &format!(
            "://:{}@",
            DATA_PASSWORD.replace('@', "%40").replace('/', "%2F")
        ),
        1,
    ) + &format!("?sentinel_password={SENTINEL_PASSWORD}");
    let config = RedisStoreConfig::from_url(&url)
        .unwrap()
        .with_prefix(ha_testkit::unique("sentinel-auth"))
        .with_op_timeout(Duration::from_secs(1));
    assert!(!format!("{config:?}").contains(DATA_PASSWORD));
    let store = RedisStore::connect(config).await.unwrap();
    failover_keeps_fencing(&set, &store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_passwords_to_sentinels_and_primary_through_a_failover() {
    let set = RedisSentinelSet::builder()
        .replicas(1)
        .sentinels(2)
        .password(DATA_PASSWORD)
        .sentinel_password(SENTINEL_PASSWORD)
        .tls(true)
        .start()
        .await;
    assert!(set.url().starts_with("rediss+sentinel://"));
    let store = RedisStore::connect(authenticated(&set, "sentinel-tls"))
        .await
        .unwrap();
    failover_keeps_fencing(&set, &store).await;

    // Without the CA the sentinels are not trusted: connecting fails, naming them.
    let untrusted = RedisStoreConfig::from_url(&set.url())
        .unwrap()
        .with_password(DATA_PASSWORD)
        .with_sentinel_password(SENTINEL_PASSWORD)
        .with_op_timeout(Duration::from_secs(1));
    let err = RedisStore::connect(untrusted).await.unwrap_err();
    assert!(matches!(err, RedisStoreError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("sentinels 127.0.0.1:"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_passwords_are_named_at_connect() {
    let set = RedisSentinelSet::builder()
        .replicas(0)
        .password(DATA_PASSWORD)
        .sentinel_password(SENTINEL_PASSWORD)
        .start()
        .await;
    // Sentinels reachable, primary password missing. The lookup itself asks the primary for its
    // role, so the failure names the sentinels' lookup and both passwords to check.
    let no_data_password = config_for(&set, "auth").with_sentinel_password(SENTINEL_PASSWORD);
    let err = RedisStore::connect(no_data_password).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("sentinels 127.0.0.1:"), "{text}");
    assert!(text.contains("lookup of the primary"), "{text}");
    assert!(text.contains("authentication failed"), "{text}");
    assert!(text.contains("with_password"), "{text}");
    assert!(!text.contains(DATA_PASSWORD));

    // Sentinel password wrong: the error names the sentinels.
    let bad_sentinel = config_for(&set, "auth")
        .with_password(DATA_PASSWORD)
        .with_sentinel_password("wrong");
    let err = RedisStore::connect(bad_sentinel).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("sentinels 127.0.0.1:"), "{text}");
    assert!(!text.contains("wrong"), "{text}");
    let err: ha_core::Error = err.into();
    assert!(!err.is_transient(), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_follows_a_killed_primary() {
    let mut set = RedisSentinelSet::builder()
        .replicas(1)
        .password(DATA_PASSWORD)
        .start()
        .await;
    let config = config_for(&set, "killed").with_password(DATA_PASSWORD);
    let store = RedisStore::connect(config).await.unwrap();
    let leases = store.leases();
    let before = leases
        .try_acquire("k", "a", Duration::from_secs(2))
        .await
        .unwrap()
        .unwrap();

    let old = set.primary_port();
    set.kill_node(old);
    // The sentinel notices (down-after 1 s), promotes the replica, and the store follows.
    let after = through_failover("acquire after the primary died", || {
        leases.try_acquire("k2", "b", Duration::from_secs(2))
    })
    .await
    .expect("k2 is free");
    // Tokens come from the (shared, local) clock: larger than before the failover.
    assert!(after.token > before.token);
    let new = set.primary_port();
    assert_ne!(new, old);
    assert_eq!(set.role(new).as_deref(), Some("master"));
}
