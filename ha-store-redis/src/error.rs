//! The crate's one error type, and how it maps onto [`ha_core::Error`].
//!
//! Why a crate error at all, when every contract returns `ha_core::Error`? Because the
//! classification ("is this a dead connection or a bad script?") needs the `redis` error in
//! hand, and callers of the Redis-specific API ([`crate::RedisStore::connect`]) deserve the real
//! cause. The conversion keeps the `redis` error as the source, so nothing becomes a string.

use std::sync::Arc;
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
    /// The call that carried this operation together with others (batched lease acquires)
    /// failed; every operation of the call reports the one error.
    #[error("{what} failed with the call it was batched in")]
    Batched {
        /// The operation.
        what: &'static str,
        /// The call's error, shared by every operation in it.
        #[source]
        source: Arc<RedisStoreError>,
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
            RedisStoreError::Batched { source, .. } => source.is_unavailable(),
            _ => false,
        }
    }

    /// The deadline that ran out, when this is (or a batched call failed with) a timeout:
    /// ours (with its duration) or the client's own (`Duration::ZERO`, it does not say).
    fn timed_out(&self) -> Option<Duration> {
        match self {
            RedisStoreError::Timeout { after, .. } => Some(*after),
            RedisStoreError::Redis { source, .. } if source.is_timeout() => Some(Duration::ZERO),
            RedisStoreError::Batched { source, .. } => source.timed_out(),
            _ => None,
        }
    }

    /// True for a value that could not be decoded (directly or in the batched call).
    fn is_decode(&self) -> bool {
        match self {
            RedisStoreError::Decode { .. } => true,
            RedisStoreError::Batched { source, .. } => source.is_decode(),
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
            | RedisStoreError::Decode { what, .. }
            | RedisStoreError::Batched { what, .. } => format!("redis {what}"),
            RedisStoreError::Config(_) => "redis configuration".to_owned(),
        };
        // The client's own response/connection timeout means the same as ours.
        if let Some(after) = e.timed_out() {
            return ha_core::Error::Timeout { what, after };
        }
        if e.is_unavailable() {
            return ha_core::Error::unavailable(what, e);
        }
        if e.is_decode() {
            return ha_core::Error::decode(what, e);
        }
        match e {
            RedisStoreError::Config(_) => ha_core::Error::Invalid(e.to_string()),
            _ => ha_core::Error::backend(what, e),
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
    fn batched_error_keeps_the_class_of_the_call_error() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        let call = Arc::new(RedisStoreError::redis("lease acquire", io.into()));
        let err: ha_core::Error = RedisStoreError::Batched {
            what: "lease acquire",
            source: call.clone(),
        }
        .into();
        assert!(matches!(err, ha_core::Error::Unavailable { .. }), "{err:?}");
        let timeout = Arc::new(RedisStoreError::Timeout {
            what: "lease acquire",
            after: Duration::from_secs(2),
        });
        let err: ha_core::Error = RedisStoreError::Batched {
            what: "lease acquire",
            source: timeout,
        }
        .into();
        assert!(
            matches!(err, ha_core::Error::Timeout { after, .. } if after == Duration::from_secs(2)),
            "{err:?}"
        );
    }

    #[test]
    fn protocol_error_is_backend() {
        let err: ha_core::Error = RedisStoreError::protocol("lease renew", "odd").into();
        assert!(matches!(err, ha_core::Error::Backend { .. }));
    }
}
