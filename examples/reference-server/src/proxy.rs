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
//! The body is streamed through chunk by chunk as the owner sends it, not buffered: the viewer
//! gets the first bytes as soon as the owner sends them, and a replica relaying for many viewers
//! holds one chunk per stream instead of whole segments (a few megabytes each). The cost: when
//! the owner dies mid-body, the client sees a truncated response (the connection is closed
//! early, the length does not match) instead of a clean 502; players retry that like any broken
//! download. Status and headers are only relayed once the owner has sent them, so every failure
//! *before* the body still becomes a clean error answer.
//!
//! [`ProxyStats`] counts relayed segments (bodies relayed to the end) and failures (owner
//! unreachable, exchange failed, body broken off), for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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

/// What forwarding did so far on this replica.
#[derive(Debug, Default)]
pub struct ProxyStats {
    relayed: AtomicU64,
    failed: AtomicU64,
}

impl ProxyStats {
    /// Segments whose body was relayed from the owner to the end.
    pub fn relayed(&self) -> u64 {
        self.relayed.load(Ordering::Relaxed)
    }

    /// Forwarded requests that failed: owner unreachable, the exchange failed, or the body broke
    /// off mid-stream.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    fn count_failure(&self) {
        self.failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// The HTTP client requests are forwarded with.
#[derive(Debug, Clone)]
pub struct OwnerProxy {
    http: reqwest::Client,
    node_id: String,
    stats: Arc<ProxyStats>,
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
            stats: Arc::default(),
        })
    }

    /// What forwarding did so far.
    pub fn stats(&self) -> &ProxyStats {
        &self.stats
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
            Err(e) if e.is_connect() => {
                self.stats.count_failure();
                return Forwarded::Unreachable(e);
            }
            Err(e) => {
                self.stats.count_failure();
                return Forwarded::Failed(e);
            }
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
        if let Some(length) = resp.headers().get(header::CONTENT_LENGTH) {
            // Streamed, the body's length is unknown to hyper: pass the owner's on, so the
            // client can tell a complete segment from one cut short.
            out = out.header(header::CONTENT_LENGTH, length);
        }
        match out.body(Body::from_stream(relay(resp, self.stats.clone()))) {
            Ok(response) => Forwarded::Response(response),
            // Every header came from a valid response: cannot fail; answer as a failure.
            Err(e) => {
                tracing::warn!(error = %e, "could not relay the owner's response");
                self.stats.count_failure();
                Forwarded::Response(StatusCode::BAD_GATEWAY.into_response())
            }
        }
    }
}

/// The owner's body as a stream of chunks; counts the relay as done once the last byte passed
/// (hyper stops polling a body with a known length after its last byte, so the end is not
/// always seen as such), or as failed when the owner's side breaks off (the client's connection
/// is then closed early).
fn relay(
    resp: reqwest::Response,
    stats: Arc<ProxyStats>,
) -> impl futures::Stream<Item = Result<axum::body::Bytes, reqwest::Error>> + Send {
    let state = Relay {
        remaining: resp.content_length(),
        resp,
        stats,
        counted: false,
    };
    futures::stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        match state.resp.chunk().await {
            Ok(Some(chunk)) => {
                if let Some(left) = &mut state.remaining {
                    *left = left.saturating_sub(chunk.len() as u64);
                    if *left == 0 {
                        state.done();
                    }
                }
                Some((Ok(chunk), Some(state)))
            }
            Ok(None) => {
                state.done();
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "the owner's segment body broke off mid-stream");
                state.stats.count_failure();
                Some((Err(e), None))
            }
        }
    })
}

/// One body being relayed.
struct Relay {
    resp: reqwest::Response,
    stats: Arc<ProxyStats>,
    /// Bytes still to come, when the owner said how many.
    remaining: Option<u64>,
    counted: bool,
}

impl Relay {
    /// The whole body has passed: count it once.
    fn done(&mut self) {
        if !self.counted {
            self.counted = true;
            self.stats.relayed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
