//! Conversions between the contracts' unsigned integers and PostgreSQL's signed `bigint`.
//!
//! PostgreSQL has no unsigned types. A `u64` above `i64::MAX` cannot be stored, so it is
//! refused up front as [`PgError::Invalid`] (not wrapped around into a negative number); a
//! negative number read back (somebody edited the table by hand) is a decode error, not a
//! silently huge value.

use crate::error::{PgError, PgResult};

/// A `u64` as a `bigint` parameter.
pub(crate) fn to_i64(what: &str, value: u64) -> PgResult<i64> {
    i64::try_from(value).map_err(|_| PgError::Invalid(format!("{what} {value} exceeds i64::MAX")))
}

/// An optional `u64` as a nullable `bigint` parameter.
pub(crate) fn opt_to_i64(what: &str, value: Option<u64>) -> PgResult<Option<i64>> {
    value.map(|v| to_i64(what, v)).transpose()
}

/// A `bigint` column as a `u64`.
pub(crate) fn to_u64(what: &str, value: i64) -> PgResult<u64> {
    u64::try_from(value).map_err(|e| PgError::Decode {
        what: format!("{what} ({value})"),
        source: Box::new(e),
    })
}

/// A nullable `bigint` column as an optional `u64`.
pub(crate) fn opt_to_u64(what: &str, value: Option<i64>) -> PgResult<Option<u64>> {
    value.map(|v| to_u64(what, v)).transpose()
}

/// A `bigint` column as a `u32`.
pub(crate) fn to_u32(what: &str, value: i64) -> PgResult<u32> {
    u32::try_from(value).map_err(|e| PgError::Decode {
        what: format!("{what} ({value})"),
        source: Box::new(e),
    })
}

/// A duration as whole microseconds, rounded up (server deadlines must not come early).
pub(crate) fn micros_ceil(d: std::time::Duration) -> i64 {
    let micros = d.as_nanos().div_ceil(1_000);
    i64::try_from(micros).unwrap_or(i64::MAX)
}

/// A column of `row`, with a type mismatch reported as a decode error instead of a panic.
pub(crate) fn col<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    name: &str,
) -> PgResult<T> {
    row.try_get(name).map_err(|e| PgError::Decode {
        what: format!("column {name}"),
        source: Box::new(e),
    })
}
