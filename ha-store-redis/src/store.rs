//! [`RedisStore`]: connects once, hands out every backend on the shared connection.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelServerType};
use redis::{IntoConnectionInfo, RedisResult};

use crate::acquire_batch::AcquireQueue;
use crate::config::{RedisStoreConfig, Target};
use crate::conn::Conn;
use crate::error::{RedisStoreError, StoreResult};
use crate::keys::Keys;
use crate::scripts::Scripts;
use crate::{RedisEventBus, RedisJobStore, RedisLeaseManager, RedisSessionStore, RedisSlotLimiter};

/// How often a store on Sentinel asks whether the primary moved (see `watch_primary`).
pub const SENTINEL_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// A connection to one Redis deployment, and the factory of its backends.
///
/// Cloning is cheap; every backend made from one store (and from its clones) shares one
/// connection. See the [crate docs](crate) for guarantees.
#[derive(Debug, Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    conn: RwLock<Conn>,
    sentinel: Option<tokio::sync::Mutex<SentinelClient>>,
    /// The address the single connection points at (to notice a Sentinel failover).
    primary: std::sync::Mutex<String>,
    /// Where subscribers connect (the primary; re-pointed after a Sentinel failover).
    pubsub: RwLock<redis::Client>,
    keys: Keys,
    config: RedisStoreConfig,
    scripts: Scripts,
    /// The server's incarnation start in µs (`lua/incarnation_start.lua`), 0 until asked and
    /// again after a connection failure (the server may have restarted).
    incarnation_start_us: AtomicU64,
    /// Lease acquires waiting to be sent together (`acquire_batch`).
    acquire_queue: Arc<AcquireQueue>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.config.target)
            .field("prefix", &self.config.prefix)
            .field("sentinel", &self.sentinel.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects with `config` (see [`RedisStoreConfig::from_url`] for the URL forms).
    ///
    /// # Errors
    /// A connection error naming the store and host when the server cannot be reached
    /// (convertible into [`ha_core::Error::Unavailable`]); [`RedisStoreError::Config`] when the
    /// target is not usable.
    pub async fn connect(config: RedisStoreConfig) -> Result<Self, RedisStoreError> {
        if config.target.uses_tls() {
            // rustls needs a process-wide crypto provider; another crate may have installed one.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let deadline = config.op_timeout.max(config.connect_timeout);
        let connecting = async {
            match &config.target {
                Target::Standalone(url) => {
                    let client = match &config.tls {
                        Some(tls) => {
                            redis::Client::build_with_tls(url.as_str(), tls.certificates())
                        }
                        None => redis::Client::open(url.as_str()),
                    }
                    .map_err(|e| RedisStoreError::redis("open", e))?;
                    let manager = manager_for(&client, &config).await?;
                    Ok((Conn::Single(manager), client, None))
                }
                Target::Sentinel {
                    sentinels,
                    service,
                    primary,
                } => {
                    let mut sentinel = sentinel_client(sentinels, service, primary, &config)
                        .map_err(|e| RedisStoreError::redis("sentinel", e))?;
                    let client = sentinel
                        .async_get_client()
                        .await
                        .map_err(|e| RedisStoreError::redis("sentinel master lookup", e))?;
                    let manager = manager_for(&client, &config).await?;
                    Ok((
                        Conn::Single(manager),
                        client,
                        Some(tokio::sync::Mutex::new(sentinel)),
                    ))
                }
                Target::Cluster(nodes) => {
                    let first = nodes.first().ok_or_else(|| {
                        RedisStoreError::Config("cluster needs at least one node".into())
                    })?;
                    let client = redis::cluster::ClusterClient::builder(nodes.clone())
                        .connection_timeout(config.connect_timeout)
                        .response_timeout(config.op_timeout)
                        .build()
                        .map_err(|e| RedisStoreError::redis("cluster", e))?;
                    let conn = client
                        .get_async_connection()
                        .await
                        .map_err(|e| RedisStoreError::redis("cluster connect", e))?;
                    // PUBLISH is broadcast over the cluster bus: any node serves pub/sub.
                    let pubsub = redis::Client::open(first.as_str())
                        .map_err(|e| RedisStoreError::redis("open", e))?;
                    Ok((Conn::Cluster(conn), pubsub, None))
                }
            }
        };
        let (conn, pubsub, sentinel) =
            tokio::time::timeout(deadline, connecting)
                .await
                .map_err(|_| RedisStoreError::Timeout {
                    what: "connect",
                    after: deadline,
                })??;
        let store = Self {
            inner: Arc::new(Inner {
                conn: RwLock::new(conn),
                primary: std::sync::Mutex::new(format!(
                    "{:?}",
                    pubsub.get_connection_info().addr()
                )),
                sentinel,
                pubsub: RwLock::new(pubsub),
                keys: Keys::new(&config.prefix),
                scripts: Scripts::new(),
                config,
                incarnation_start_us: AtomicU64::new(0),
                acquire_queue: crate::acquire_batch::queue(),
            }),
        };
        store.watch_primary();
        Ok(store)
    }

    /// A [`ha_core::LeaseManager`] on this store.
    pub fn leases(&self) -> RedisLeaseManager {
        RedisLeaseManager::new(self.clone())
    }

    /// A [`ha_core::TranscodeJobStore`] on this store (retention from the config).
    pub fn jobs(&self) -> RedisJobStore {
        RedisJobStore::new(self.clone())
    }

    /// A [`ha_core::SessionStore`] on this store.
    pub fn sessions(&self) -> RedisSessionStore {
        RedisSessionStore::new(self.clone())
    }

    /// A [`ha_core::SlotLimiter`] on this store.
    pub fn slots(&self) -> RedisSlotLimiter {
        RedisSlotLimiter::new(self.clone())
    }

    /// A [`ha_core::EventBus`] on this store's pub/sub channel.
    pub fn events(&self) -> RedisEventBus {
        RedisEventBus::new(self.clone())
    }

    /// The settings.
    pub fn config(&self) -> &RedisStoreConfig {
        &self.inner.config
    }

    /// Checks the server answers (for readiness probes).
    ///
    /// # Errors
    /// [`ha_core::Error::Unavailable`] / [`ha_core::Error::Timeout`] when it does not.
    pub async fn ping(&self) -> ha_core::Result<()> {
        let mut conn = self.conn();
        self.call("ping", async move {
            redis::cmd("PING").query_async::<String>(&mut conn).await
        })
        .await?;
        Ok(())
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub(crate) fn scripts(&self) -> &Scripts {
        &self.inner.scripts
    }

    pub(crate) fn acquire_queue(&self) -> &Arc<AcquireQueue> {
        &self.inner.acquire_queue
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.inner.config.target, Target::Cluster(_))
    }

    pub(crate) fn pubsub_client(&self) -> redis::Client {
        ha_core::sync::read(&self.inner.pubsub).clone()
    }

    /// A clone of the shared connection.
    pub(crate) fn conn(&self) -> Conn {
        ha_core::sync::read(&self.inner.conn).clone()
    }

    /// Runs one Redis call under the configured deadline, classifies its error, and records
    /// it (`ha_core::telemetry::store_call`, `store="redis"`).
    pub(crate) async fn call<T>(
        &self,
        what: &'static str,
        fut: impl Future<Output = RedisResult<T>>,
    ) -> StoreResult<T> {
        use ha_core::telemetry::StoreFailure;
        let after = self.inner.config.op_timeout;
        let started = std::time::Instant::now();
        let (result, failure) = match tokio::time::timeout(after, fut).await {
            // The client's own response timeout is set to the same deadline: report it as ours,
            // with the duration (the client's error does not carry it).
            Err(_) => {
                self.on_failure();
                (
                    Err(RedisStoreError::Timeout { what, after }),
                    Some(StoreFailure::Timeout),
                )
            }
            Ok(Err(e)) if e.is_timeout() => {
                self.on_failure();
                (
                    Err(RedisStoreError::Timeout { what, after }),
                    Some(StoreFailure::Timeout),
                )
            }
            Ok(Err(e)) => {
                let err = RedisStoreError::redis(what, e);
                let failure = if err.is_unavailable() {
                    self.on_failure();
                    StoreFailure::Unavailable
                } else {
                    StoreFailure::Error
                };
                (Err(err), Some(failure))
            }
            Ok(Ok(v)) => (Ok(v), None),
        };
        ha_core::telemetry::store_call("redis", what, started.elapsed(), failure);
        result
    }

    /// The start of the server's incarnation in µs, the floor `lua/lease_acquire.lua` keeps
    /// tokens above: cached, and asked for (one script call) when unknown. On Cluster it is the
    /// start of whichever node answered; a value from an older or another node only makes the
    /// floor weaker or tokens larger, never a stale token acceptable (see the script).
    pub(crate) async fn incarnation_start_us(&self) -> StoreResult<u64> {
        let known = self.inner.incarnation_start_us.load(Ordering::Relaxed);
        if known != 0 {
            return Ok(known);
        }
        let invocation = self.inner.scripts.incarnation_start.prepare_invoke();
        let mut conn = self.conn();
        let start: String = self
            .call("incarnation start", invocation.invoke_async(&mut conn))
            .await?;
        let start = start.parse::<u64>().map_err(|_| {
            RedisStoreError::protocol("incarnation start", format!("not a number: {start:?}"))
        })?;
        self.inner
            .incarnation_start_us
            .store(start, Ordering::Relaxed);
        Ok(start)
    }

    /// After a connection failure: forgets the incarnation start (the server may have
    /// restarted), and under Sentinel asks the sentinels for the primary again and swaps the
    /// connection when it moved (a failover). Standalone managers reconnect by themselves.
    fn on_failure(&self) {
        self.inner.incarnation_start_us.store(0, Ordering::Relaxed);
        if self.inner.sentinel.is_none() {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move { store.follow_primary().await });
    }

    /// Under Sentinel, asks the sentinels every [`SENTINEL_POLL`] whether the primary moved, for
    /// as long as the store lives (a clone of it: every backend holds one).
    ///
    /// Why not only after a failure: a failover does not always fail this connection. With the
    /// old primary still up (`SENTINEL FAILOVER`, a partition that isolates only it), it keeps
    /// accepting writes until the sentinels demote it, which took about 11 s here; every lease
    /// renewal and job write it accepted in that time is discarded when it resynchronises from
    /// the new primary, while the other replicas already write there (measured: a job lease
    /// reported lost, and renewed leases overlapping, by tests/cluster_failover.rs). Polling
    /// bounds that window to the poll interval plus the sentinels' own promotion time.
    fn watch_primary(&self) {
        if self.inner.sentinel.is_none() {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SENTINEL_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                RedisStore { inner }.follow_primary().await;
            }
        });
    }

    /// Asks the sentinels for the primary and switches the connection and the subscribers'
    /// client to it when it is not the one in use. One lookup at a time; others skip.
    async fn follow_primary(&self) {
        let Some(sentinel) = &self.inner.sentinel else {
            return;
        };
        let Ok(mut sentinel) = sentinel.try_lock() else {
            return;
        };
        // Bounded: a hung sentinel or primary must not hold the lookup lock for good.
        let lookup = sentinel.async_get_client();
        let client = match tokio::time::timeout(self.inner.config.connect_timeout, lookup).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "sentinel master lookup failed");
                return;
            }
            Err(_) => {
                tracing::warn!("sentinel master lookup timed out");
                return;
            }
        };
        // A primary that merely restarted keeps its address: its manager reconnects alone.
        let addr = format!("{:?}", client.get_connection_info().addr());
        {
            let current = ha_core::sync::lock(&self.inner.primary);
            if *current == addr {
                return;
            }
        }
        match manager_for(&client, &self.inner.config).await {
            Ok(manager) => {
                tracing::info!(%addr, "redis primary moved (sentinel failover); switching");
                *ha_core::sync::write(&self.inner.conn) = Conn::Single(manager);
                *ha_core::sync::write(&self.inner.pubsub) = client;
                *ha_core::sync::lock(&self.inner.primary) = addr;
                self.inner.incarnation_start_us.store(0, Ordering::Relaxed);
            }
            Err(e) => tracing::warn!(error = %e, "connecting to the sentinel primary failed"),
        }
    }
}

async fn manager_for(
    client: &redis::Client,
    config: &RedisStoreConfig,
) -> StoreResult<ConnectionManager> {
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(config.op_timeout))
        .set_number_of_retries(config.reconnect_attempts)
        .set_max_delay(std::time::Duration::from_millis(500));
    ConnectionManager::new_with_config(client.clone(), manager_config)
        .await
        .map_err(|e| RedisStoreError::redis("connect", e))
}

/// The Sentinel client: from the sentinels' URLs, or, with TLS material (a private CA,
/// `tls_ca_file`), through the builder, the only way to hand the CA to both the sentinel
/// connections and the data-node connections.
fn sentinel_client(
    sentinels: &[String],
    service: &str,
    primary: &crate::config::PrimaryAuth,
    config: &RedisStoreConfig,
) -> RedisResult<SentinelClient> {
    let tls = config.target.uses_tls();
    let Some(material) = config.tls.as_ref().filter(|_| tls) else {
        return SentinelClient::build(
            sentinels.to_vec(),
            service,
            Some(primary_connection(primary, tls)),
            SentinelServerType::Master,
        );
    };
    let infos = sentinels
        .iter()
        .map(|u| u.as_str().into_connection_info())
        .collect::<RedisResult<Vec<_>>>()?;
    let mut builder = redis::sentinel::SentinelClientBuilder::new(
        infos.iter().map(|i| i.addr().clone()),
        service,
        SentinelServerType::Master,
    )?
    .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure)
    .set_client_to_sentinel_certificates(material.certificates())
    .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
    .set_client_to_redis_certificates(material.certificates())
    .set_client_to_redis_db(primary.db);
    // Every sentinel URL carries the same sentinel credentials (`Target::parse`).
    if let Some(first) = infos.first().map(|i| i.redis_settings()) {
        if let Some(user) = first.username() {
            builder = builder.set_client_to_sentinel_username(user);
        }
        if let Some(password) = first.password() {
            builder = builder.set_client_to_sentinel_password(password);
        }
    }
    if let Some(user) = &primary.username {
        builder = builder.set_client_to_redis_username(user);
    }
    if let Some(password) = &primary.password {
        builder = builder.set_client_to_redis_password(password);
    }
    builder.build()
}

/// How the Sentinel client signs in to the primary it is told about (and to whichever replica
/// a failover promotes): the URL's credentials and database, TLS when the URL asks for it.
fn primary_connection(
    primary: &crate::config::PrimaryAuth,
    tls: bool,
) -> redis::sentinel::SentinelNodeConnectionInfo {
    let mut info = redis::RedisConnectionInfo::default().set_db(primary.db);
    if let Some(user) = &primary.username {
        info = info.set_username(user);
    }
    if let Some(password) = &primary.password {
        info = info.set_password(password);
    }
    let node =
        redis::sentinel::SentinelNodeConnectionInfo::default().set_redis_connection_info(info);
    if tls {
        node.set_tls_mode(redis::TlsMode::Secure)
    } else {
        node
    }
}
