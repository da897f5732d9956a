//! Forwarding a segment request to the transcode job's owner (`--transcode-storage node-local`).
//!
//! What is forwarded is rebuilt from parsed, validated parts — the item id, the segment and
//! the rendition's parameters ([`SegmentTarget`]) — and never joins the client's raw path to
//! the owner's address: a path such as `1.ts\..\..\metrics` cannot steer the request
//! anywhere else on the owner (issue 20, finding 5). The owner's address must be a plain
//! `http(s)://host[:port]` base URL.
//!
//! The forwarded request carries no credential of the viewer (no `Authorization`, no
//! `api_key`): it carries the viewer's user id, signed with the cluster secret for the address
//! it is sent to (`peer_auth.rs`). The owner checks the signature, rebuilds the same rendition
//! from the same parameters, and answers with the same ranges and headers as if the client had
//! asked it directly. A listener that a forged job record names receives no token and a
//! signature valid nowhere else (finding 7).
//!
//! A replica receiving a forwarded request serves the segment itself or answers 421 (it no
//! longer owns the job), and never forwards again, so ownership moving mid-request cannot
//! bounce a request between replicas. A client setting the forwarding headers itself gets 401
//! (it cannot sign).
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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use reqwest::Url;

use crate::peer_auth::{canonical_target, PeerAuth};
use crate::transcoder::SegmentId;

pub use crate::peer_auth::FORWARDED_HEADER;

/// Request headers the owner needs: ranges and validators. Never credentials.
const REQUEST_HEADERS: [HeaderName; 4] = [
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
    /// The owner's advertised address is not a plain `http(s)://host[:port]` base URL: nothing
    /// was sent.
    Unaddressable(String),
}

/// A segment request, as parts the server parsed and checked itself.
#[derive(Debug, Clone)]
pub struct SegmentTarget {
    /// The item's id (as stored: letters, digits and `-` only).
    pub item_id: String,
    /// Which segment.
    pub segment: SegmentId,
    /// The file extension clients use for this rendition's segments (`ts`, `mp4`).
    pub ext: &'static str,
    /// The rendition's parameters (lower-case keys), without credentials.
    pub params: HashMap<String, String>,
}

/// Query parameters that are credentials: never forwarded.
const CREDENTIAL_PARAMS: [&str; 2] = ["api_key", "apikey"];

impl SegmentTarget {
    /// The target's path and canonical query (what is sent and what is signed), or `None`
    /// when the item id is not one this server issues.
    pub fn path_and_query(&self) -> Option<String> {
        let id_ok = !self.item_id.is_empty()
            && self.item_id.len() <= 64
            && self
                .item_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !id_ok {
            return None;
        }
        let segment = match self.segment {
            SegmentId::Init => "-1".to_owned(),
            SegmentId::Media(i) => i.to_string(),
        };
        let path = format!("/Videos/{}/hls1/main/{segment}.{}", self.item_id, self.ext);
        let mut params = self.params.clone();
        params.retain(|k, _| !CREDENTIAL_PARAMS.contains(&k.as_str()));
        Some(canonical_target(&path, &params))
    }
}

/// The owner's base URL, if `address` is a plain `http(s)://host[:port]` (a trailing `/` is
/// allowed; no user info, path, query or fragment).
pub fn owner_base(address: &str) -> Result<Url, String> {
    let url = Url::parse(address).map_err(|e| format!("{address:?} is not a URL: {e}"))?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.username().is_empty()
        && url.password().is_none()
        && matches!(url.path(), "" | "/")
        && url.query().is_none()
        && url.fragment().is_none();
    if plain {
        Ok(url)
    } else {
        Err(format!(
            "{address:?} is not a plain http(s)://host[:port] address"
        ))
    }
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
    peers: PeerAuth,
    stats: Arc<ProxyStats>,
}

impl OwnerProxy {
    /// A client signing with `peers`. `timeout` bounds a whole forwarded request (the owner
    /// may wait for the segment), connecting is bounded much tighter: a dead owner must cost a
    /// viewer little.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no usable TLS/DNS backend).
    pub fn new(peers: PeerAuth, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            peers,
            stats: Arc::default(),
        })
    }

    /// What forwarding did so far.
    pub fn stats(&self) -> &ProxyStats {
        &self.stats
    }

    /// Sends the request for `target` on behalf of `user_id` to the owner at `address` (its
    /// advertised base URL), with the relevant `headers` (ranges, validators) and the
    /// cluster's signature, and relays its answer.
    pub async fn forward(
        &self,
        address: &str,
        target: &SegmentTarget,
        user_id: &str,
        headers: &HeaderMap,
    ) -> Forwarded {
        let mut url = match owner_base(address) {
            Ok(url) => url,
            Err(e) => {
                self.stats.count_failure();
                return Forwarded::Unaddressable(e);
            }
        };
        let Some(path_and_query) = target.path_and_query() else {
            self.stats.count_failure();
            return Forwarded::Unaddressable(format!(
                "item id {:?} not forwardable",
                target.item_id
            ));
        };
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query.as_str(), ""));
        url.set_path(path);
        url.set_query(Some(query).filter(|q| !q.is_empty()));
        let mut req =
            self.http
                .get(url)
                .headers(self.peers.sign(address, user_id, &path_and_query));
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
