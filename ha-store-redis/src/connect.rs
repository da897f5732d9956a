//! How a [`crate::RedisStore`] connects — standalone, Sentinel, Cluster — with the credentials
//! and TLS settings of each kind of server, and the start-up check of the eviction policy.
//!
//! # Why the primary is given its credentials explicitly
//!
//! A primary found through Sentinel has no URL: a sentinel only reports its address. The
//! client for it is built from that address plus the data nodes' credentials and TLS settings
//! (`SentinelClientBuilder`'s `client_to_redis_*`), while the sentinels themselves are dialled
//! with theirs (`client_to_sentinel_*`). Left out, the primary is dialled with no password and
//! no TLS, which fails against every Sentinel set-up with authentication (the usual chart
//! default). The same settings are reused for every primary found after a failover.
//!
//! # Why errors name the host
//!
//! "connection refused" at start-up says nothing about *which* of three URLs was wrong. Every
//! failure here is wrapped in [`RedisStoreError::Connect`], naming the server (never with a
//! password) and what to check, with the client's error kept as the source.

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{ConnectionInfo, IntoConnectionInfo, TlsMode};

use crate::config::RedisStoreConfig;
use crate::conn::Conn;
use crate::error::{RedisStoreError, StoreResult};
use crate::target::{self, Target};

/// What connecting produced: the shared connection, where subscribers connect, and the
/// sentinel client to ask again after a failover.
pub(crate) struct Connected {
    pub conn: Conn,
    /// Pub/sub clients: the primary, or every Cluster seed (subscribers rotate over them).
    pub pubsub: Vec<redis::Client>,
    pub sentinel: Option<SentinelClient>,
    /// The address the connection points at (`host:port`), to notice a Sentinel failover.
    pub primary: String,
    /// The server as messages name it (`primary 10.0.0.5:6379 (sentinels …)`).
    pub label: String,
}

/// Connects to the configured target within its deadline and checks the eviction policy.
///
/// # Errors
/// [`RedisStoreError::Connect`] naming the server and what to check;
/// [`RedisStoreError::EvictionPolicy`] for an `allkeys-*` policy; [`RedisStoreError::Config`]
/// for an unusable URL.
pub(crate) async fn connect(config: &RedisStoreConfig) -> StoreResult<Connected> {
    if config.target.uses_tls() {
        // rustls needs a process-wide crypto provider; another crate may have installed one.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let deadline = config.op_timeout.max(config.connect_timeout);
    let connected = match tokio::time::timeout(deadline, establish(config)).await {
        Ok(connected) => connected?,
        Err(_) => {
            return Err(RedisStoreError::connect(
                config.target.to_string(),
                RedisStoreError::Timeout {
                    what: "connect",
                    after: deadline,
                },
            ))
        }
    };
    check_eviction_policy(&connected, config).await?;
    Ok(connected)
}

async fn establish(config: &RedisStoreConfig) -> StoreResult<Connected> {
    match &config.target {
        Target::Standalone(url) => {
            let host = target::host_of(url);
            let client = data_client(url, config)?;
            let manager = manager_for(&client, config)
                .await
                .map_err(|e| RedisStoreError::connect(host.clone(), e))?;
            Ok(Connected {
                conn: Conn::Single(manager),
                pubsub: vec![client],
                sentinel: None,
                label: host.clone(),
                primary: host,
            })
        }
        Target::Sentinel { sentinels, service } => {
            let mut sentinel = sentinel_client(sentinels, service, config)?;
            // The lookup also asks the primary it finds for its role, with the data nodes'
            // credentials: a failure here may be the sentinels' or the primary's.
            let client = sentinel.async_get_client().await.map_err(|e| {
                RedisStoreError::connect(
                    format!("{} (lookup of the primary)", config.target),
                    RedisStoreError::redis("sentinel primary lookup", e),
                )
            })?;
            let primary = address_of(&client);
            let label = format!("primary {primary} ({})", config.target);
            let manager = manager_for(&client, config)
                .await
                .map_err(|e| RedisStoreError::connect(label.clone(), e))?;
            Ok(Connected {
                conn: Conn::Single(manager),
                pubsub: vec![client],
                sentinel: Some(sentinel),
                primary,
                label,
            })
        }
        Target::Cluster(nodes) => {
            let host = config.target.to_string();
            let mut builder = redis::cluster::ClusterClient::builder(nodes.clone())
                .connection_timeout(config.connect_timeout)
                .response_timeout(config.op_timeout);
            if let Some(user) = &config.auth.username {
                builder = builder.username(user);
            }
            if let Some(password) = &config.auth.password {
                builder = builder.password(password);
            }
            if config.target.uses_tls() {
                builder = builder.tls(TlsMode::Secure);
                if let Some(tls) = &config.tls {
                    builder = builder.certs(tls.certificates());
                }
            }
            let client = builder
                .build()
                .map_err(|e| RedisStoreError::Config(format!("cluster client: {e}")))?;
            let conn = client.get_async_connection().await.map_err(|e| {
                RedisStoreError::connect(host.clone(), RedisStoreError::redis("cluster connect", e))
            })?;
            // PUBLISH is broadcast over the cluster bus: any node serves pub/sub.
            let pubsub = nodes
                .iter()
                .map(|url| data_client(url, config))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Connected {
                conn: Conn::Cluster(conn),
                pubsub,
                sentinel: None,
                label: host.clone(),
                primary: host,
            })
        }
    }
}

/// A client for one data node's URL with the configured credentials and TLS material.
fn data_client(url: &str, config: &RedisStoreConfig) -> StoreResult<redis::Client> {
    let info: ConnectionInfo = url
        .into_connection_info()
        .map_err(|e| RedisStoreError::Config(format!("{}: {e}", target::redact(url))))?;
    let info = config.auth.apply(info);
    match &config.tls {
        Some(tls) => redis::Client::build_with_tls(info, tls.certificates()),
        None => redis::Client::open(info),
    }
    .map_err(|e| RedisStoreError::Config(format!("{}: {e}", target::redact(url))))
}

/// The sentinel client: the sentinels with their own credentials, the data nodes it finds
/// with the data nodes' credentials, TLS to both with `rediss+sentinel://`.
fn sentinel_client(
    sentinels: &[String],
    service: &str,
    config: &RedisStoreConfig,
) -> StoreResult<SentinelClient> {
    let addrs = sentinels
        .iter()
        .map(|url| {
            url.as_str()
                .into_connection_info()
                .map(|info| info.addr().clone())
                .map_err(|e| RedisStoreError::Config(format!("sentinel {url}: {e}")))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let mut builder = SentinelClientBuilder::new(addrs, service, SentinelServerType::Master)
        .map_err(|e| RedisStoreError::Config(format!("sentinel client: {e}")))?;
    if config.target.uses_tls() {
        builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
        if let Some(tls) = &config.tls {
            builder = builder
                .set_client_to_redis_certificates(tls.certificates())
                .set_client_to_sentinel_certificates(tls.certificates());
        }
    }
    if let Some(user) = &config.auth.username {
        builder = builder.set_client_to_redis_username(user);
    }
    if let Some(password) = &config.auth.password {
        builder = builder.set_client_to_redis_password(password);
    }
    if let Some(user) = &config.sentinel_auth.username {
        builder = builder.set_client_to_sentinel_username(user);
    }
    if let Some(password) = &config.sentinel_auth.password {
        builder = builder.set_client_to_sentinel_password(password);
    }
    builder
        .build()
        .map_err(|e| RedisStoreError::Config(format!("sentinel client: {e}")))
}

/// `host:port` a client dials.
pub(crate) fn address_of(client: &redis::Client) -> String {
    client.get_connection_info().addr().to_string()
}

/// The self-reconnecting connection to one data node.
pub(crate) async fn manager_for(
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

/// Checks that the server lets us in (`PING`: a missing password shows here, since the client
/// only authenticates when it has one), then the eviction policy: refuses `allkeys-*`, warns
/// about `volatile-*` (every key here has a TTL), and tolerates a server where `CONFIG` is
/// disabled or renamed. On Cluster every seed node is asked.
async fn check_eviction_policy(
    connected: &Connected,
    config: &RedisStoreConfig,
) -> StoreResult<()> {
    let timeout = config.op_timeout;
    if let Conn::Single(_) = connected.conn {
        let mut conn = connected.conn.clone();
        return check_one(connected.label.clone(), &mut conn, timeout).await;
    }
    for client in &connected.pubsub {
        let host = address_of(client);
        match tokio::time::timeout(timeout, client.get_multiplexed_async_connection()).await {
            Ok(Ok(mut conn)) => check_one(host, &mut conn, timeout).await?,
            _ => tracing::warn!(
                host,
                "could not reach this cluster node to check its maxmemory-policy"
            ),
        }
    }
    Ok(())
}

async fn check_one(
    host: String,
    conn: &mut (impl redis::aio::ConnectionLike + Send),
    timeout: std::time::Duration,
) -> StoreResult<()> {
    let ping = tokio::time::timeout(timeout, redis::cmd("PING").query_async::<String>(conn)).await;
    match ping {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(RedisStoreError::connect(
                host,
                RedisStoreError::redis("start-up PING", e),
            ))
        }
        Err(_) => {
            return Err(RedisStoreError::connect(
                host,
                RedisStoreError::Timeout {
                    what: "start-up PING",
                    after: timeout,
                },
            ))
        }
    }
    let reply = tokio::time::timeout(
        timeout,
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async::<Vec<String>>(conn),
    )
    .await;
    let policy = match reply {
        Ok(Ok(pair)) => pair.get(1).cloned().unwrap_or_default(),
        Ok(Err(e)) => {
            tracing::warn!(
                host,
                error = %e,
                "cannot read maxmemory-policy (CONFIG disabled?); make sure it is noeviction: \
                 an evicted lease is a lease silently lost"
            );
            return Ok(());
        }
        Err(_) => {
            tracing::warn!(host, "no answer to CONFIG GET maxmemory-policy in time");
            return Ok(());
        }
    };
    if policy.starts_with("allkeys-") {
        return Err(RedisStoreError::EvictionPolicy { host, policy });
    }
    if policy.starts_with("volatile-") {
        tracing::warn!(
            host,
            policy,
            "maxmemory-policy evicts keys with a TTL, and every lease, job and session key has \
             one: under memory pressure a live lease can vanish; use noeviction"
        );
    }
    Ok(())
}
