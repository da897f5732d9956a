//! The database every `benches/pg_*.rs` bench runs against: `HA_TEST_DATABASE_URL` if set,
//! otherwise a private server started for the run (ha-testkit); a fresh schema either way.

use ha_store_pg::{PgStore, PgStoreConfig};
use tokio::runtime::Runtime;

/// A runtime, a store on a fresh schema, and the private server when one was started.
pub struct Db {
    /// The runtime the bench drives the store on.
    pub rt: Runtime,
    /// The store, on a schema of its own.
    pub store: PgStore,
    _server: Option<ha_testkit::PostgresServer>,
}

/// A two-worker runtime and a store with `pool_size` connections.
pub fn connect(pool_size: usize) -> Db {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (store, server) = rt.block_on(async {
        let (url, server) = match std::env::var("HA_TEST_DATABASE_URL") {
            Ok(url) => (url, None),
            Err(_) => {
                let server = ha_testkit::PostgresServer::start().await;
                (server.url(), Some(server))
            }
        };
        let config = PgStoreConfig::from_url(&url)
            .expect("postgres URL")
            .with_schema(ha_testkit::unique("bench"))
            .with_pool_size(pool_size);
        (PgStore::connect(config).await.expect("connect"), server)
    });
    Db {
        rt,
        store,
        _server: server,
    }
}
