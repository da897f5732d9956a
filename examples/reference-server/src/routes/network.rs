//! What a client asks about its connection: `GET /System/Endpoint` (is it local, is it in the
//! server's network) and `GET /Playback/BitrateTest?Size=` (bytes to time, from which
//! jellyfin-web picks its streaming bitrate after sign-in).
//!
//! The bitrate test is capped at [`MAX_BITRATE_TEST`] bytes (Jellyfin allows 100 MB; a test of
//! 10 MB measures any link a person streams over, and a client asking for more is refused with
//! 400 rather than tying up a connection). The bytes are one random block of 64 KiB sent over
//! and over, streamed, never the whole answer in memory; random so that no compression on the
//! way shrinks them (a deflate window is 32 KiB, smaller than the block).

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, Extensions, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rand::RngCore;
use serde_json::{json, Value};

use crate::auth::{query_map, Caller};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The largest bitrate test answered, in bytes.
pub const MAX_BITRATE_TEST: u64 = 10_000_000;
/// Jellyfin's default size.
const DEFAULT_BITRATE_TEST: u64 = 102_400;
const BLOCK: usize = 64 * 1024;

/// The routes of this file.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/System/Endpoint", get(endpoint))
        .route("/Playback/BitrateTest", get(bitrate_test))
}

/// `IsLocal`: the peer is this machine; `IsInNetwork`: a private, loopback or link-local
/// address (behind a proxy, the proxy's address: what this replica can see).
fn endpoint_info(peer: Option<IpAddr>) -> Value {
    let (local, in_network) = match peer.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => (
            v4.is_loopback(),
            v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        ),
        Some(IpAddr::V6(v6)) => (
            v6.is_loopback(),
            v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
        ),
        None => (false, false),
    };
    json!({ "IsLocal": local, "IsInNetwork": in_network })
}

/// `serve.rs` puts the peer's address in every request's extensions.
async fn endpoint(_caller: Caller, extensions: Extensions) -> Json<Value> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>();
    Json(endpoint_info(peer.map(|ConnectInfo(p)| p.ip())))
}

/// The `Size` parameter: 1 to [`MAX_BITRATE_TEST`], Jellyfin's default when absent.
fn test_size(uri: &Uri) -> ApiResult<u64> {
    let Some(raw) = query_map(uri.query()).remove("size") else {
        return Ok(DEFAULT_BITRATE_TEST);
    };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (1..=MAX_BITRATE_TEST).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Size must be a whole number from 1 to {MAX_BITRATE_TEST}"
            ))
        })
}

fn block() -> Bytes {
    static BLOCK_BYTES: OnceLock<Bytes> = OnceLock::new();
    BLOCK_BYTES
        .get_or_init(|| {
            let mut bytes = vec![0u8; BLOCK];
            rand::thread_rng().fill_bytes(&mut bytes);
            Bytes::from(bytes)
        })
        .clone()
}

async fn bitrate_test(_caller: Caller, uri: Uri) -> ApiResult<Response> {
    let size = test_size(&uri)?;
    let block = block();
    let chunks = (0..size.div_ceil(BLOCK as u64)).map(move |i| {
        let left = size - i * BLOCK as u64;
        Ok::<_, std::io::Error>(block.slice(..left.min(BLOCK as u64) as usize))
    });
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_LENGTH, size.to_string()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(futures::stream::iter(chunks)),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_bounded() {
        let size = |q: &str| test_size(&format!("/Playback/BitrateTest?{q}").parse().unwrap());
        assert_eq!(size("").unwrap(), DEFAULT_BITRATE_TEST);
        assert_eq!(size("Size=500000").unwrap(), 500_000);
        assert_eq!(size("size=10000000").unwrap(), MAX_BITRATE_TEST);
        for bad in ["Size=0", "Size=10000001", "Size=-1", "Size=abc", "Size="] {
            assert_eq!(
                size(bad).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    }

    #[test]
    fn endpoints_are_classified_by_address() {
        let info = |ip: &str| endpoint_info(Some(ip.parse().unwrap()));
        assert_eq!(
            info("127.0.0.1"),
            json!({"IsLocal": true, "IsInNetwork": true})
        );
        assert_eq!(
            info("192.168.1.20"),
            json!({"IsLocal": false, "IsInNetwork": true})
        );
        assert_eq!(
            info("::ffff:10.0.0.1"),
            json!({"IsLocal": false, "IsInNetwork": true})
        );
        assert_eq!(
            info("8.8.8.8"),
            json!({"IsLocal": false, "IsInNetwork": false})
        );
        assert_eq!(
            endpoint_info(None),
            json!({"IsLocal": false, "IsInNetwork": false})
        );
    }
}
