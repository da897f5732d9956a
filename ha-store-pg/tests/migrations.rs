//! Migrations run exactly once, even when several replicas start at the same moment.

mod common;

use ha_store_pg::{PgStore, PgStoreConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrators_apply_each_migration_once() {
    let url = ha_testkit::postgres_url().await;
    let schema = ha_testkit::unique("migrate");
    let config = PgStoreConfig::from_url(&url)
        .unwrap()
        .with_schema(&schema)
        .with_pool_size(2);

    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let config = config.clone();
            tokio::spawn(async move {
                let store = PgStore::connect_without_migrating(config)?;
                store.migrate().await
            })
        })
        .collect();
    let mut applied_total = Vec::new();
    for task in tasks {
        let report = task.await.expect("task").expect("every migrator succeeds");
        applied_total.extend(report.applied);
    }
    applied_total.sort();
    let versions: Vec<u32> = applied_total.iter().map(|(v, _)| *v).collect();
    assert_eq!(
        versions,
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9],
        "each migration applied by exactly one migrator"
    );

    // The history table in the schema holds each version once.
    let store = PgStore::connect_without_migrating(config.clone()).unwrap();
    let client = store.pool().get().await.unwrap();
    let rows = client
        .query(
            "SELECT version, count(*) AS n FROM refinery_schema_history GROUP BY version ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let history: Vec<(i32, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        history,
        vec![
            (1, 1),
            (2, 1),
            (3, 1),
            (4, 1),
            (5, 1),
            (6, 1),
            (7, 1),
            (8, 1),
            (9, 1)
        ]
    );

    // Running again is a no-op, and no advisory lock is left behind.
    assert!(store.migrate().await.unwrap().applied.is_empty());
    let free: bool = client
        .query_one(
            "SELECT pg_try_advisory_lock(hashtextextended('media-ha migrate ' || $1, 0))",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert!(free, "the migration lock was released");
    client
        .execute(
            "SELECT pg_advisory_unlock(hashtextextended('media-ha migrate ' || $1, 0))",
            &[&schema],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn tables_live_in_the_configured_schema() {
    let store = common::fresh_store("schema").await;
    let schema = store.config().schema().to_owned();
    let client = store.pool().get().await.unwrap();
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 \
             AND table_name IN ('users', 'items', 'user_item_data', 'devices', 'activity', \
                                'leases', 'transcode_jobs', 'sessions')",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 8);
}
