//! Shared test support: a store on a fresh schema of the shared test server.
#![allow(dead_code)]

use std::sync::OnceLock;

use ha_store_pg::{PgStore, PgStoreConfig};

/// A store on its own new schema (migrated) of the shared test server.
pub async fn fresh_store(prefix: &str) -> PgStore {
    store_on(&ha_testkit::unique(prefix)).await
}

/// A store on `schema` (migrated; several calls share the data).
pub async fn store_on(schema: &str) -> PgStore {
    store_with(schema, |c| c).await
}

/// A store on `schema` with the test defaults changed by `tune`.
pub async fn store_with(
    schema: &str,
    tune: impl FnOnce(PgStoreConfig) -> PgStoreConfig,
) -> PgStore {
    let url = ha_testkit::postgres_url().await;
    let config = PgStoreConfig::from_url(&url)
        .expect("test URL parses")
        .with_schema(schema)
        .with_pool_size(4);
    PgStore::connect(tune(config))
        .await
        .expect("connect and migrate")
}

/// One schema for this whole test process (for factories that must share data).
pub fn process_schema(prefix: &str) -> &'static str {
    static SCHEMA: OnceLock<String> = OnceLock::new();
    SCHEMA.get_or_init(|| ha_testkit::unique(prefix))
}
