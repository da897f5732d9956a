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
            _ => false,
        }
    }
}

/// Connection refused, reset, dropped, or any I/O failure (the server is down or restarting),
/// plus the server-side "not ready" states that go away on their own.
fn is_connection_error(e: &redis::RedisError) -> bool {
    use redis::ErrorKind;
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
            RedisStoreError::Decode { .. } => ha_core::Error::decode(what, e),
            RedisStoreError::Config(_) => ha_core::Error::Invalid(e.to_string()),
            RedisStoreError::Redis { .. } | RedisStoreError::Protocol { .. } => {
                ha_core::Error::backend(what, e)
            }
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
    fn protocol_error_is_backend() {
        let err: ha_core::Error = RedisStoreError::protocol("lease renew", "odd").into();
        assert!(matches!(err, ha_core::Error::Backend { .. }));
    }
}
