//! Replicas vouching for one another: HMAC-signed forwarding with the cluster secret.
//!
//! Why: with `--transcode-storage node-local`, a replica fetches a segment it does not have from
//! the job's owner, at the address the owner wrote into the job record. Before, it forwarded
//! the viewer's own request — credentials included — to whatever address the record named, so
//! whoever could write to the shared store could point a job at their own listener and collect
//! viewers' tokens (issue 20, finding 7), and the owner trusted anything that carried the
//! forwarding marker only as far as the viewer's token went.
//!
//! Now a forwarded request carries no viewer credential at all. It carries the viewer's user id
//! and a signature: HMAC-SHA256, keyed with the cluster secret (`--cluster-secret`, every
//! replica the same), over the sender, the address the request is sent to, a timestamp, the
//! user id and the path with its query. The owner serves it only if the signature is right, the
//! timestamp is within [`MAX_SKEW`] of its own clock and the address signed is its own: a
//! listener the cluster never vouched for receives a signature it can neither reuse elsewhere
//! (it names the listener's address) nor turn into a token.
//!
//! Why not a secret generated into the shared store when none is given: the attacker this
//! defends against is precisely one who can write to (and so read from) that store. A replica
//! with node-local storage and no secret refuses to start (`lib.rs`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Marks a request one replica forwarded to another; its value is the sender's node id.
pub const FORWARDED_HEADER: &str = "x-media-ha-forwarded";
/// The viewer's user id, as the sender authenticated it.
pub const USER_HEADER: &str = "x-media-ha-user";
/// When the sender signed, in ms since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "x-media-ha-timestamp";
/// The signature, lower-case hex.
pub const SIGNATURE_HEADER: &str = "x-media-ha-signature";

/// How far a signed timestamp may be from the receiver's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(60);

/// Shortest cluster secret accepted (bytes).
pub const MIN_SECRET_LEN: usize = 16;

/// Why a forwarded request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerAuthError {
    /// A header the signature needs is missing or not text.
    Missing(&'static str),
    /// The timestamp is too far from this replica's clock (or not a number).
    Stale,
    /// The signature does not match (another secret, or altered in transit).
    BadSignature,
}

impl std::fmt::Display for PeerAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Missing(header) => write!(f, "forwarded request without {header}"),
            Self::Stale => f.write_str("forwarded request signed too long ago or in the future"),
            Self::BadSignature => f.write_str("forwarded request with a bad signature"),
        }
    }
}

impl std::error::Error for PeerAuthError {}

/// `path?query` with the query's pairs sorted and form-encoded: what the sender sends and
/// signs, and what the receiver rebuilds from the request it got (`query_map` of its query)
/// to check the signature, so encoding details cannot make the two differ.
pub fn canonical_target(path: &str, params: &HashMap<String, String>) -> String {
    let mut pairs: Vec<_> = params.iter().collect();
    pairs.sort();
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// The cluster secret and this replica's identity.
#[derive(Clone)]
pub struct PeerAuth {
    secret: Vec<u8>,
    node_id: String,
    /// The base URL other replicas reach this one at (what it advertises in job records).
    address: String,
}

impl std::fmt::Debug for PeerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerAuth")
            .field("node_id", &self.node_id)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// What a verified forwarded request says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vouched {
    /// The node that forwarded it.
    pub sender: String,
    /// The viewer's user id.
    pub user_id: String,
}

impl PeerAuth {
    /// `secret` shared by every replica; `address`: where peers reach this one.
    ///
    /// # Errors
    /// When `secret` is shorter than [`MIN_SECRET_LEN`] bytes.
    pub fn new(secret: &str, node_id: &str, address: &str) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(format!(
                "the cluster secret must be at least {MIN_SECRET_LEN} bytes"
            ));
        }
        Ok(Self::unchecked(secret, node_id, address))
    }

    fn unchecked(secret: &str, node_id: &str, address: &str) -> Self {
        Self {
            secret: secret.as_bytes().to_vec(),
            node_id: node_id.to_owned(),
            address: normalize(address).to_owned(),
        }
    }

    fn mac(&self, sender: &str, to: &str, at_ms: u64, user_id: &str, target: &str) -> Hmac<Sha256> {
        // Only fails for key lengths HMAC rejects, and HMAC takes any length.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        for part in [
            "media-ha-forward-v1",
            sender,
            normalize(to),
            &at_ms.to_string(),
            user_id,
            target,
        ] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// The headers that vouch for a request for `target` (path and query) sent to the replica
    /// at `to`, on behalf of `user_id`.
    pub fn sign(&self, to: &str, user_id: &str, target: &str) -> HeaderMap {
        let at_ms = now_ms();
        let tag = self
            .mac(&self.node_id, to, at_ms, user_id, target)
            .finalize()
            .into_bytes();
        let mut headers = HeaderMap::new();
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        put(FORWARDED_HEADER, &self.node_id);
        put(USER_HEADER, user_id);
        put(TIMESTAMP_HEADER, &at_ms.to_string());
        put(SIGNATURE_HEADER, &hex(&tag));
        headers
    }

    /// Checks a forwarded request for `target` (its path and query) sent to this replica.
    ///
    /// # Errors
    /// [`PeerAuthError`] when a header is missing, the timestamp is stale or the signature is
    /// not this cluster's for this replica.
    pub fn verify(&self, headers: &HeaderMap, target: &str) -> Result<Vouched, PeerAuthError> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(PeerAuthError::Missing(name))
        };
        let sender = header(FORWARDED_HEADER)?;
        let user_id = header(USER_HEADER)?;
        let at_ms: u64 = header(TIMESTAMP_HEADER)?
            .parse()
            .map_err(|_| PeerAuthError::Stale)?;
        let signature = unhex(header(SIGNATURE_HEADER)?).ok_or(PeerAuthError::BadSignature)?;
        let skew = now_ms().abs_diff(at_ms);
        if u128::from(skew) > MAX_SKEW.as_millis() {
            return Err(PeerAuthError::Stale);
        }
        self.mac(sender, &self.address, at_ms, user_id, target)
            .verify_slice(&signature)
            .map_err(|_| PeerAuthError::BadSignature)?;
        Ok(Vouched {
            sender: sender.to_owned(),
            user_id: user_id.to_owned(),
        })
    }
}

fn normalize(address: &str) -> &str {
    address.trim_end_matches('/')
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef-cluster";

    fn peer(secret: &str, node: &str, address: &str) -> PeerAuth {
        PeerAuth::new(secret, node, address).unwrap()
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(PeerAuth::new("short", "n", "http://a").is_err());
    }

    #[test]
    fn the_canonical_target_survives_a_round_trip_through_a_query() {
        let mut params = HashMap::new();
        params.insert("deviceid".to_owned(), "a b+c/é".to_owned());
        params.insert("audiobitrate".to_owned(), "128000".to_owned());
        let target = canonical_target("/Videos/x/hls1/main/1.ts", &params);
        let (path, query) = target.split_once('?').unwrap();
        let back = crate::auth::query_map(Some(query));
        assert_eq!(canonical_target(path, &back), target);
    }

    #[test]
    fn a_signed_request_verifies_only_where_it_was_sent() {
        let a = peer(SECRET, "node-a", "http://10.0.0.1:8096");
        let b = peer(SECRET, "node-b", "http://10.0.0.2:8096/");
        let target = "/Videos/abc/hls1/main/3.ts?DeviceId=d";
        let headers = a.sign("http://10.0.0.2:8096", "user-1", target);
        assert_eq!(
            b.verify(&headers, target),
            Ok(Vouched {
                sender: "node-a".into(),
                user_id: "user-1".into()
            })
        );
        // Another path, another user, another receiver, another secret: refused.
        assert_eq!(
            b.verify(&headers, "/Videos/abc/hls1/main/4.ts?DeviceId=d"),
            Err(PeerAuthError::BadSignature)
        );
        let mut other_user = headers.clone();
        other_user.insert(USER_HEADER, HeaderValue::from_static("admin"));
        assert_eq!(
            b.verify(&other_user, target),
            Err(PeerAuthError::BadSignature)
        );
        let c = peer(SECRET, "node-c", "http://10.0.0.3:8096");
        assert_eq!(c.verify(&headers, target), Err(PeerAuthError::BadSignature));
        let stranger = peer("another-secret-entirely", "node-b", "http://10.0.0.2:8096");
        assert_eq!(
            stranger.verify(&headers, target),
            Err(PeerAuthError::BadSignature)
        );
    }

    #[test]
    fn missing_or_stale_headers_are_refused() {
        let b = peer(SECRET, "node-b", "http://b");
        let mut headers = b.sign("http://b", "u", "/x");
        assert!(b.verify(&headers, "/x").is_ok());
        headers.insert(TIMESTAMP_HEADER, HeaderValue::from_static("1000"));
        assert_eq!(b.verify(&headers, "/x"), Err(PeerAuthError::Stale));
        headers.remove(SIGNATURE_HEADER);
        assert_eq!(
            b.verify(&headers, "/x"),
            Err(PeerAuthError::Missing(SIGNATURE_HEADER))
        );
        assert_eq!(
            b.verify(&HeaderMap::new(), "/x"),
            Err(PeerAuthError::Missing(FORWARDED_HEADER))
        );
    }
}
