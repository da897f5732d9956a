//! How to reach Redis and how the stores behave: a builder with safe defaults.
//!
//! # Why bounded timeouts by default
//!
//! A lease is only useful if its holder learns quickly that it can no longer renew it. A call
//! that hangs while Redis is down would make a [`ha_core::LeaseKeeper`] wait out its whole
//! safety margin; so every call has a deadline ([`RedisStoreConfig::with_op_timeout`]), the client
//! reconnects with a short connection timeout, and an unreachable server is reported as
//! [`ha_core::Error::Unavailable`] or [`ha_core::Error::Timeout`] within about a second.
//!
//! # Why the eviction policy is checked at connect
//!
//! A lease evicted under memory pressure is a lease silently lost: a second replica acquires
//! it and two transcoders write the same segments. [`crate::RedisStore::connect`] therefore
//! reads `CONFIG GET maxmemory-policy` and refuses `allkeys-*` (any key may go). `volatile-*`
//! policies evict keys with a TTL, and every key of these stores has one, so they are logged
//! as a warning; `noeviction` (writes fail loudly instead) is the policy to run. Managed
//! services often disable `CONFIG`; then the check is skipped with a warning, not a failure.

use std::time::Duration;

use crate::error::RedisStoreError;
use crate::target::{self, Auth, Target};

/// Settings of a [`crate::RedisStore`].
///
/// ```
/// use std::time::Duration;
/// use ha_store_redis::RedisStoreConfig;
///
/// let config = RedisStoreConfig::from_url("redis://127.0.0.1:6379")?
///     .with_prefix("media-ha-prod")
///     .with_job_retention(Duration::from_secs(600))
///     .with_op_timeout(Duration::from_secs(1));
/// assert_eq!(config.prefix(), "media-ha-prod");
/// assert_eq!(config.op_timeout(), Duration::from_secs(1));
/// # Ok::<(), ha_store_redis::RedisStoreError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RedisStoreConfig {
    pub(crate) target: Target,
    pub(crate) prefix: String,
    pub(crate) job_retention: Duration,
    pub(crate) fence_retention: Duration,
    pub(crate) op_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) reconnect_attempts: usize,
    pub(crate) tls: Option<TlsMaterial>,
    /// Credentials of the data nodes (primary, replicas, cluster nodes).
    pub(crate) auth: Auth,
    /// Credentials of the sentinels themselves.
    pub(crate) sentinel_auth: Auth,
}

/// PEM material for `rediss://` beyond the system trust store (a private CA, mutual TLS).
#[derive(Clone, Default)]
pub(crate) struct TlsMaterial {
    pub root_cert: Option<Vec<u8>>,
    pub client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("TlsMaterial")
            .field("root_cert", &self.root_cert.is_some())
            .field("client_cert", &self.client.is_some())
            .finish()
    }
}

impl TlsMaterial {
    pub(crate) fn certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self
                .client
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: cert.clone(),
                    client_key: key.clone(),
                }),
            root_cert: self.root_cert.clone(),
        }
    }
}

impl RedisStoreConfig {
    /// Defaults for `target`: prefix `media-ha`, job retention 5 min, fence counters kept 7 days,
    /// 2 s per call, 1 s per connection attempt, 1 immediate reconnect attempt per failure.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            prefix: "media-ha".to_owned(),
            job_retention: Duration::from_secs(300),
            fence_retention: Duration::from_secs(7 * 86_400),
            op_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            reconnect_attempts: 1,
            tls: None,
            auth: Auth::default(),
            sentinel_auth: Auth::default(),
        }
    }

    /// Defaults for a URL, with the credentials it carries:
    ///
    /// | URL | what |
    /// |---|---|
    /// | `redis://[user:pass@]host:6379[/db]`, `rediss://…` | one server (`rediss`: TLS) |
    /// | `redis+sentinel://[user:pass@]s1:26379,s2:26379/<service>[?sentinel_password=…]` | the primary of `<service>`, found through the sentinels |
    /// | `rediss+sentinel://…` | the same with TLS to the sentinels *and* the data nodes |
    /// | `redis+cluster://[user:pass@]n1:6379,n2:6379,n3:6379`, `rediss+cluster://…` | Redis Cluster through these seed nodes |
    ///
    /// User info holds the *data nodes'* credentials (their `requirepass`, which sentinels
    /// know as `auth-pass`); a sentinel's own `requirepass` goes in `sentinel_password` (and
    /// `sentinel_username`). Percent-encode reserved characters in passwords.
    ///
    /// ```
    /// use ha_store_redis::{RedisStoreConfig, Target};
    ///
    /// let config = RedisStoreConfig::from_url(
    ///     "redis+sentinel://:data-secret@s1:26379,s2:26379/mymaster?sentinel_password=s%40fe",
    /// )?;
    /// assert!(matches!(config.target(), Target::Sentinel { service, .. } if service == "mymaster"));
    /// assert_eq!(config.password(), Some("data-secret"));
    /// assert_eq!(config.sentinel_password(), Some("s@fe"));
    /// // Passwords never reach Debug output or error messages.
    /// assert!(!format!("{config:?}").contains("secret"));
    /// # Ok::<(), ha_store_redis::RedisStoreError>(())
    /// ```
    ///
    /// # Errors
    /// [`RedisStoreError::Config`] for an unsupported scheme or parameter, a Sentinel URL
    /// without a service name, or a Cluster URL with a database path.
    pub fn from_url(url: &str) -> Result<Self, RedisStoreError> {
        let parsed = target::parse(url)?;
        let mut config = Self::new(parsed.target);
        config.auth = parsed.auth;
        config.sentinel_auth = parsed.sentinel_auth;
        Ok(config)
    }

    /// Namespace of every key and channel (several deployments can share one Redis).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a job record outlives its last write (default 5 min).
    pub fn with_job_retention(mut self, retention: Duration) -> Self {
        self.job_retention = retention;
        self
    }

    /// How long the last fencing token of a released or expired lease key is kept (default 7
    /// days). Tokens stay monotonic without it (they fall back to the server clock), so this only
    /// guards against a server clock that was stepped back.
    pub fn with_fence_retention(mut self, retention: Duration) -> Self {
        self.fence_retention = retention;
        self
    }

    /// Deadline of one call, reconnect included (default 2 s); past it the call fails with
    /// [`ha_core::Error::Timeout`].
    pub fn with_op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// Deadline of one TCP/TLS connection attempt (default 1 s).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connection attempts per reconnect before a pending call fails (default 1). More attempts
    /// hide short blips but make calls wait longer while the server is down.
    pub fn with_reconnect_attempts(mut self, attempts: usize) -> Self {
        self.reconnect_attempts = attempts;
        self
    }

    /// Trusts this CA (PEM) for `rediss://` instead of the system trust store.
    pub fn with_tls_root_cert(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.get_or_insert_with(TlsMaterial::default).root_cert = Some(pem.into());
        self
    }

    /// Presents this client certificate and key (PEM) for mutual TLS.
    pub fn with_tls_client_cert(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.get_or_insert_with(TlsMaterial::default).client =
            Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// The user name for the data nodes (Redis 6 ACL; overrides a URL's).
    pub fn with_username(mut self, username: impl Into<String>) -> Self {
        self.auth.username = Some(username.into());
        self
    }

    /// The password for the data nodes, their `requirepass` (overrides a URL's).
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.auth.password = Some(password.into());
        self
    }

    /// The user name for the sentinels themselves.
    pub fn with_sentinel_username(mut self, username: impl Into<String>) -> Self {
        self.sentinel_auth.username = Some(username.into());
        self
    }

    /// The password for the sentinels themselves (their own `requirepass`, not `auth-pass`).
    pub fn with_sentinel_password(mut self, password: impl Into<String>) -> Self {
        self.sentinel_auth.password = Some(password.into());
        self
    }

    /// The namespace of every key and channel.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// How long a job record outlives its last write.
    pub fn job_retention(&self) -> Duration {
        self.job_retention
    }

    /// How long the last fencing token of a released or expired lease key is kept.
    pub fn fence_retention(&self) -> Duration {
        self.fence_retention
    }

    /// The deadline of one call.
    pub fn op_timeout(&self) -> Duration {
        self.op_timeout
    }

    /// The deadline of one connection attempt.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Connection attempts per reconnect.
    pub fn reconnect_attempts(&self) -> usize {
        self.reconnect_attempts
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The data nodes' user name, when set here or in the URL of a Sentinel/Cluster target.
    pub fn username(&self) -> Option<&str> {
        self.auth.username.as_deref()
    }

    /// The data nodes' password, when set here or in the URL of a Sentinel/Cluster target.
    pub fn password(&self) -> Option<&str> {
        self.auth.password.as_deref()
    }

    /// The sentinels' user name.
    pub fn sentinel_username(&self) -> Option<&str> {
        self.sentinel_auth.username.as_deref()
    }

    /// The sentinels' password.
    pub fn sentinel_password(&self) -> Option<&str> {
        self.sentinel_auth.password.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_override_url_credentials() {
        let config = RedisStoreConfig::from_url("redis+cluster://:old@n1:7000,n2:7000,n3:7000")
            .unwrap()
            .with_username("app")
            .with_password("new")
            .with_sentinel_password("ignored-for-cluster");
        assert_eq!(config.username(), Some("app"));
        assert_eq!(config.password(), Some("new"));
        assert!(!format!("{config:?}").contains("new\""));
        assert!(matches!(config.target(), Target::Cluster(nodes) if nodes.len() == 3));
    }
}
