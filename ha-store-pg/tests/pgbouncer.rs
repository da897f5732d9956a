//! The store behind a real PgBouncer (`ha_testkit::PgBouncer`, the Debian `pgbouncer`): in
//! session mode it works, leases, events and migrations included; in transaction mode it is
//! refused at start-up with a message naming the fix, instead of running statements against
//! the wrong session later.

use std::sync::Arc;
use std::time::Duration;

use ha_core::{BusMessage, EventBus, EventPublisher, LeaseManager, MetadataRepo};
use ha_store_pg::{PgError, PgStore, PgStoreConfig};
use ha_testkit::{PgBouncer, PoolMode, PostgresServer};

fn config(url: &str, schema: &str) -> PgStoreConfig {
    PgStoreConfig::from_url(url)
        .unwrap()
        .with_schema(schema)
        .with_pool_size(2)
        .with_connect_timeout(Duration::from_secs(2))
        .with_wait_timeout(Duration::from_secs(2))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_pooling_is_refused_at_start_up_with_the_fix() {
    let pg = PostgresServer::start().await;
    let bouncer = PgBouncer::start(&pg, PoolMode::Transaction, &[]).await;
    let refused = PgStore::connect(config(&bouncer.url(), "pooled")).await;
    let err = refused.expect_err("a transaction-mode pooler is refused");
    assert!(matches!(err, PgError::Unsupported { .. }), "{err:?}");
    let message = err.to_string();
    eprintln!("refused as expected: {message}");
    for needle in [
        &format!("127.0.0.1:{}", bouncer.port()),
        "pool_mode=session",
        "connect to PostgreSQL directly",
    ] {
        assert!(
            message.contains(needle),
            "{needle:?} missing from: {message}"
        );
    }
    // Nothing was migrated through it.
    let direct = PgStore::connect_without_migrating(config(&pg.url(), "pooled")).unwrap();
    let client = direct.pool().get().await.unwrap();
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'pooled'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "the refusal comes before any migration");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_pooling_works_with_leases_events_and_metadata() {
    let pg = PostgresServer::start().await;
    let bouncer = PgBouncer::start(&pg, PoolMode::Session, &[]).await;
    let store = PgStore::connect(config(&bouncer.url(), "bounced"))
        .await
        .expect("session mode is accepted");

    // Statements run in our schema (the settings made when a connection opens held).
    let repo = store.metadata();
    assert!(repo.list_users().await.unwrap().is_empty());
    let leases = store.leases();
    let lease = leases
        .try_acquire("job:x", "node-a", Duration::from_secs(30))
        .await
        .unwrap()
        .expect("free");
    let current = leases.current("job:x").await.unwrap().expect("held");
    assert_eq!(
        (current.holder, current.token),
        (lease.holder.clone(), lease.token)
    );
    assert!(leases.release(&lease).await.unwrap());

    // LISTEN works through a session-mode pooler.
    let bus: Arc<dyn EventBus> = Arc::new(store.events());
    let mut sub = bus.subscribe().await.unwrap();
    EventPublisher::new(bus.clone(), "node-a")
        .publish("library.changed", serde_json::json!({"n": 1}))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), sub.next()).await;
    assert!(matches!(got, Ok(Some(BusMessage::Event(_)))), "{got:?}");

    // The tables are where the schema says, seen from a direct connection.
    let (client, conn) = tokio_postgres::connect(&pg.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'bounced'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(tables > 5, "migrated into the schema: {tables} tables");
}
