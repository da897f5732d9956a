//! The one error type handlers return, and how it becomes an HTTP response.
//!
//! Why one type: every handler can use `?` on store calls and on client-input checks alike, and
//! the mapping to status codes lives in one place. Client mistakes become 400/401/403/404 with a
//! message saying what was wrong; only store failures become 5xx, and those are logged here with
//! their full source chain (the client sees a short message, never internals). Every error
//! answers a JSON object naming the status and saying what was wrong ([`ApiError::body`]).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use media_ha::core::Error as CoreError;

/// An HTTP error: a status and a message for the client.
#[derive(Debug)]
pub struct ApiError {
    /// The status to answer with.
    pub status: StatusCode,
    /// A short, client-safe explanation.
    pub message: String,
    /// `Retry-After` seconds of a 503 ([`RETRY_AFTER_SECS`] when `None`).
    pub retry_after: Option<u64>,
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401: no valid credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// Any status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// The same error asking a client to retry after `secs` (sent with a 503).
    #[must_use]
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }
}

impl From<CoreError> for ApiError {
    fn from(err: CoreError) -> Self {
        let status = match &err {
            CoreError::NotFound(_) => StatusCode::NOT_FOUND,
            CoreError::Invalid(_) => StatusCode::BAD_REQUEST,
            CoreError::Conflict(_) => StatusCode::CONFLICT,
            CoreError::Unavailable { .. } | CoreError::Timeout { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %chain(&err), "store call failed");
            let message = if status == StatusCode::SERVICE_UNAVAILABLE {
                "a store is unavailable; try again"
            } else {
                "internal error"
            };
            return Self::new(status, message);
        }
        // A store's own words stay in the log: a backend's error text (a PostgreSQL message
        // naming a constraint, a column, a value) is not for clients (issue 20). The client
        // gets what kind of mistake it was; NotFound messages are the server's own.
        let message = match &err {
            CoreError::NotFound(_) => err.to_string(),
            CoreError::Invalid(_) => {
                tracing::info!(error = %chain(&err), "store refused a value");
                "a value in the request was refused".to_owned()
            }
            CoreError::Conflict(_) => {
                tracing::info!(error = %chain(&err), "store reported a conflict");
                "the request conflicts with existing data".to_owned()
            }
            _ => err.to_string(),
        };
        Self::new(status, message)
    }
}

/// Seconds a client is asked to wait before retrying a 503 (a store outage or overload).
pub const RETRY_AFTER_SECS: u64 = 5;

impl ApiError {
    /// The body: a problem-details JSON object (as ASP.NET, and so Jellyfin, answers a
    /// rejected request), `{"status": 400, "title": "Bad Request", "detail": "<message>"}`.
    fn body(&self) -> Json<serde_json::Value> {
        Json(serde_json::json!({
            "status": self.status.as_u16(),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "detail": self.message,
        }))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // A store outage is the same on every replica (readiness stays up, see
            // routes/system.rs): tell clients when to try again instead of letting them spin.
            let secs = self.retry_after.unwrap_or(RETRY_AFTER_SECS);
            let retry_after = [(header::RETRY_AFTER, secs.to_string())];
            return (self.status, retry_after, body).into_response();
        }
        (self.status, body).into_response()
    }
}

/// An error and its sources, joined with `: ` (for logs): the workspace's one helper.
pub use media_ha::core::error_chain as chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_outage_says_when_to_retry() {
        let outage = ApiError::from(CoreError::Timeout {
            what: "session get".into(),
            after: std::time::Duration::from_secs(2),
        })
        .into_response();
        assert_eq!(outage.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            outage
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(b"5".as_slice())
        );
        let not_found = ApiError::not_found("no such item").into_response();
        assert!(not_found.headers().get(header::RETRY_AFTER).is_none());
    }
}
