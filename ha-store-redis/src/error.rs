//! The crate's one error type, and how it maps onto [`ha_core::Error`].
//!
//! Why a crate error at all, when every contract returns `ha_core::Error`? Because the
//! classification ("is this a dead connection or a bad script?") needs the `redis` error in
//! hand, and callers of the Redis-specific API ([`crate::RedisStore::connect`]) deserve the real
//! cause. The conversion keeps the `redis` error as the source, so nothing becomes a string.

use std::time::Duration;

/// What can go wrong talking to Redis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// The `redis` client reported an error (I/O, protocol, server, script).
    #[error("redis error during {what}")]
    Redis {
        /// The operation.
        what: &'static str,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// Our own deadline around one call ran out.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// The operation.
        what: &'static str,
        /// The deadline.
        after: Duration,
    },
    /// A script or command answered something this crate does not understand.
    #[error("unexpected reply to {what}: {detail}")]
    Protocol {
        /// The operation.
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// A value stored in Redis could not be decoded.
    #[error("could not decode {what}")]
    Decode {
        /// What was decoded.
        what: &'static str,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The configuration was rejected (bad URL, missing Sentinel service name, …).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Connecting to the store failed: names the server and what to check; the cause is the
    /// source.
    #[error("Redis store at {host}: {hint}")]
    Connect {
        /// The server or servers tried (never with a password).
        host: String,
        /// What to check.
        hint: String,
        /// What failed.
        #[source]
        source: Box<RedisStoreError>,
    },
    /// The server may evict keys that carry no hint of being disposable (`allkeys-*`): a live
    /// lease or job record could vanish under memory pressure.
    #[error(
        "Redis store at {host}: maxmemory-policy is {policy}, which can evict live leases and \
         job records under memory pressure; set `maxmemory-policy noeviction` (redis.conf, or \
         CONFIG SET maxmemory-policy noeviction) or use another Redis for caching"
    )]
    EvictionPolicy {
        /// The server.
        host: String,
        /// The policy it reported.
        policy: String,
    },
}

impl RedisStoreError {
    /// Wraps a `redis` error raised during `what`.
    pub fn redis(what: &'static str, source: redis::RedisError) -> Self {
        RedisStoreError::Redis { what, source }
    }

    /// A reply that does not have the shape a script promises.
    pub fn protocol(what: &'static str, detail: impl Into<String>) -> Self {
        RedisStoreError::Protocol {
            what,
            detail: detail.into(),
        }
    }

    /// True when the server could not be reached or the connection broke: worth a retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            RedisStoreError::Redis { source, .. } => is_connection_error(source),
            RedisStoreError::Connect { source, .. } => {
                source.is_unavailable() || matches!(**source, RedisStoreError::Timeout { .. })
            }
            _ => false,
        }
    }

    /// Wraps a failure to connect to `host` with what to check, judged from the failure.
    pub(crate) fn connect(host: impl Into<String>, source: RedisStoreError) -> Self {
        RedisStoreError::Connect {
            host: host.into(),
            hint: hint(&source).to_owned(),
            source: Box::new(source),
        }
    }
}

/// The server (or sentinel) refused our credentials, or wants some and got none.
fn is_auth_error(e: &redis::RedisError) -> bool {
    matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
}

/// What an operator should check, from the kind of failure.
fn hint(e: &RedisStoreError) -> &'static str {
    use redis::ErrorKind;
    match e {
        RedisStoreError::Timeout { .. } => {
            "no answer in time: check the host and port, firewalls or network policies, and \
             that the server is up and not overloaded"
        }
        RedisStoreError::Redis { source, .. } => {
            let detail = source.to_string();
            if is_auth_error(source) || detail.contains("AUTH") || detail.contains("password") {
                "authentication failed: check the password (user info of the URL or \
                 with_password; the sentinels' own password is sentinel_password)"
            } else if matches!(source.kind(), ErrorKind::MasterNameNotFoundBySentinel) {
                "the sentinels know no primary for this service: check the service name (the \
                 path of the redis+sentinel URL) and `sentinel monitor` on the sentinels"
            } else if matches!(source.kind(), ErrorKind::EmptySentinelList) {
                "no sentinel answered: check the sentinel addresses, their password \
                 (sentinel_password) and TLS (rediss+sentinel)"
            } else if source.is_connection_refusal() {
                "connection refused: check the host and port and that Redis runs there"
            } else if detail.contains("certificate")
                || detail.contains("TLS")
                || detail.contains("tls")
                || detail.contains("handshake")
            {
                "TLS failed: check rediss:// against redis://, the CA (with_tls_root_cert) and \
                 that the server certificate names this host"
            } else if source.is_io_error() {
                "the connection failed: check the host and port, TLS (rediss://) and that \
                 Redis runs there"
            } else {
                "the server refused: check the URL and the server's log"
            }
        }
        RedisStoreError::Config(_) => "check the configuration",
        _ => "check the server's log",
    }
}

/// Connection refused, reset, dropped, or any I/O failure (the server is down or restarting),
/// plus the server-side "not ready" states that go away on their own.
/// A refused password is not: retrying it changes nothing.
fn is_connection_error(e: &redis::RedisError) -> bool {
    use redis::ErrorKind;
    if is_auth_error(e) {
        return false;
    }
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_unrecoverable_error()
        || matches!(e.kind(), ErrorKind::Io)
        || matches!(
            e.code(),
            Some("LOADING" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN" | "READONLY")
        )
}

impl From<RedisStoreError> for ha_core::Error {
    fn from(e: RedisStoreError) -> Self {
        let what = match &e {
            RedisStoreError::Redis { what, .. }
            | RedisStoreError::Timeout { what, .. }
            | RedisStoreError::Protocol { what, .. }
            | RedisStoreError::Decode { what, .. } => format!("redis {what}"),
            RedisStoreError::Config(_) => "redis configuration".to_owned(),
            RedisStoreError::Connect { host, .. }
            | RedisStoreError::EvictionPolicy { host, .. } => {
                format!("redis store at {host}")
            }
        };
        match e {
            RedisStoreError::Timeout { after, .. } => ha_core::Error::Timeout { what, after },
            // The client's own response/connection timeout means the same as ours.
            RedisStoreError::Redis { ref source, .. } if source.is_timeout() => {
                ha_core::Error::Timeout {
                    what,
                    after: Duration::ZERO,
                }
            }
            ref err if err.is_unavailable() => ha_core::Error::unavailable(what, e),
            RedisStoreError::EvictionPolicy { .. } => ha_core::Error::Invalid(e.to_string()),
            RedisStoreError::Decode { .. } => ha_core::Error::decode(what, e),
            RedisStoreError::Config(_) => ha_core::Error::Invalid(e.to_string()),
            RedisStoreError::Redis { .. }
            | RedisStoreError::Protocol { .. }
            | RedisStoreError::Connect { .. } => ha_core::Error::backend(what, e),
        }
    }
}

/// Shorthand used inside the crate.
pub(crate) type StoreResult<T> = Result<T, RedisStoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_connection_is_unavailable_with_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err: ha_core::Error = RedisStoreError::redis("lease acquire", io.into()).into();
        assert!(matches!(err, ha_core::Error::Unavailable { .. }), "{err:?}");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[test]
    fn our_timeout_is_timeout() {
        let err: ha_core::Error = RedisStoreError::Timeout {
            what: "lease renew",
            after: Duration::from_secs(2),
        }
        .into();
        assert!(matches!(err, ha_core::Error::Timeout { .. }));
    }

    #[test]
    fn connect_errors_name_the_host_and_what_to_check() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = RedisStoreError::connect(
            "10.0.0.5:6379",
            RedisStoreError::redis("connect", io.into()),
        );
        let text = err.to_string();
        assert!(text.contains("10.0.0.5:6379"), "{text}");
        assert!(text.contains("connection refused"), "{text}");
        assert!(err.is_unavailable());
        let err: ha_core::Error = err.into();
        assert!(err.is_transient(), "{err:?}");

        let auth = redis::RedisError::from((redis::ErrorKind::AuthenticationFailed, "nope"));
        let err = RedisStoreError::connect("h:1", RedisStoreError::redis("connect", auth));
        assert!(err.to_string().contains("authentication failed"), "{err}");
        assert!(!err.is_unavailable());

        let slow = RedisStoreError::Timeout {
            what: "connect",
            after: Duration::from_secs(1),
        };
        let err = RedisStoreError::connect("h:1", slow);
        assert!(err.to_string().contains("no answer in time"), "{err}");
        let err: ha_core::Error = err.into();
        assert!(err.is_transient());
    }

    #[test]
    fn protocol_error_is_backend() {
        let err: ha_core::Error = RedisStoreError::protocol("lease renew", "odd").into();
        assert!(matches!(err, ha_core::Error::Backend { .. }));
    }
}
