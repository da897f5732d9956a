//! The crate's one error type, and how it maps onto [`ha_core::Error`].
//!
//! Errors are classified once, where they happen (we know the operation and the configured
//! statement timeout there), so the conversion into the contract error is a plain `match`. The
//! classification follows what a caller can do about it:
//!
//! | PostgreSQL says | variant | contract error |
//! |---|---|---|
//! | connection refused/closed, SQLSTATE class `08`, `57P01..57P03` | [`PgError::Unavailable`] | `Unavailable` |
//! | `57014` query_canceled (our `statement_timeout`), pool wait timeout | [`PgError::Timeout`] | `Timeout` |
//! | `23505` unique_violation | [`PgError::Unique`] | `Conflict` |
//! | `23503` foreign_key_violation | [`PgError::ForeignKey`] | `NotFound` |
//! | class `22` data exception (e.g. NUL in text), `54000` program limit | [`PgError::InvalidValue`] | `Invalid` |
//! | anything else | [`PgError::Db`] | `Backend` |
//!
//! At start-up ([`PgStore::connect`](crate::PgStore::connect)) a failure to reach the store is
//! wrapped in [`PgError::Connect`], which names the hosts and what to check (it converts to
//! `Unavailable`), and a set-up the crate cannot work with (a transaction-mode pooler) is
//! [`PgError::Unsupported`], which names the fix.
//!
//! `ha_core::Error::Conflict` and `Invalid` carry only a message, so for those two the source
//! is logged (at `debug`) and its text copied into the message; every other variant keeps it.

use ha_core::error_chain;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::error::SqlState;

/// Shorthand for results of this crate's internals.
pub type PgResult<T> = std::result::Result<T, PgError>;

/// What went wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The server could not be reached, or the connection broke mid-call.
    #[error("postgres unavailable during {what}")]
    Unavailable {
        /// The operation.
        what: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The statement (or the wait for a pooled connection) exceeded its time limit.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// The operation.
        what: String,
        /// The configured limit.
        after: Duration,
    },
    /// A unique constraint was violated.
    #[error("{what}: unique constraint {constraint:?} violated")]
    Unique {
        /// The operation.
        what: String,
        /// The constraint's name, when the server reported it.
        constraint: Option<String>,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A row referred to by a foreign key does not exist.
    #[error("{what}: referenced row missing ({constraint:?})")]
    ForeignKey {
        /// The operation.
        what: String,
        /// The constraint's name, when the server reported it.
        constraint: Option<String>,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A write carried a fencing token other than the record's.
    #[error("write to {key} fenced: presented token {presented}, current token {current}")]
    Fenced {
        /// The record written.
        key: String,
        /// The token presented.
        presented: ha_core::FencingToken,
        /// The record's token.
        current: ha_core::FencingToken,
    },
    /// A uniqueness or state conflict, already explained.
    #[error("{0}")]
    Conflict(String),
    /// Something the call needs does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The server rejected a value (NUL byte in text, out-of-range number, oversized key).
    #[error("{what}: value rejected by postgres")]
    InvalidValue {
        /// The operation.
        what: String,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A value passed in cannot be represented (checked before any round trip).
    #[error("{0}")]
    Invalid(String),
    /// A stored value could not be understood.
    #[error("could not decode {what}")]
    Decode {
        /// What was being decoded.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Any other database error.
    #[error("postgres error during {what}")]
    Db {
        /// The operation.
        what: String,
        /// The server's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A statement that carried several callers' operations failed for the store's sake
    /// (unreachable, timed out): every caller in it gets the one error, shared.
    #[error("{what} (sent with concurrent calls) failed")]
    Batched {
        /// The operation.
        what: &'static str,
        /// The statement's error.
        #[source]
        source: Arc<PgError>,
    },
    /// Schema migration failed.
    #[error("schema migration failed")]
    Migration(#[source] refinery::Error),
    /// The configuration is unusable.
    #[error("invalid postgres configuration: {0}")]
    Config(String),
    /// [`PgStore::connect`](crate::PgStore::connect) could not reach the store: the message
    /// names the host(s) tried and what to check; the source says what happened (with several
    /// hosts, what happened on the last one).
    #[error("cannot connect to the PostgreSQL store at {target}; check {check}")]
    Connect {
        /// The URL's hosts, ports, user and database (no password).
        target: String,
        /// What an operator should look at.
        check: &'static str,
        /// What went wrong.
        #[source]
        source: Box<PgError>,
    },
    /// The store is reached in a way this crate cannot work with (a pooler that does not give
    /// each connection a session of its own); the message names the fix.
    #[error("the PostgreSQL store at {target} cannot be used: {problem}; {fix}")]
    Unsupported {
        /// The URL's hosts, ports, user and database (no password).
        target: String,
        /// What was observed.
        problem: String,
        /// What to change.
        fix: &'static str,
    },
}

impl PgError {
    /// How the store failed, for `media_ha_store_errors_total`; `None` for a contract answer
    /// that is no failure of the store (a fenced write, a name taken, a value refused, a row
    /// missing).
    pub(crate) fn failure(&self) -> Option<ha_core::telemetry::StoreFailure> {
        use ha_core::telemetry::StoreFailure;
        match self {
            PgError::Unavailable { .. } | PgError::Connect { .. } => {
                Some(StoreFailure::Unavailable)
            }
            PgError::Timeout { .. } => Some(StoreFailure::Timeout),
            PgError::Batched { source, .. } => source.failure(),
            PgError::Db { .. }
            | PgError::Decode { .. }
            | PgError::Migration(_)
            | PgError::Unsupported { .. } => Some(StoreFailure::Error),
            PgError::Unique { .. }
            | PgError::ForeignKey { .. }
            | PgError::Fenced { .. }
            | PgError::Conflict(_)
            | PgError::NotFound(_)
            | PgError::InvalidValue { .. }
            | PgError::Invalid(_)
            | PgError::Config(_) => None,
        }
    }

    /// Classifies a driver error for `what`, given the statement timeout in force.
    pub(crate) fn from_db(
        what: impl Into<String>,
        err: tokio_postgres::Error,
        statement_timeout: Duration,
    ) -> Self {
        let what = what.into();
        let Some(code) = err.code() else {
            // No SQLSTATE: the socket failed, the connection closed, or a client-side
            // problem (e.g. encoding a parameter). Only the first two mean "unavailable".
            if err.is_closed() || has_io_source(&err) {
                return PgError::Unavailable {
                    what,
                    source: Box::new(err),
                };
            }
            return PgError::Db { what, source: err };
        };
        let class = &code.code()[..2];
        if *code == SqlState::QUERY_CANCELED {
            PgError::Timeout {
                what,
                after: statement_timeout,
            }
        } else if *code == SqlState::UNIQUE_VIOLATION {
            let constraint = err
                .as_db_error()
                .and_then(|d| d.constraint())
                .map(str::to_owned);
            PgError::Unique {
                what,
                constraint,
                source: err,
            }
        } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
            let constraint = err
                .as_db_error()
                .and_then(|d| d.constraint())
                .map(str::to_owned);
            PgError::ForeignKey {
                what,
                constraint,
                source: err,
            }
        } else if class == "08"
            || *code == SqlState::ADMIN_SHUTDOWN
            || *code == SqlState::CRASH_SHUTDOWN
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::TOO_MANY_CONNECTIONS
        {
            PgError::Unavailable {
                what,
                source: Box::new(err),
            }
        } else if class == "22" || *code == SqlState::PROGRAM_LIMIT_EXCEEDED {
            PgError::InvalidValue { what, source: err }
        } else {
            PgError::Db { what, source: err }
        }
    }

    /// Classifies a pool error for `what`.
    pub(crate) fn from_pool(
        what: impl Into<String>,
        err: deadpool_postgres::PoolError,
        wait_timeout: Duration,
        statement_timeout: Duration,
    ) -> Self {
        use deadpool_postgres::PoolError as P;
        let what = what.into();
        match err {
            P::Timeout(_) => PgError::Timeout {
                what: format!("{what} (waiting for a pooled connection)"),
                after: wait_timeout,
            },
            P::Backend(e) => PgError::from_db(what, e, statement_timeout),
            other => PgError::Unavailable {
                what,
                source: Box::new(other),
            },
        }
    }

    /// The constraint a unique or foreign-key violation names, if this is one.
    pub(crate) fn constraint(&self) -> Option<&str> {
        match self {
            PgError::Unique { constraint, .. } | PgError::ForeignKey { constraint, .. } => {
                constraint.as_deref()
            }
            _ => None,
        }
    }
}

fn has_io_source(err: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

impl From<PgError> for ha_core::Error {
    fn from(err: PgError) -> Self {
        match err {
            PgError::Unavailable { what, source } => ha_core::Error::Unavailable {
                what,
                source: Some(source),
            },
            PgError::Timeout { what, after } => ha_core::Error::Timeout { what, after },
            e @ PgError::Unique { .. } => {
                tracing::debug!(error = ?e, "unique violation");
                ha_core::Error::Conflict(error_chain(&e))
            }
            e @ PgError::InvalidValue { .. } => {
                tracing::debug!(error = ?e, "value rejected");
                ha_core::Error::Invalid(error_chain(&e))
            }
            PgError::Invalid(msg) => ha_core::Error::Invalid(msg),
            PgError::NotFound(what) => ha_core::Error::NotFound(what),
            PgError::Conflict(msg) => ha_core::Error::Conflict(msg),
            PgError::Fenced {
                key,
                presented,
                current,
            } => ha_core::Error::Fenced {
                key,
                presented,
                current,
            },
            e @ PgError::ForeignKey { .. } => {
                tracing::debug!(error = ?e, "foreign key violation");
                ha_core::Error::NotFound(error_chain(&e))
            }
            PgError::Decode { what, source } => ha_core::Error::Decode { what, source },
            PgError::Batched { what, source } => {
                let what = what.to_owned();
                if let PgError::Timeout { after, .. } = source.as_ref() {
                    ha_core::Error::Timeout {
                        what,
                        after: *after,
                    }
                } else if source.failure() == Some(ha_core::telemetry::StoreFailure::Unavailable) {
                    ha_core::Error::Unavailable {
                        what,
                        source: Some(Box::new(source)),
                    }
                } else {
                    ha_core::Error::backend(what, source)
                }
            }
            e @ PgError::Connect { .. } => ha_core::Error::Unavailable {
                what: "postgres store".to_owned(),
                source: Some(Box::new(e)),
            },
            e @ (PgError::Db { .. }
            | PgError::Migration(_)
            | PgError::Config(_)
            | PgError::Unsupported { .. }) => ha_core::Error::backend("postgres", e),
        }
    }
}
