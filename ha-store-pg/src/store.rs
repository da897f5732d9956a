//! The connection pool every backend of this crate shares, and the one way calls reach it.
//!
//! # Why one helper for every call
//!
//! Every contract call does the same four things: take a pooled connection (bounded by the pool
//! wait timeout), run prepared statements (cached per connection), classify errors, and bound
//! the whole call on the client side so a server that stopped answering cannot hang the caller.
//! `PgStore::call` and `Conn` do them once.
//!
//! # Restarts
//!
//! When PostgreSQL restarts, calls in flight fail with [`ha_core::Error::Unavailable`]; the
//! driver marks their connections closed and deadpool drops closed connections when they come
//! back (or, with [`PgStoreConfig::verify_on_checkout`], after a failed check), so the pool
//! heals by itself once the server is back. Nothing is retried behind the caller's back: a
//! write that failed may or may not have committed, and only the caller knows whether
//! repeating it is safe.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use crate::config::PgStoreConfig;
use crate::error::{PgError, PgResult};
use crate::metadata::user_data_batch::UserDataQueue;
use crate::migrate::{self, MigrationReport};
use crate::session_check;
use crate::{
    PgEventBus, PgJobStore, PgLeaseManager, PgMetadataRepo, PgSessionStore, PgSlotLimiter,
};

/// A pool of connections to one database schema, and the factory for the backends.
///
/// Cheap to clone (an `Arc`). Every backend made from one store shares its pool.
///
/// # Example
///
/// ```no_run
/// use std::time::Duration;
/// use ha_core::MetadataRepo;
/// use ha_store_pg::{PgStore, PgStoreConfig};
///
/// # async fn demo() -> ha_core::Result<()> {
/// let config = PgStoreConfig::from_url("postgres://media@localhost/media?schema=media_ha")?
///     .with_job_retention(Duration::from_secs(600));
/// let store = PgStore::connect(config).await?; // runs pending migrations, once per cluster
/// let repo = store.metadata();
/// let users = repo.list_users().await?;
/// let jobs = store.jobs(); // records kept 10 min after their last write
/// # let _ = (users, jobs);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool,
    config: PgStoreConfig,
    /// User-data writes waiting to be sent together (`metadata::user_data_batch`).
    user_data_queue: Arc<UserDataQueue>,
}

impl PgStore {
    /// Builds the pool, checks that each connection is a server session of its own (see
    /// `session_check`: a transaction-mode pooler is refused), and brings the schema up to
    /// date (see [`crate::migrate`]).
    ///
    /// # Errors
    /// [`PgError::Config`] for a bad configuration; [`PgError::Connect`] when the server
    /// cannot be reached or refuses us (the message names the hosts and what to check);
    /// [`PgError::Unsupported`] behind a transaction-mode pooler (the message names the fix);
    /// [`PgError::Migration`] for a failed migration. Every [`PgError`] converts into
    /// [`ha_core::Error`] with `?`.
    pub async fn connect(config: PgStoreConfig) -> PgResult<Self> {
        let store = Self::connect_without_migrating(config)?;
        let config = &store.inner.config;
        let started = async {
            session_check::run(config).await?;
            migrate::run(config).await
        };
        started.await.map_err(|e| at_start_up(config, e))?;
        Ok(store)
    }

    /// Builds the pool without touching the schema (connections open lazily, on first use).
    ///
    /// # Errors
    /// [`PgError::Config`] for an unusable configuration.
    pub fn connect_without_migrating(config: PgStoreConfig) -> PgResult<Self> {
        config.validate()?;
        let manager_config = ManagerConfig {
            recycling_method: if config.verify_on_checkout {
                RecyclingMethod::Verified
            } else {
                RecyclingMethod::Fast
            },
        };
        let pg = config.connection_config();
        #[cfg(feature = "tls")]
        let manager = match config.tls_connector() {
            Some(tls) => Manager::from_config(pg, tls, manager_config),
            None => Manager::from_config(pg, NoTls, manager_config),
        };
        #[cfg(not(feature = "tls"))]
        let manager = Manager::from_config(pg, NoTls, manager_config);
        let setup = config.session_setup();
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.wait_timeout))
            .create_timeout(Some(config.connect_budget()))
            .post_create(Hook::async_fn(move |client, _| {
                let setup = setup.clone();
                Box::pin(async move {
                    client
                        .batch_execute(&setup)
                        .await
                        .map_err(HookError::Backend)
                })
            }))
            .recycle_timeout(Some(config.statement_timeout))
            .build()
            .map_err(|e| PgError::Config(format!("cannot build the pool: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                config,
                user_data_queue: crate::metadata::user_data_batch::queue(),
            }),
        })
    }

    /// Runs pending migrations on a dedicated connection under an advisory lock. Safe to call
    /// from many replicas at once: exactly one applies each migration.
    ///
    /// # Errors
    /// As for [`connect`](Self::connect).
    pub async fn migrate(&self) -> PgResult<MigrationReport> {
        migrate::run(&self.inner.config).await
    }

    /// The configuration.
    pub fn config(&self) -> &PgStoreConfig {
        &self.inner.config
    }

    /// The underlying pool (for health checks or queries of your own).
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The [`ha_core::MetadataRepo`] on this store.
    pub fn metadata(&self) -> PgMetadataRepo {
        PgMetadataRepo::new(self.clone())
    }

    /// The [`ha_core::LeaseManager`] on this store.
    pub fn leases(&self) -> PgLeaseManager {
        PgLeaseManager::new(self.clone())
    }

    /// The [`ha_core::TranscodeJobStore`] on this store; records live
    /// [`PgStoreConfig::job_retention`] after their last write.
    pub fn jobs(&self) -> PgJobStore {
        PgJobStore::new(self.clone(), self.inner.config.job_retention)
    }

    /// The [`ha_core::SessionStore`] on this store.
    pub fn sessions(&self) -> PgSessionStore {
        PgSessionStore::new(self.clone())
    }

    /// The [`ha_core::SlotLimiter`] on this store (cluster-wide transcode capacity).
    pub fn slots(&self) -> PgSlotLimiter {
        PgSlotLimiter::new(self.clone())
    }

    /// The [`ha_core::EventBus`] on this store (LISTEN/NOTIFY on a channel per schema).
    pub fn events(&self) -> PgEventBus {
        PgEventBus::new(self.clone())
    }

    /// Runs `fut` with the client-side deadline, converting the error for the contract, and
    /// records it (`ha_core::telemetry::store_call`, `store="postgres"`).
    pub(crate) async fn call<T>(
        &self,
        what: &'static str,
        fut: impl Future<Output = PgResult<T>>,
    ) -> ha_core::Result<T> {
        use ha_core::telemetry::StoreFailure;
        let after = self.inner.config.call_deadline();
        let started = std::time::Instant::now();
        let (result, failure) = match tokio::time::timeout(after, fut).await {
            Ok(Ok(v)) => (Ok(v), None),
            Ok(Err(err)) => {
                let failure = err.failure();
                (Err(err.into()), failure)
            }
            Err(_) => (
                Err(ha_core::Error::Timeout {
                    what: what.to_owned(),
                    after,
                }),
                Some(StoreFailure::Timeout),
            ),
        };
        ha_core::telemetry::store_call("postgres", what, started.elapsed(), failure);
        result
    }

    /// A pooled connection for `what`.
    pub(crate) async fn conn(&self, what: &'static str) -> PgResult<Conn> {
        let config = &self.inner.config;
        let client = self.inner.pool.get().await.map_err(|e| {
            PgError::from_pool(what, e, config.wait_timeout, config.statement_timeout)
        })?;
        Ok(Conn {
            client,
            what,
            statement_timeout: config.statement_timeout,
        })
    }

    /// The queue of user-data writes not sent yet.
    pub(crate) fn user_data_queue(&self) -> &Arc<UserDataQueue> {
        &self.inner.user_data_queue
    }

    /// Classifies a driver error for `what`.
    pub(crate) fn db_error(&self, what: &'static str, err: tokio_postgres::Error) -> PgError {
        PgError::from_db(what, err, self.inner.config.statement_timeout)
    }
}

/// Parameters of a statement.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// A pooled connection bound to one operation, with prepared-statement caching and error
/// classification.
pub(crate) struct Conn {
    client: deadpool_postgres::Object,
    what: &'static str,
    statement_timeout: Duration,
}

impl Conn {
    fn err(&self, e: tokio_postgres::Error) -> PgError {
        PgError::from_db(self.what, e, self.statement_timeout)
    }

    async fn statement(&self, sql: &str) -> PgResult<tokio_postgres::Statement> {
        self.client
            .prepare_cached(sql)
            .await
            .map_err(|e| self.err(e))
    }

    /// Every row.
    pub(crate) async fn query(&self, sql: &str, params: Params<'_>) -> PgResult<Vec<Row>> {
        let stmt = self.statement(sql).await?;
        self.client
            .query(&stmt, params)
            .await
            .map_err(|e| self.err(e))
    }

    /// At most one row.
    pub(crate) async fn query_opt(&self, sql: &str, params: Params<'_>) -> PgResult<Option<Row>> {
        let stmt = self.statement(sql).await?;
        self.client
            .query_opt(&stmt, params)
            .await
            .map_err(|e| self.err(e))
    }

    /// Exactly one row.
    pub(crate) async fn query_one(&self, sql: &str, params: Params<'_>) -> PgResult<Row> {
        let stmt = self.statement(sql).await?;
        self.client
            .query_one(&stmt, params)
            .await
            .map_err(|e| self.err(e))
    }

    /// The number of rows changed.
    pub(crate) async fn execute(&self, sql: &str, params: Params<'_>) -> PgResult<u64> {
        let stmt = self.statement(sql).await?;
        self.client
            .execute(&stmt, params)
            .await
            .map_err(|e| self.err(e))
    }

    /// The raw client, for transactions.
    pub(crate) fn client_mut(&mut self) -> &mut deadpool_postgres::Object {
        &mut self.client
    }
}

/// Wraps a start-up failure to reach the store in [`PgError::Connect`], naming the hosts and
/// what to check; other errors (a refusal, a migration that failed) already say what they are.
fn at_start_up(config: &PgStoreConfig, err: PgError) -> PgError {
    let check = match &err {
        PgError::Unavailable { .. } => {
            "that PostgreSQL runs and accepts TCP connections there (host, port, firewall, \
             listen_addresses), the TLS settings (sslmode, sslrootcert), and with several hosts \
             that one of them is a primary (target_session_attrs=read-write)"
        }
        PgError::Timeout { .. } => {
            "that the host is reachable (firewall, DNS, routing) and not overloaded; \
             connect_timeout and statement_timeout_ms in the URL bound the wait"
        }
        PgError::Db { source, .. } if is_access_error(source) => {
            "the user name, password and database name in the URL, and the server's pg_hba.conf \
             and grants (the user needs CREATE on the database or the schema)"
        }
        PgError::Db { .. } | PgError::InvalidValue { .. } | PgError::Decode { .. } => {
            "the server's log for this error, and that it is PostgreSQL 13 or newer"
        }
        _ => return err,
    };
    PgError::Connect {
        target: config.target(),
        check,
        source: Box::new(err),
    }
}

/// SQLSTATE class 28 (invalid authorization), 3D000 (no such database), 42501 (no privilege).
fn is_access_error(err: &tokio_postgres::Error) -> bool {
    err.code().is_some_and(|code| {
        let code = code.code();
        code.starts_with("28") || code == "3D000" || code == "42501"
    })
}
