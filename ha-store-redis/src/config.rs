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
        /// How to sign in to the primary the sentinels name (and to a replica they promote).
        primary: PrimaryAuth,
    },
    /// Redis Cluster, reached through any of these seed node URLs.
    Cluster(Vec<String>),
}

/// Credentials and database for the servers a Sentinel deployment names. Its `Debug` never
/// shows the password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PrimaryAuth {
    /// ACL user name (`None`: the default user).
    pub username: Option<String>,
    /// Password (`requirepass`, or the ACL user's).
    pub password: Option<String>,
    /// Database number.
    pub db: i64,
}

impl std::fmt::Debug for PrimaryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrimaryAuth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .finish()
    }
}

impl Target {
    /// Parses a URL: `redis://`/`rediss://` is standalone; Sentinel is
    ///
    /// ```text
    /// redis+sentinel://[user:password@]host1:26379,host2:26379/service[?db=N&sentinel_username=U&sentinel_password=P]
    /// ```
    ///
    /// (`rediss+sentinel://` for TLS to the sentinels and the primary). The credentials before
    /// `@` sign in to the primary (Redis' `requirepass` / `masterauth`, what a Helm chart's
    /// `auth.password` sets); `sentinel_password` (and `sentinel_username`) sign in to the
    /// sentinels when they have a `requirepass` of their own. Percent-encode `@ : / ? # & %` in
    /// credentials. Redis Cluster is `redis+cluster://[user:password@]node1:6379,node2:6379`
    /// (seed nodes; `rediss+cluster://` for TLS), the credentials applying to every node.
    ///
    /// ```
    /// use ha_store_redis::Target;
    ///
    /// let t = Target::parse("redis+sentinel://:p%40ss@s1:26379,s2:26379/mymaster?sentinel_password=x")?;
    /// let Target::Sentinel { sentinels, service, primary, .. } = t else { unreachable!() };
    /// assert_eq!(sentinels, ["redis://:x@s1:26379", "redis://:x@s2:26379"]);
    /// assert_eq!((service.as_str(), primary.password.as_deref()), ("mymaster", Some("p@ss")));
    /// # Ok::<(), ha_store_redis::RedisStoreError>(())
    /// ```
    ///
    /// # Errors
    /// [`RedisStoreError::Config`] for another scheme, a Sentinel URL without hosts or a
    /// service name, an unknown query parameter or a `db` that is not a number.
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
                parse_sentinel(inner, rest)
            }
            "redis+cluster" | "rediss+cluster" => {
                let inner = scheme.trim_end_matches("+cluster");
                let rest = rest.trim_end_matches('/');
                let (login, hosts) = match rest.rsplit_once('@') {
                    Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
                    None => (String::new(), rest),
                };
                if hosts.is_empty() || hosts.contains(['/', '?']) {
                    return Err(RedisStoreError::Config(
                        "cluster URL: redis+cluster://[user:pass@]node1:6379,node2:6379 \
                         (seed nodes only: no database, no parameters)"
                            .into(),
                    ));
                }
                Ok(Target::Cluster(
                    hosts
                        .split(',')
                        .filter(|h| !h.is_empty())
                        .map(|h| format!("{inner}://{login}{h}"))
                        .collect(),
                ))
            }
            other => Err(RedisStoreError::Config(format!(
                "unsupported URL scheme {other:?} (redis, rediss, redis+sentinel, redis+cluster)"
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

/// The part of a Sentinel URL after `scheme://` (see [`Target::parse`]).
fn parse_sentinel(inner: &str, rest: &str) -> Result<Target, RedisStoreError> {
    let config = |m: &str| RedisStoreError::Config(format!("sentinel URL: {m}"));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (userinfo, rest) = match rest.rsplit_once('@') {
        Some((userinfo, rest)) => (Some(userinfo), rest),
        None => (None, rest),
    };
    let (hosts, service) = rest
        .split_once('/')
        .ok_or_else(|| config("needs /<service name>"))?;
    let service = decode(service.trim_matches('/'));
    if service.is_empty() || hosts.is_empty() {
        return Err(config("needs hosts and a service name"));
    }
    let mut primary = PrimaryAuth::default();
    if let Some(userinfo) = userinfo {
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        primary.username = Some(decode(user)).filter(|u| !u.is_empty());
        primary.password = Some(decode(password)).filter(|p| !p.is_empty());
    }
    let (mut sentinel_user, mut sentinel_password) = (String::new(), String::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "db" => {
                primary.db = decode(value)
                    .parse()
                    .map_err(|_| config(&format!("db={value:?} is not a number")))?;
            }
            "sentinel_username" => sentinel_user = value.to_owned(),
            "sentinel_password" => sentinel_password = value.to_owned(),
            other => {
                return Err(config(&format!(
                    "unknown parameter {other:?} (db, sentinel_username, sentinel_password)"
                )))
            }
        }
    }
    // Still percent-encoded: the sentinel URLs are parsed again by the client.
    let sentinel_login = match (sentinel_user.as_str(), sentinel_password.as_str()) {
        ("", "") => String::new(),
        (user, password) => format!("{user}:{password}@"),
    };
    Ok(Target::Sentinel {
        sentinels: hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| format!("{inner}://{sentinel_login}{h}"))
            .collect(),
        service,
        primary,
    })
}

/// `url` without the query parameter `name`, and its value (percent-decoded; the last one if
/// repeated).
fn take_query_param(url: &str, name: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_owned(), None);
    };
    let mut value = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((key, v)) if key == name => {
                value = Some(decode(v));
                false
            }
            _ => *pair != name,
        })
        .collect();
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, value)
}

/// `s` percent-decoded (invalid UTF-8 replaced: a credential is compared as sent).
fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
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

    /// Defaults for a URL (see [`Target::parse`]). `rediss://` and `rediss+sentinel://` also
    /// take `tls_ca_file=<path to a PEM CA>`:
    /// that CA, read now, is trusted instead of the system trust store (for the sentinels and
    /// the data nodes alike), as [`with_tls_root_cert`](Self::with_tls_root_cert) does.
    ///
    /// ```no_run
    /// use ha_store_redis::RedisStoreConfig;
    ///
    /// let config = RedisStoreConfig::from_url(
    ///     "rediss+sentinel://:pw@s1:26379,s2:26379/mymaster?sentinel_password=x&tls_ca_file=/etc/redis/ca.pem",
    /// )?;
    /// # Ok::<(), ha_store_redis::RedisStoreError>(())
    /// ```
    ///
    /// # Errors
    /// [`RedisStoreError::Config`] for an unsupported URL, a CA file on a URL without TLS, or a
    /// CA file that cannot be read (the message names it).
    pub fn from_url(url: &str) -> Result<Self, RedisStoreError> {
        let (url, ca_file) = take_query_param(url, "tls_ca_file");
        let config = Self::new(Target::parse(&url)?);
        let Some(path) = ca_file else {
            return Ok(config);
        };
        if matches!(config.target, Target::Cluster(_)) {
            return Err(RedisStoreError::Config(
                "tls_ca_file is not supported for redis+cluster:// (standalone and Sentinel only)"
                    .into(),
            ));
        }
        if !config.target.uses_tls() {
            return Err(RedisStoreError::Config(
                "tls_ca_file needs a TLS URL (rediss:// or rediss+sentinel://)".into(),
            ));
        }
        let pem = std::fs::read(&path).map_err(|e| {
            RedisStoreError::Config(format!("cannot read tls_ca_file {path:?}: {e}"))
        })?;
        Ok(config.with_tls_root_cert(pem))
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
                service: "mymaster".into(),
                primary: PrimaryAuth::default(),
            }
        );
        let t = Target::parse(
            "rediss+sentinel://app:p%40ss%3Aw%2Fd@s1:26379,s2/mymaster?db=2&sentinel_password=s%26x",
        )
        .unwrap();
        assert_eq!(
            t,
            Target::Sentinel {
                sentinels: vec![
                    "rediss://:s%26x@s1:26379".into(),
                    "rediss://:s%26x@s2".into()
                ],
                service: "mymaster".into(),
                primary: PrimaryAuth {
                    username: Some("app".into()),
                    password: Some("p@ss:w/d".into()),
                    db: 2,
                },
            }
        );
        assert!(
            !format!("{t:?}").contains("p@ss"),
            "no password in Debug: {t:?}"
        );
        assert!(Target::parse("redis+sentinel://s1/m?db=x").is_err());
        assert_eq!(
            Target::parse("rediss+cluster://:pw@n1:6379,n2:6379/").unwrap(),
            Target::Cluster(vec![
                "rediss://:pw@n1:6379".into(),
                "rediss://:pw@n2:6379".into()
            ])
        );
        assert!(Target::parse("redis+cluster://n1/0").is_err());
        assert!(Target::parse("redis+sentinel://s1/m?pasword=x").is_err());
        assert!(Target::parse("rediss+sentinel://s1/m").unwrap().uses_tls());
        assert_eq!(
            take_query_param(
                "rediss://h/?a=1&tls_ca_file=%2Fx%20y.pem&b=2",
                "tls_ca_file"
            ),
            (
                "rediss://h/?a=1&b=2".to_owned(),
                Some("/x y.pem".to_owned())
            )
        );
        assert_eq!(
            take_query_param("rediss://h/?tls_ca_file=/ca.pem", "tls_ca_file"),
            ("rediss://h/".to_owned(), Some("/ca.pem".to_owned()))
        );
        assert!(RedisStoreConfig::from_url("redis://h/?tls_ca_file=/ca.pem").is_err());
        let missing = RedisStoreConfig::from_url("rediss://h/?tls_ca_file=/nonexistent/ca.pem");
        assert!(
            matches!(&missing, Err(RedisStoreError::Config(m)) if m.contains("/nonexistent/ca.pem")),
            "{missing:?}"
        );
        assert!(Target::parse("redis+sentinel://s1").is_err());
        assert!(Target::parse("http://x").is_err());
        assert!(Target::parse("rediss://h:6380").unwrap().uses_tls());
    }
}
