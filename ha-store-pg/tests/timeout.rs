//! A slow or stalled database gives `Timeout`, never a hang.

mod common;

use std::time::Duration;

use ha_core::{ids, Error, MetadataRepo, User};
use ha_store_pg::{PgStore, PgStoreConfig};

fn user(name: &str) -> User {
    User {
        id: ids::new_id(),
        name: name.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        is_admin: false,
        created_ms: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_stuck_on_a_lock_times_out() {
    let schema = ha_testkit::unique("stmt_timeout");
    let url = ha_testkit::postgres_url().await;
    let config = PgStoreConfig::from_url(&url)
        .unwrap()
        .with_schema(&schema)
        .with_statement_timeout(Duration::from_millis(300));
    let store = PgStore::connect(config).await.unwrap();
    let repo = store.metadata();
    let u = user("locked");
    repo.create_user(&u).await.unwrap();

    let (locker, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    locker
        .batch_execute(&format!("BEGIN; SELECT * FROM {schema}.users FOR UPDATE"))
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(20), repo.update_user(&u))
        .await
        .expect("no hang");
    assert!(
        matches!(result, Err(Error::Timeout { after, .. }) if after == Duration::from_millis(300)),
        "{result:?}"
    );
    locker.batch_execute("ROLLBACK").await.unwrap();
    repo.update_user(&u).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_times_out_waiting() {
    let url = ha_testkit::postgres_url().await;
    let config = PgStoreConfig::from_url(&url)
        .unwrap()
        .with_schema(ha_testkit::unique("pool_timeout"))
        .with_pool_size(1)
        .with_wait_timeout(Duration::from_millis(200));
    let store = PgStore::connect(config).await.unwrap();
    let repo = store.metadata();
    let held = store.pool().get().await.unwrap();
    let result = tokio::time::timeout(Duration::from_secs(20), repo.list_users())
        .await
        .expect("no hang");
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    drop(held);
    repo.list_users().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_times_out_then_recovers() {
    let pg = ha_testkit::PostgresServer::start().await;
    let config = PgStoreConfig::from_url(&pg.url())
        .unwrap()
        .with_schema("frozen")
        .with_connect_timeout(Duration::from_millis(500))
        .with_wait_timeout(Duration::from_millis(500));
    let store = PgStore::connect(config).await.unwrap();
    let repo = store.metadata();
    // A fresh store on the frozen server must open a connection: the postmaster does not answer.
    let fresh = PgStore::connect_without_migrating(store.config().clone()).unwrap();
    pg.pause();
    let result = tokio::time::timeout(Duration::from_secs(20), fresh.metadata().list_users())
        .await
        .expect("no hang");
    pg.resume();
    assert!(
        result.as_ref().is_err_and(Error::is_transient),
        "{result:?}"
    );
    assert!(repo.list_users().await.unwrap().is_empty());
    assert!(fresh.metadata().list_users().await.unwrap().is_empty());
}
