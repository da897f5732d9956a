//! The one error type every contract returns.
//!
//! Backends keep their own error enums (a Redis protocol error is not a Postgres one) and convert
//! into this one at the contract boundary. The conversion keeps the original error as the
//! [`std::error::Error::source`], so nothing is flattened into a string: callers can match on the
//! kind here and still log the full chain.

use std::time::Duration;

use crate::FencingToken;

/// A boxed error kept as the source of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shorthand for `Result<T, ha_core::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its sources on one line, `outer: inner: innermost`, for logs and for failure
/// reasons stored as text (a job record's failure).
///
/// ```
/// let e = ha_core::Error::Unavailable {
///     what: "redis".into(),
///     source: Some(Box::new(std::io::Error::other("connection refused"))),
/// };
/// assert_eq!(ha_core::error_chain(&e), "redis is unavailable: connection refused");
/// ```
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// What went wrong in a call to one of the contracts.
///
/// Match on the variant to decide what to do: [`Error::Unavailable`] and [`Error::Timeout`] are
/// worth a retry later, [`Error::Fenced`] and [`Error::LeaseLost`] mean "stop, somebody else owns
/// this now", the rest are bugs or bad input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store could not be reached (connection refused, reset, not ready).
    #[error("{what} is unavailable")]
    Unavailable {
        /// Which store or operation.
        what: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<BoxError>,
    },
    /// The store did not answer in time.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// Which store or operation.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// A write carried a fencing token older than the one the record holds.
    #[error("write to {key} fenced: presented token {presented}, current token {current}")]
    Fenced {
        /// The record written.
        key: String,
        /// The token the writer presented.
        presented: FencingToken,
        /// The token the record holds.
        current: FencingToken,
    },
    /// The lease (or slot) is no longer held by the caller: it expired, was released, or was
    /// taken over.
    #[error("lease on {key} lost")]
    LeaseLost {
        /// The lease key (or slot pool).
        key: String,
    },
    /// A uniqueness or state conflict other than fencing (e.g. a user name already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The thing asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The caller passed something the contract does not accept.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// A value could not be serialised for the store.
    #[error("could not encode {what}")]
    Encode {
        /// What was being encoded.
        what: String,
        /// The serialiser's error.
        #[source]
        source: BoxError,
    },
    /// A value read from the store could not be understood.
    #[error("could not decode {what}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// The deserialiser's error.
        #[source]
        source: BoxError,
    },
    /// Any other backend failure, with its source kept.
    #[error("backend error in {what}")]
    Backend {
        /// Which store or operation.
        what: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// An [`Error::Unavailable`] with a source.
    pub fn unavailable(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Unavailable {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// An [`Error::Backend`] with a source.
    pub fn backend(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Backend {
            what: what.into(),
            source: source.into(),
        }
    }

    /// An [`Error::Decode`] with a source.
    pub fn decode(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Decode {
            what: what.into(),
            source: source.into(),
        }
    }

    /// An [`Error::Encode`] with a source.
    pub fn encode(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Encode {
            what: what.into(),
            source: source.into(),
        }
    }

    /// True for errors that may go away by themselves (store down, slow, restarting).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Timeout { .. })
    }
}
