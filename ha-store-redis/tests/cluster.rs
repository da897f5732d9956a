//! The whole conformance suite on a real 3-primary Redis Cluster (ha_testkit's
//! [`RedisClusterSet`], loopback ports, `requirepass` on every node), through a
//! `redis+cluster://` URL.
//!
//! One test owns the cluster and runs every conformance function concurrently against it
//! (each with its own store and key prefix), instead of one cluster per test: three processes
//! and a cluster formation per test would cost more than the tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ha_core::conformance;
use ha_core::{EventBus, LeaseManager, SessionStore, SlotLimiter, TranscodeJobStore};
use ha_store_redis::{RedisStore, RedisStoreConfig, Target};
use ha_testkit::RedisClusterSet;

const PASSWORD: &str = "cluster-secret";

type Check = Pin<Box<dyn Future<Output = ()> + Send>>;

async fn store(url: &str, prefix: &str, retention: Duration) -> RedisStore {
    let config = RedisStoreConfig::from_url(url)
        .unwrap()
        .with_password(PASSWORD)
        .with_prefix(prefix)
        .with_job_retention(retention);
    RedisStore::connect(config)
        .await
        .expect("connect to the cluster")
}

async fn leases(url: String) -> Arc<dyn LeaseManager> {
    Arc::new(
        store(&url, &ha_testkit::unique("cl"), Duration::from_secs(600))
            .await
            .leases(),
    )
}

async fn jobs(url: String, retention: Duration) -> Arc<dyn TranscodeJobStore> {
    Arc::new(
        store(&url, &ha_testkit::unique("cl"), retention)
            .await
            .jobs(),
    )
}

async fn sessions(url: String) -> Arc<dyn SessionStore> {
    Arc::new(
        store(&url, &ha_testkit::unique("cl"), Duration::from_secs(600))
            .await
            .sessions(),
    )
}

async fn slots(url: String) -> Arc<dyn SlotLimiter> {
    Arc::new(
        store(&url, &ha_testkit::unique("cl"), Duration::from_secs(600))
            .await
            .slots(),
    )
}

/// Two handles on one channel, as two replicas would have.
async fn events(url: String, prefix: String) -> (Arc<dyn EventBus>, Arc<dyn EventBus>) {
    let a = store(&url, &prefix, Duration::from_secs(600))
        .await
        .events();
    let b = store(&url, &prefix, Duration::from_secs(600))
        .await
        .events();
    (Arc::new(a), Arc::new(b))
}

/// One boxed check per conformance function: `checks!(module, |url| make(url).await, [names])`.
macro_rules! checks {
    ($out:ident, $url:expr, $module:ident, |$u:ident| $make:expr, [$($name:ident),* $(,)?]) => {
        $(
            let $u = $url.clone();
            $out.push(Box::pin(async move {
                conformance::$module::$name($make).await;
            }) as Check);
        )*
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_on_a_three_primary_cluster() {
    let cluster = RedisClusterSet::start(3, Some(PASSWORD), false).await;
    let url = cluster.url();
    assert!(url.starts_with("redis+cluster://"));
    let config = RedisStoreConfig::from_url(&url).unwrap();
    assert!(matches!(config.target(), Target::Cluster(nodes) if nodes.len() == 3));

    let mut all: Vec<Check> = Vec::new();
    checks!(
        all,
        url,
        lease,
        |u| leases(u).await,
        [
            lease_acquire_excludes_other_holders,
            lease_renew_keeps_token_and_extends,
            lease_release_frees_key_and_next_token_is_larger,
            lease_release_by_non_owner_is_refused,
            lease_expiry_allows_takeover_and_fences_old_holder,
            lease_renew_many_reports_each_lease,
            lease_concurrent_contenders_have_one_winner,
            lease_current_reports_holder_and_deadline,
            lease_local_deadline_is_counted_from_send,
            lease_tokens_increase_over_tenures,
            lease_invalid_arguments_are_rejected,
        ]
    );
    checks!(
        all,
        url,
        jobs,
        |u| jobs(u, Duration::from_secs(600)).await,
        [
            jobs_claim_creates_running_record,
            jobs_progress_only_moves_forward,
            jobs_stale_token_writes_are_fenced,
            jobs_same_token_reclaim_restarts_run,
            jobs_set_state_records_failure,
            jobs_progress_on_missing_record_is_not_found,
            jobs_list_and_remove,
            jobs_concurrent_claims_leave_highest_token,
        ]
    );
    checks!(
        all,
        url,
        jobs,
        |u| jobs(u, Duration::from_secs(1)).await,
        [jobs_record_expires_after_retention,]
    );
    checks!(
        all,
        url,
        sessions,
        |u| sessions(u).await,
        [
            sessions_put_get_round_trip,
            sessions_expire_after_ttl,
            sessions_touch_extends_ttl,
            sessions_remove_ends_session,
            sessions_put_replaces_and_list_shows_live,
        ]
    );
    checks!(
        all,
        url,
        slots,
        |u| slots(u).await,
        [
            slots_capacity_is_enforced,
            slots_release_returns_capacity,
            slots_expired_holder_returns_capacity,
            slots_renew_extends_and_fails_after_expiry,
            slots_concurrent_acquirers_respect_capacity,
        ]
    );
    // Each event test on its own channel (the prefix names it), shared by its two handles.
    macro_rules! event_checks {
        ($($name:ident),*) => {
            $(
                let u = url.clone();
                all.push(Box::pin(async move {
                    let (a, b) = events(u, ha_testkit::unique("cl-events")).await;
                    conformance::events::$name(a, b).await;
                }) as Check);
            )*
        };
    }
    event_checks!(
        events_arrive_in_order_across_instances,
        events_gap_is_reported_before_the_event,
        events_duplicates_are_dropped,
        events_every_subscriber_receives
    );

    let n = all.len();
    tokio::time::timeout(Duration::from_secs(240), futures::future::join_all(all))
        .await
        .unwrap_or_else(|_| panic!("{n} conformance checks did not finish within 240 s"));

    // The keys really are spread over the three primaries (hash tags put each lease, job and
    // session in its own slot), so the suite exercised cross-node routing.
    let mut nodes_with_keys = 0;
    for port in cluster.ports() {
        let count = cluster.node_command(port, &["DBSIZE"]).unwrap();
        if count.trim().parse::<u64>().unwrap_or(0) > 0 {
            nodes_with_keys += 1;
        }
    }
    assert_eq!(nodes_with_keys, 3, "keys on {nodes_with_keys} of 3 nodes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_cluster_with_a_private_ca() {
    let cluster = RedisClusterSet::start(3, Some(PASSWORD), true).await;
    let url = cluster.url();
    assert!(url.starts_with("rediss+cluster://"));
    let ca = cluster.tls().expect("TLS material").ca_pem();
    let config = RedisStoreConfig::from_url(&url)
        .unwrap()
        .with_password(PASSWORD)
        .with_prefix(ha_testkit::unique("cl-tls"))
        .with_tls_root_cert(ca);
    let store = RedisStore::connect(config).await.expect("connect over TLS");
    // Leases spread over nodes (different hash tags), renewed in one batch call per slot.
    let leases = store.leases();
    let mut held = Vec::new();
    for i in 0..12 {
        let lease = leases
            .try_acquire(&format!("k{i}"), "a", Duration::from_secs(10))
            .await
            .unwrap()
            .expect("free key");
        held.push(lease);
    }
    let renewed = leases.renew_many(&held).await.unwrap();
    assert!(renewed.iter().all(Option::is_some), "{renewed:?}");
    // Events between two handles over TLS.
    let prefix = ha_testkit::unique("cl-tls-events");
    let (a, b) = {
        let make = |p: &str| {
            RedisStoreConfig::from_url(&url)
                .unwrap()
                .with_password(PASSWORD)
                .with_prefix(p)
                .with_tls_root_cert(cluster.tls().expect("TLS material").ca_pem())
        };
        (
            RedisStore::connect(make(&prefix)).await.unwrap().events(),
            RedisStore::connect(make(&prefix)).await.unwrap().events(),
        )
    };
    conformance::events::events_arrive_in_order_across_instances(Arc::new(a), Arc::new(b)).await;
    // Without the CA the nodes are not trusted.
    let untrusted = RedisStoreConfig::from_url(&url)
        .unwrap()
        .with_password(PASSWORD)
        .with_op_timeout(Duration::from_secs(1));
    assert!(RedisStore::connect(untrusted).await.is_err());
}
