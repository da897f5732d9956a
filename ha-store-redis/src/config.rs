//! How to reach Redis and how the stores behave: a builder with safe defaults.
//!
//! # Why bounded timeouts by default
//!
//! A lease is only useful if its holder learns quickly that it can no longer renew it. A call
//! that hangs while Redis is down would make a [`ha_core::LeaseKeeper`] wait out its whole
//! safety margin; so every call has a deadline ([`RedisStoreConfig::with_op_timeout`]), the client
//! reconnects with a short connection timeout, and an unreachable server is reported as
//! [`ha_core::Error::Unavailable`] or [`ha_core::Error::Timeout`] within about a second.

use std::time::Duration;

use crate::error::RedisStoreError;

/// Where the Redis deployment is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// One server (or a proxy): `redis://` or `rediss://` (TLS) URL.
    Standalone(String),
    /// A primary found through Sentinel.
    Sentinel {
        /// Sentinel addresses as URLs (`redis://host:26379`, `rediss://…` for TLS).
        sentinels: Vec<String>,
        /// The monitored service (master) name.
        service: String,
    },
    /// Redis Cluster, reached through any of these seed node URLs.
    Cluster(Vec<String>),
}

impl Target {
    /// Parses a URL: `redis://`/`rediss://` is standalone,
    /// `redis+sentinel://host1:26379,host2:26379/service` (or `rediss+sentinel://`) is
    /// Sentinel. Cluster has no URL form; use [`Target::Cluster`].
    ///
    /// # Errors
    /// [`RedisStoreError::Config`] for another scheme or a Sentinel URL without a service name.
    pub fn parse(url: &str) -> Result<Self, RedisStoreError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| RedisStoreError::Config(format!("{url:?} is not a URL")))?;
        match scheme {
            "redis" | "rediss" | "redis+unix" | "unix" => Ok(Target::Standalone(url.to_owned())),
            "redis+sentinel" | "rediss+sentinel" => {
                let inner = if scheme == "rediss+sentinel" {
                    "rediss"
                } else {
                    "redis"
                };
                let (hosts, service) = rest.split_once('/').ok_or_else(|| {
                    RedisStoreError::Config("sentinel URL needs /<service name>".into())
                })?;
                let service = service.trim_matches('/');
                if service.is_empty() || hosts.is_empty() {
                    return Err(RedisStoreError::Config(
                        "sentinel URL needs hosts and a service name".into(),
                    ));
                }
                Ok(Target::Sentinel {
                    sentinels: hosts
                        .split(',')
                        .filter(|h| !h.is_empty())
                        .map(|h| format!("{inner}://{h}"))
                        .collect(),
                    service: service.to_owned(),
                })
            }
            other => Err(RedisStoreError::Config(format!(
                "unsupported URL scheme {other:?} (redis, rediss, redis+sentinel)"
            ))),
        }
    }

    /// True when any connection of this target uses TLS.
    pub(crate) fn uses_tls(&self) -> bool {
        match self {
            Target::Standalone(url) => url.starts_with("rediss"),
            Target::Sentinel { sentinels, .. } => sentinels.iter().any(|u| u.starts_with("rediss")),
            Target::Cluster(nodes) => nodes.iter().any(|u| u.starts_with("rediss")),
        }
    }
}

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
        }
    }

    /// Defaults for a URL (see [`Target::parse`]).
    ///
    /// # Errors
    /// [`RedisStoreError::Config`] for an unsupported URL.
    pub fn from_url(url: &str) -> Result<Self, RedisStoreError> {
        Ok(Self::new(Target::parse(url)?))
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sentinel_urls() {
        let t = Target::parse("redis+sentinel://s1:26379,s2:26379/mymaster").unwrap();
        assert_eq!(
            t,
            Target::Sentinel {
                sentinels: vec!["redis://s1:26379".into(), "redis://s2:26379".into()],
                service: "mymaster".into()
            }
        );
        assert!(Target::parse("rediss+sentinel://s1/m").unwrap().uses_tls());
        assert!(Target::parse("redis+sentinel://s1").is_err());
        assert!(Target::parse("http://x").is_err());
        assert!(Target::parse("rediss://h:6380").unwrap().uses_tls());
    }
}
