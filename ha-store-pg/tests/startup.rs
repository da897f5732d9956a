//! Start-up errors say which store, which host(s) and what to check, and never the password.

use std::time::Duration;

use ha_store_pg::{PgError, PgStore, PgStoreConfig};

#[tokio::test]
async fn an_unreachable_store_is_named_with_every_host_and_what_to_check() {
    let (a, b) = (ha_testkit::free_port(), ha_testkit::free_port());
    let url = format!(
        "postgres://media:secret@127.0.0.1:{a},127.0.0.1:{b}/media?target_session_attrs=read-write"
    );
    let config = PgStoreConfig::from_url(&url)
        .unwrap()
        .with_connect_timeout(Duration::from_secs(1));
    let err = PgStore::connect(config).await.expect_err("nothing listens");
    assert!(matches!(err, PgError::Connect { .. }), "{err:?}");
    let message = err.to_string();
    eprintln!("refused as expected: {message}");
    for needle in [
        "PostgreSQL store",
        &format!("postgres://media@127.0.0.1:{a},127.0.0.1:{b}/media"),
        "accepts TCP connections",
        "target_session_attrs=read-write",
    ] {
        assert!(
            message.contains(needle),
            "{needle:?} missing from: {message}"
        );
    }
    assert!(!message.contains("secret"), "{message}");
    let core: ha_core::Error = err.into();
    assert!(core.is_transient(), "{core:?}");
}

#[tokio::test]
async fn a_missing_database_points_at_the_url_and_the_grants() {
    let url = ha_testkit::postgres_url().await;
    let mut config = PgStoreConfig::from_url(&url).unwrap();
    let mut pg = config.pg_config().clone();
    pg.dbname("media_ha_no_such_database");
    config = PgStoreConfig::from_pg_config(pg);
    let err = PgStore::connect(config)
        .await
        .expect_err("no such database");
    let message = err.to_string();
    assert!(matches!(err, PgError::Connect { .. }), "{err:?}");
    assert!(
        message.contains("/media_ha_no_such_database") && message.contains("database name"),
        "{message}"
    );
}
