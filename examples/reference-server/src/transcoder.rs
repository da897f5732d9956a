//! The seam where the HLS routes meet a transcode manager.
//!
//! Why a trait here: the server's HLS routes (`routes::playback`) need four things — a master
//! playlist, a media playlist, "give me segment *i* (waiting for it, taking the job over if its
//! owner died)", and "stop this device's encodings". The routes depend on this trait only; the
//! adapter over `ha-transcode`'s `TranscodeManager` (`ManagerTranscoder` in `hls.rs`) implements
//! it and is set as `Shared::transcoder` in `lib.rs` when the server is built with `transcode`.
//! Without a transcoder those routes answer 501 and never fake a segment.

use std::collections::HashMap;
use std::path::PathBuf;

use async_trait::async_trait;
use media_ha::core::Item;

use crate::device_jobs::StopScope;
use crate::error::ApiError;

/// One client's HLS request, as the routes parsed it.
#[derive(Debug, Clone)]
pub struct HlsRequest {
    /// The source item.
    pub item: Item,
    /// The caller.
    pub user_id: String,
    /// The caller's device id.
    pub device_id: String,
    /// The play session (from PlaybackInfo).
    pub play_session_id: Option<String>,
    /// Every query parameter (lower-cased keys): codecs, bitrates, sizes, stream indexes.
    pub params: HashMap<String, String>,
}

/// Which file of a rendition a segment URL asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentId {
    /// The fMP4 init segment (Jellyfin's `hls1/main/-1.mp4`).
    Init,
    /// Media segment `i` (`hls1/main/7.ts`, `hls1/main/7.mp4`).
    Media(u32),
}

impl SegmentId {
    /// Parses the last path element of a segment URL: `<index>.<ext>`, or `-1.<ext>` for the
    /// init segment. `None` for anything else.
    pub fn parse(segment: &str) -> Option<Self> {
        let (stem, ext) = segment.split_once('.').unwrap_or((segment, "ts"));
        // Only the extensions segments have: anything after the number (`1.ts\..\metrics`)
        // is refused, not ignored.
        if !["ts", "mp4", "m4s"]
            .iter()
            .any(|e| ext.eq_ignore_ascii_case(e))
        {
            return None;
        }
        if stem == "-1" {
            return Some(Self::Init);
        }
        if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        stem.parse().ok().map(Self::Media)
    }
}

/// Transcoding as the HLS routes need it.
#[async_trait]
pub trait Transcoder: Send + Sync + std::fmt::Debug + 'static {
    /// `master.m3u8`: the variant list pointing at `main.m3u8`.
    async fn master_playlist(&self, req: &HlsRequest) -> Result<String, ApiError>;
    /// `main.m3u8`: every segment listed up front (VOD), so seeking works at once.
    async fn media_playlist(&self, req: &HlsRequest) -> Result<String, ApiError>;
    /// Segment `id` (a media segment, or an fMP4 rendition's init segment): its file once
    /// written (waiting for the owner, or taking over an orphan).
    async fn segment(&self, req: &HlsRequest, id: SegmentId) -> Result<PathBuf, ApiError>;
    /// The HTTP answer for segment `id` of `request` (ranges honoured). Default: the file
    /// [`segment`](Self::segment) gives; a transcoder whose segments may live on another
    /// replica (node-local storage) fetches them from there instead.
    async fn segment_response(
        &self,
        req: &HlsRequest,
        id: SegmentId,
        request: axum::extract::Request,
    ) -> Result<axum::response::Response, ApiError> {
        Ok(serve_file(self.segment(req, id).await?, request).await)
    }
    /// `DELETE /Videos/ActiveEncodings`: the device stopped watching. Only jobs `scope`'s
    /// user fetched from that device stop (any user's for an administrator).
    async fn stop(
        &self,
        scope: StopScope<'_>,
        device_id: &str,
        play_session_id: Option<&str>,
    ) -> Result<(), ApiError>;
    /// The user id a request forwarded by another replica was signed for (`peer_auth.rs`);
    /// `target` is its canonical path and query. Default: no replica forwards here (401).
    fn vouch(&self, headers: &axum::http::HeaderMap, target: &str) -> Result<String, ApiError> {
        let _ = (headers, target);
        Err(ApiError::unauthorized(
            "this replica accepts no forwarded requests",
        ))
    }
    /// The drain started (SIGTERM, `drain.rs`): hand this replica's jobs to live replicas now,
    /// keep serving, take no job any more. Default: nothing to hand over.
    fn drain(&self) {}
    /// Graceful shutdown (called once HTTP has stopped): stop this replica's jobs and release
    /// their leases so other replicas take over at once. Default: nothing to do.
    async fn shutdown(&self, within: std::time::Duration) {
        let _ = within;
    }
    /// Counters for `/metrics`. Default: none.
    fn metrics(&self) -> Option<TranscoderMetrics> {
        None
    }
}

/// `path` as the answer to `request` (ranges, conditional requests, content type).
pub async fn serve_file(
    path: PathBuf,
    request: axum::extract::Request,
) -> axum::response::Response {
    use tower::ServiceExt;
    let segment_type = segment_content_type(&path);
    let mut response = tower_http::services::ServeFile::new(path)
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {})
        .map(axum::body::Body::new);
    if let Some(kind) = segment_type.filter(|_| response.status().is_success()) {
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(kind),
        );
    }
    response
}

/// The content type of an HLS segment file, where mime_guess gets it wrong: it calls `.ts`
/// `video/vnd.dlna.mpeg-tts` (HLS players, Apple's spec and Jellyfin say `video/mp2t`) and does
/// not know `.m4s` (it would say `application/octet-stream`). `None`: leave mime_guess's guess
/// (the init segment's `.mp4` is `video/mp4`, right as it is).
fn segment_content_type(path: &std::path::Path) -> Option<&'static str> {
    match path.extension()?.to_str()? {
        "ts" => Some("video/mp2t"),
        "m4s" => Some("video/iso.segment"),
        _ => None,
    }
}

/// What `/metrics` reports about transcoding on this replica.
#[derive(Debug, Clone, Copy, Default)]
pub struct TranscoderMetrics {
    /// Jobs started fresh.
    pub jobs_started: u64,
    /// Jobs taken over from a dead or departed owner.
    pub takeovers: u64,
    /// Of those, jobs whose owner's liveness record had lapsed (taken before the lease ran out).
    pub liveness_takeovers: u64,
    /// Runs that failed.
    pub jobs_failed: u64,
    /// Segments served.
    pub segments_served: u64,
    /// Segment requests that waited for their segment.
    pub segment_waits: u64,
    /// Total seconds those requests waited.
    pub segment_wait_seconds: f64,
    /// The longest wait in seconds.
    pub segment_wait_max_seconds: f64,
    /// Jobs running here now.
    pub local_jobs: u64,
    /// Segments relayed from the job's owner to the end (node-local storage).
    pub segments_proxied: u64,
    /// Forwarded segment requests that failed (owner unreachable, exchange failed, body cut).
    pub proxy_failures: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_content_types() {
        let kind = |p: &str| segment_content_type(std::path::Path::new(p));
        assert_eq!(kind("/seg/7.ts"), Some("video/mp2t"));
        assert_eq!(kind("/seg/7.m4s"), Some("video/iso.segment"));
        assert_eq!(kind("/seg/init.mp4"), None);
        assert_eq!(kind("/seg/7"), None);
    }

    #[test]
    fn segment_ids_parse() {
        assert_eq!(SegmentId::parse("7.ts"), Some(SegmentId::Media(7)));
        assert_eq!(SegmentId::parse("12.mp4"), Some(SegmentId::Media(12)));
        assert_eq!(SegmentId::parse("-1.mp4"), Some(SegmentId::Init));
        assert_eq!(SegmentId::parse("3"), Some(SegmentId::Media(3)));
        for bad in [
            "-2.mp4",
            "x.ts",
            ".ts",
            "+1.ts",
            "",
            "99999999999.ts",
            "1.ts\\..\\..\\metrics",
            "1.ts.mp4",
            "1.exe",
        ] {
            assert_eq!(SegmentId::parse(bad), None, "{bad:?}");
        }
    }
}
