//! A request body must arrive within [`Config::body_read_timeout`](crate::Config), or
//! the answer is `408 Request Timeout`.
//!
//! Why: before, a body that never finished was cut off by the request timeout, whose answer is
//! 503 ("the server is unavailable, try again") — the wrong party blamed, and a client that
//! retries 5xx would send the same stalled upload again. 408 says the *client* was too slow,
//! and `Connection: close` ends the connection, whose unread rest is useless anyway.
//!
//! How: the body is read whole here, before routing, bounded in time and in size (413 over the
//! limit), then handed on as a buffered body. Every route that takes a body parses it whole
//! (JSON, at most `max_body_bytes`), so this buffers nothing a handler would not; segments and
//! streams are `GET`s and pass straight through. The request timeout (503) then bounds the
//! handler alone.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// How long, and how much, a body may take.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Time for the whole body, from when the head was read.
    pub timeout: Duration,
    /// Largest body accepted, in bytes.
    pub max_bytes: usize,
}

/// Whether `req` announces a body (a length above zero, or chunked).
fn has_body(req: &Request) -> bool {
    let headers = req.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// The middleware: reads the body within the limits, then runs the rest of the stack.
pub async fn read_body_in_time(limits: BodyLimits, req: Request, next: Next) -> Response {
    if !has_body(&req) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(limits.timeout, axum::body::to_bytes(body, limits.max_bytes));
    match read.await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) if is_length_limit(&e) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {} bytes", limits.max_bytes),
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body could not be read");
            (StatusCode::BAD_REQUEST, "request body could not be read").into_response()
        }
        Err(_) => {
            tracing::info!(
                timeout = ?limits.timeout,
                "request body not complete in time: 408"
            );
            let mut response = (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "request body not complete within {} s",
                    limits.timeout.as_secs_f64()
                ),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// Whether reading failed because the body passed the size limit (ours or an outer layer's).
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}
