//! Forwarding a segment request to the transcode job's owner (`--transcode-storage node-local`).
//!
//! Why forward the client's own request instead of a cluster-internal API: the owner then
//! checks the same credentials (sessions live in the shared stores, so the caller's token is
//! valid on every replica), rebuilds the same rendition from the same query, and answers with
//! the same ranges and headers as if the client had asked it directly. Nothing new to secure.
//!
//! The forwarded request carries [`FORWARDED_HEADER`]; a replica receiving it serves the segment
//! itself or answers 421 (it no longer owns the job), and never forwards again, so ownership
//! moving mid-request cannot bounce a request between replicas. A client setting the header
//! itself only loses the forwarding (it gets 421 from a non-owner): no privilege comes with it.
//!
//! The body is buffered: a segment is a few seconds of video (hundreds of kilobytes to a few
//! megabytes), and buffering keeps the relay free of half-sent responses when the owner dies.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// Marks a request one replica forwarded to another; its value is the sender's node id.
pub const FORWARDED_HEADER: &str = "x-media-ha-forwarded";

/// Request headers the owner needs: credentials (every Jellyfin spelling), ranges, validators.
const REQUEST_HEADERS: [HeaderName; 8] = [
    header::AUTHORIZATION,
    HeaderName::from_static("x-emby-authorization"),
    HeaderName::from_static("x-emby-token"),
    HeaderName::from_static("x-mediabrowser-token"),
    header::RANGE,
    header::IF_RANGE,
    header::IF_MODIFIED_SINCE,
    header::IF_NONE_MATCH,
];

/// Response headers relayed to the client.
const RESPONSE_HEADERS: [HeaderName; 6] = [
    header::CONTENT_TYPE,
    header::CONTENT_RANGE,
    header::ACCEPT_RANGES,
    header::LAST_MODIFIED,
    header::ETAG,
    header::CACHE_CONTROL,
];

/// What forwarding gave.
#[derive(Debug)]
pub enum Forwarded {
    /// The owner's answer, to relay as it is.
    Response(Response),
    /// The owner answered that it does not own the job (any more): locate it again.
    NotOwner,
    /// The owner could not be reached at its address (connection refused, no route).
    Unreachable(reqwest::Error),
    /// The owner was reached but the exchange failed (a timeout, a broken connection).
    Failed(reqwest::Error),
}

/// The HTTP client requests are forwarded with.
#[derive(Debug, Clone)]
pub struct OwnerProxy {
    http: reqwest::Client,
    node_id: String,
}

impl OwnerProxy {
    /// A client for replica `node_id`. `timeout` bounds a whole forwarded request (the owner
    /// may wait for the segment), connecting is bounded much tighter: a dead owner must cost a
    /// viewer little.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no usable TLS/DNS backend).
    pub fn new(node_id: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            node_id: node_id.to_owned(),
        })
    }

    /// Sends the request (`uri` with its query, the relevant `headers`) to the owner at
    /// `address` (its advertised base URL) and relays its answer.
    pub async fn forward(&self, address: &str, uri: &Uri, headers: &HeaderMap) -> Forwarded {
        let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
        let url = format!("{}{path}", address.trim_end_matches('/'));
        let mut req = self.http.get(&url).header(FORWARDED_HEADER, &self.node_id);
        for name in &REQUEST_HEADERS {
            for value in headers.get_all(name) {
                req = req.header(name, value);
            }
        }
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) if e.is_connect() => return Forwarded::Unreachable(e),
            Err(e) => return Forwarded::Failed(e),
        };
        if resp.status() == StatusCode::MISDIRECTED_REQUEST {
            return Forwarded::NotOwner;
        }
        let mut out = Response::builder().status(resp.status());
        for name in &RESPONSE_HEADERS {
            for value in resp.headers().get_all(name) {
                out = out.header(name, value);
            }
        }
        match resp.bytes().await {
            Ok(body) => match out.body(Body::from(body)) {
                Ok(response) => Forwarded::Response(response),
                // Every header came from a valid response: cannot fail; answer as a failure.
                Err(e) => {
                    tracing::warn!(error = %e, "could not relay the owner's response");
                    Forwarded::Response(StatusCode::BAD_GATEWAY.into_response())
                }
            },
            Err(e) => Forwarded::Failed(e),
        }
    }
}
