//! The HLS routes on `ha-transcode`'s `TranscodeManager` (feature `transcode`).
//!
//! Why the rendition is rebuilt from the query on every request: any replica may receive any
//! segment request (no sticky sessions), so the request itself must say which rendition it is
//! for. Jellyfin clients repeat the transcoding parameters (`VideoBitrate`, `MaxHeight`,
//! `AudioBitrate`, `AudioStreamIndex`, …) on every playlist and segment URL, and the same
//! parameters give the same job key on every replica, which is what lets viewers share a job and
//! survivors take it over.
//!
//! `SegmentContainer=mp4` (what Jellyfin puts in the TranscodingUrl for a TranscodingProfile
//! with `Container: "mp4"`, `Protocol: "hls"`) selects fMP4 segments: a different job key, a
//! version-7 playlist whose `#EXT-X-MAP` points at Jellyfin's `hls1/main/-1.mp4`, and
//! `hls1/main/7.mp4` served from `seg-000007.m4s`. The init segment is the same for every run,
//! so any replica's copy will do; if none exists yet it starts the job at the viewer's
//! `StartTimeTicks`.
//!
//! With `--transcode-storage node-local` each replica writes segments to its own directory;
//! a segment this replica does not have is fetched from the job's owner (`proxy.rs`), at the
//! address the owner advertised in the job record.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use media_ha::transcode::hls::{master_playlist, media_playlist_with_init, Variant};
use media_ha::transcode::manager::{
    JobKey, KeyedRendition, ManagerConfig, ManagerStores, NodeLocalDirStorage, Rendition,
    SegmentError, SegmentLocation, SegmentStorage, SharedDirStorage, TranscodeManager, Viewer,
    WorkerRunner,
};
use media_ha::transcode::probe::MediaProbe;
use media_ha::transcode::spec::{
    AudioSettings, HardwarePreference, RateControl, SegmentContainer, VideoCodec, VideoSettings,
};
use media_ha::transcode::worker::{Supervisor, SupervisorConfig, WorkerCommand};

use crate::config::TranscodeStorage;
use crate::device_jobs::{DeviceJobLimits, DeviceJobs, StopScope};
use crate::error::ApiError;
use crate::peer_auth::PeerAuth;
use crate::proxy::{Forwarded, OwnerProxy, SegmentTarget, FORWARDED_HEADER};
use crate::stores::Stores;
use crate::transcoder::{serve_file, HlsRequest, SegmentId, Transcoder, TranscoderMetrics};
use crate::{Config, StartError};

/// Segment length: 3 s keeps a failover stall and a seek short without too many requests.
pub const SEGMENT_MS: u32 = 3_000;

/// The [`Transcoder`] of the reference server.
#[derive(Debug)]
pub struct ManagerTranscoder {
    manager: TranscodeManager,
    hardware: HardwarePreference,
    /// Fetches segments from their owner (node-local storage).
    proxy: OwnerProxy,
    /// Checks requests other replicas forwarded here (node-local storage).
    peers: Option<PeerAuth>,
    /// Job keys each (user, device) fetched (for `DELETE /Videos/ActiveEncodings`), bounded.
    devices: Mutex<DeviceJobs>,
}

impl ManagerTranscoder {
    /// Builds the manager from the server's configuration and stores, and starts it (event
    /// subscription, periodic cleanup). `advertise` is where other replicas reach this one;
    /// `worker` says how to start a worker process.
    ///
    /// # Errors
    /// The event bus's error when subscribing fails; the HTTP client's when it cannot be built.
    pub async fn start(
        config: &Config,
        stores: &Stores,
        advertise: &str,
        worker: WorkerCommand,
    ) -> Result<Self, StartError> {
        // Replicas sign what they forward (peer_auth.rs). Node-local storage forwards, so it
        // needs the shared secret; shared storage never forwards (a random key then, which
        // verifies nothing any other replica sends).
        let peers = match (&config.cluster_secret, config.transcode_storage) {
            (Some(secret), _) => PeerAuth::new(&secret.0, &config.node_id, advertise)?,
            (None, TranscodeStorage::NodeLocal) => {
                return Err("--transcode-storage node-local needs --cluster-secret \
                    (MEDIA_HA_CLUSTER_SECRET), the same on every replica: replicas sign the \
                    segment requests they forward to one another"
                    .into())
            }
            (None, TranscodeStorage::Shared) => PeerAuth::new(
                &media_ha::core::auth::generate_token(),
                &config.node_id,
                advertise,
            )?,
        };
        let defaults = ManagerConfig::new(config.node_id.clone());
        // A viewer held for its turn must get its answer inside the segment wait too.
        let seek_hold = defaults.seek_hold().min(config.segment_wait.mul_f64(0.8));
        let manager_config = defaults
            .with_segment_wait(config.segment_wait)
            .with_seek_hold(seek_hold)
            .with_lease_ttl(config.lease_ttl)
            .with_liveness_ttl((!config.liveness_ttl.is_zero()).then_some(config.liveness_ttl))
            .with_advertise(advertise)
            .with_qsv_slots(config.qsv_slots)
            .with_max_jobs_per_user(
                (config.max_transcodes_per_user > 0).then_some(config.max_transcodes_per_user),
            );
        let storage: Arc<dyn SegmentStorage> = match config.transcode_storage {
            TranscodeStorage::Shared => Arc::new(SharedDirStorage::new(&config.transcode_dir)),
            TranscodeStorage::NodeLocal => {
                if config.advertise.is_none() && config.listen.ip().is_unspecified() {
                    tracing::warn!(%advertise, "node-local transcode storage without --advertise: \
                        other replicas cannot reach this one at a wildcard address");
                }
                Arc::new(NodeLocalDirStorage::new(&config.transcode_dir))
            }
        };
        let runner = WorkerRunner::new(Supervisor::new(SupervisorConfig::new(worker)));
        let manager = TranscodeManager::new(
            manager_config,
            ManagerStores {
                leases: stores.leases.clone(),
                jobs: stores.jobs.clone(),
                slots: stores.slots.clone(),
                events: stores.events.clone(),
            },
            storage,
            Arc::new(runner),
            media_ha::core::SystemClock::shared(),
        )?;
        manager.start(stores.events.clone()).await?;
        // Leftovers of jobs nobody references any more (never the whole directory).
        if let Err(e) = manager.cleanup().await {
            tracing::warn!(error = %e, "start-up segment cleanup failed");
        }
        // Probed once per node at start-up; a job asked for QSV still falls back to software
        // by itself if the device fails at run time.
        let qsv = media_ha::transcode::worker::probe_qsv(&config.render_node);
        let hardware = if config.qsv_slots > 0 && qsv.is_available() {
            HardwarePreference::Qsv
        } else {
            if config.qsv_slots > 0 {
                tracing::info!(status = ?qsv, "Intel QSV unavailable on this node: software transcoding");
            }
            HardwarePreference::Software
        };
        // A forwarded request may wait for its segment as long as any request may take.
        let proxy = OwnerProxy::new(peers.clone(), config.request_timeout)?;
        let peers = (config.transcode_storage == TranscodeStorage::NodeLocal).then_some(peers);
        Ok(Self {
            manager,
            hardware,
            proxy,
            peers,
            devices: Mutex::new(DeviceJobs::new(DeviceJobLimits::default())),
        })
    }

    /// The request's rendition with its job key, hashed here once for the whole request.
    fn rendition(&self, req: &HlsRequest) -> Result<KeyedRendition, ApiError> {
        rendition_for(req, self.hardware).map(KeyedRendition::new)
    }

    /// Records that the caller's device fetched from `r`'s job (after the job answered, so
    /// a request that fails remembers nothing).
    fn remember(&self, req: &HlsRequest, r: &KeyedRendition) {
        let now = tokio::time::Instant::now();
        media_ha::core::sync::lock(&self.devices).remember(
            &req.user_id,
            &req.device_id,
            r.key().as_ref(),
            now,
        );
    }
}

fn param<T: std::str::FromStr>(req: &HlsRequest, names: &[&str]) -> Option<T> {
    names
        .iter()
        .find_map(|n| req.params.get(*n).and_then(|v| v.trim().parse().ok()))
}

/// The rendition a request asks for. Out-of-range numbers are clamped, not trusted.
pub fn rendition_for(
    req: &HlsRequest,
    hardware: HardwarePreference,
) -> Result<Rendition, ApiError> {
    let probe: MediaProbe = req
        .item
        .probe_json
        .as_deref()
        .and_then(|json| serde_json::from_str(json).ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "item {} has not been probed yet; refresh the library",
                    req.item.id
                ),
            )
        })?;
    let duration_ms = probe
        .duration_secs
        .filter(|d| d.is_finite() && *d > 0.0 && *d < 1.0e7)
        .map(|d| (d * 1000.0).round() as u64)
        .ok_or_else(|| ApiError::bad_request("the item has no known duration"))?;
    // Segments are cut on video frames: a container a few milliseconds longer than its video
    // (an audio tail) would list a last segment no frame falls into. Leave such a sliver out.
    let sliver = duration_ms % u64::from(SEGMENT_MS);
    let duration_ms = if sliver > 0 && sliver < 100 && duration_ms > u64::from(SEGMENT_MS) {
        duration_ms - sliver
    } else {
        duration_ms
    };
    let source_height = probe
        .video()
        .and_then(|v| v.video.as_ref())
        .map(|v| v.height)
        .ok_or_else(|| ApiError::bad_request("the item has no video stream"))?;
    let max_height: Option<u32> = param(req, &["maxheight", "height"]);
    let target_height = max_height
        .map(|h| h.clamp(144, 4320))
        .filter(|h| *h < source_height)
        .or(Some(source_height));
    let rate = match param::<u64>(req, &["videobitrate", "maxstreamingbitrate"]) {
        Some(b) => {
            let b = b.clamp(200_000, 120_000_000);
            RateControl::Bitrate {
                bitrate: b,
                maxrate: b,
                bufsize: b * 2,
            }
        }
        None => RateControl::Crf {
            crf: 23,
            maxrate: None,
            bufsize: None,
        },
    };
    let audio = probe.audio(None).map(|_| AudioSettings {
        bitrate: param::<u64>(req, &["audiobitrate"]).map_or(128_000, |b| b.clamp(32_000, 320_000)),
        channels: param::<u16>(req, &["maxaudiochannels", "audiochannels"])
            .map_or(2, |c| c.clamp(1, 2)),
        sample_rate: 48_000,
    });
    Ok(Rendition {
        item_id: req.item.id.clone(),
        source: PathBuf::from(&req.item.path),
        duration_ms,
        segment_ms: SEGMENT_MS,
        video: VideoSettings {
            codec: VideoCodec::H264,
            target_height,
            rate,
            preset: "veryfast".into(),
            profile: Some("high".into()),
            level: None,
            low_power: false,
        },
        audio,
        audio_stream: param(req, &["audiostreamindex"]),
        subtitle_stream: None,
        hardware,
        container: container_for(req),
    })
}

/// Jellyfin's `SegmentContainer=mp4` (what a TranscodingProfile with `Container: "mp4"` and
/// `Protocol: "hls"` becomes) asks for fMP4 segments; anything else is MPEG-TS.
fn container_for(req: &HlsRequest) -> SegmentContainer {
    match req.params.get("segmentcontainer").map(|c| c.trim()) {
        Some(c)
            if ["mp4", "fmp4", "m4s"]
                .iter()
                .any(|m| c.eq_ignore_ascii_case(m)) =>
        {
            SegmentContainer::Fmp4
        }
        _ => SegmentContainer::MpegTs,
    }
}

/// The segment the viewer starts at (`StartTimeTicks`, 100 ns units), where an fMP4 init
/// request starts the job when no run has published the init yet.
fn start_segment(req: &HlsRequest, r: &Rendition) -> u32 {
    let ticks: u64 = param(req, &["starttimeticks"]).unwrap_or(0);
    let index = ticks / 10_000 / u64::from(r.segment_ms.max(1));
    u32::try_from(index)
        .unwrap_or(u32::MAX)
        .min(r.segment_count().saturating_sub(1))
}

fn viewer(req: &HlsRequest) -> Viewer {
    Viewer {
        user_id: req.user_id.clone(),
        play_session_id: req.play_session_id.clone(),
    }
}

/// The request's parameters as a query string, so playlist URIs carry them to every replica.
fn query_string(req: &HlsRequest) -> String {
    let mut pairs: Vec<_> = req.params.iter().collect();
    pairs.sort();
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `Retry-After` of a segment request that timed out: hls.js retries a 503 after 1 s whatever
/// the header says, ExoPlayer at once; 1 s tells any other client the same.
pub const SEGMENT_RETRY_AFTER_SECS: u64 = 1;

/// The status a client expects for each way a segment request can fail (every variant named:
/// a new one must be given its status here, not fall into a 500).
fn api_error(err: SegmentError) -> ApiError {
    match err {
        // Past the end, or an init segment of a rendition that has none (MPEG-TS).
        SegmentError::OutOfRange { .. } | SegmentError::NoInitSegment => {
            ApiError::not_found(err.to_string())
        }
        SegmentError::CapacityExhausted { .. } => {
            ApiError::new(StatusCode::TOO_MANY_REQUESTS, err.to_string())
        }
        SegmentError::Poisoned { .. } => ApiError::new(StatusCode::CONFLICT, err.to_string()),
        // Not ready within the segment wait (kept below players' patience): ask for a prompt
        // retry. The segment is being made; the next request usually finds it.
        SegmentError::Timeout { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
                .with_retry_after(SEGMENT_RETRY_AFTER_SECS)
        }
        SegmentError::ShuttingDown => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
        }
        // Sent to a replica that no longer owns the job: the sender locates it again.
        SegmentError::NotOwner { .. } => {
            ApiError::new(StatusCode::MISDIRECTED_REQUEST, err.to_string())
        }
        SegmentError::OwnerUnaddressable { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err.to_string())
        }
        SegmentError::Store(core) => core.into(),
        // This node's own storage lost a file or cannot be read: the server's fault.
        SegmentError::InitMissing { .. } | SegmentError::Storage(_) => {
            tracing::error!(error = %crate::error::chain(&err), "segment storage failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "segment storage failed")
        }
    }
}

#[async_trait]
impl Transcoder for ManagerTranscoder {
    async fn master_playlist(&self, req: &HlsRequest) -> Result<String, ApiError> {
        let r = self.rendition(req)?;
        let height = r.video.target_height.unwrap_or(720);
        let bandwidth = match r.video.rate {
            RateControl::Bitrate { maxrate, .. } => maxrate,
            // CRF: a generous estimate for the player's bandwidth choice.
            RateControl::Crf { .. } => u64::from(height) * 8_000,
        } + r.audio.map_or(0, |a| a.bitrate);
        Ok(master_playlist(&[Variant {
            bandwidth,
            average_bandwidth: None,
            resolution: None,
            codecs: Some(
                if r.audio.is_some() {
                    "avc1.640028,mp4a.40.2"
                } else {
                    "avc1.640028"
                }
                .into(),
            ),
            frame_rate: None,
            uri: format!("main.m3u8?{}", query_string(req)),
        }]))
    }

    async fn media_playlist(&self, req: &HlsRequest) -> Result<String, ApiError> {
        let r = self.rendition(req)?;
        let query = query_string(req);
        // Jellyfin's names: `-1.mp4` is the init segment, `7.mp4` / `7.ts` segment 7.
        let (ext, init) = match r.container {
            SegmentContainer::MpegTs => ("ts", None),
            SegmentContainer::Fmp4 => ("mp4", Some(format!("hls1/main/-1.mp4?{query}"))),
        };
        Ok(media_playlist_with_init(
            &r.timeline(),
            init.as_deref(),
            |i| format!("hls1/main/{i}.{ext}?{query}"),
        ))
    }

    async fn segment(&self, req: &HlsRequest, id: SegmentId) -> Result<PathBuf, ApiError> {
        let r = self.rendition(req)?;
        let viewer = viewer(req);
        let path = match id {
            SegmentId::Media(index) => self.manager.segment(&r, index, &viewer).await,
            SegmentId::Init => {
                // The manager answers NoInitSegment (404) for an MPEG-TS rendition.
                let near = start_segment(req, &r);
                self.manager.init_segment(&r, near, &viewer).await
            }
        }
        .map_err(api_error)?;
        self.remember(req, &r);
        Ok(path)
    }

    async fn segment_response(
        &self,
        req: &HlsRequest,
        id: SegmentId,
        request: axum::extract::Request,
    ) -> Result<axum::response::Response, ApiError> {
        if request.headers().contains_key(FORWARDED_HEADER) {
            // Another replica sent it here as the owner (the route checked its signature):
            // serve it from here, or say 421.
            let path = self.segment(req, id).await?;
            return Ok(serve_file(path, request).await);
        }
        let r = self.rendition(req)?;
        let viewer = viewer(req);
        // What the owner is asked for: rebuilt from the parsed request, never its raw path.
        let mut params = req.params.clone();
        params.insert("deviceid".into(), req.device_id.clone());
        let target = SegmentTarget {
            item_id: r.item_id.clone(),
            segment: id,
            ext: match r.container {
                SegmentContainer::MpegTs => "ts",
                SegmentContainer::Fmp4 => "mp4",
            },
            params,
        };
        let near = start_segment(req, &r);
        // Ownership may move while a request is on its way: locate again, a few times.
        for _ in 0..3 {
            let location = match id {
                SegmentId::Media(index) => self.manager.locate(&r, index, &viewer).await,
                SegmentId::Init => self.manager.locate_init(&r, near, &viewer).await,
            }
            .map_err(api_error)?;
            let (node, address) = match location {
                SegmentLocation::Local(path) => {
                    self.remember(req, &r);
                    return Ok(serve_file(path, request).await);
                }
                SegmentLocation::Owner { node, address } => (node, address),
            };
            match self
                .proxy
                .forward(&address, &target, &req.user_id, request.headers())
                .await
            {
                Forwarded::Response(response) => {
                    self.remember(req, &r);
                    return Ok(response);
                }
                Forwarded::Unaddressable(e) => {
                    tracing::warn!(%node, %address, error = %e, "transcode owner's address refused; nothing sent");
                    self.manager.owner_unreachable(&node);
                }
                Forwarded::NotOwner => tracing::debug!(%node, "owner moved; locating again"),
                Forwarded::Unreachable(e) => {
                    tracing::warn!(%node, %address, error = %e, "transcode owner unreachable");
                    self.manager.owner_unreachable(&node);
                }
                Forwarded::Failed(e) => {
                    tracing::warn!(%node, %address, error = %e, "forwarding a segment failed");
                    return Err(ApiError::new(
                        StatusCode::BAD_GATEWAY,
                        "the replica transcoding this stream did not answer in time",
                    ));
                }
            }
        }
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the transcode job kept moving between replicas; try again",
        ))
    }

    async fn stop(
        &self,
        scope: StopScope<'_>,
        device_id: &str,
        _play_session_id: Option<&str>,
    ) -> Result<(), ApiError> {
        // Only the caller's own device (any user's for an administrator); a job another
        // remembered device still watches keeps running (jobs are shared).
        let keys = media_ha::core::sync::lock(&self.devices).take(scope, device_id);
        // The map keeps keys as text; every one was a `JobKey` when remembered.
        for key in keys.iter().filter_map(|k| JobKey::parse(k)) {
            self.manager.stop_local(&key);
        }
        Ok(())
    }

    fn vouch(&self, headers: &axum::http::HeaderMap, target: &str) -> Result<String, ApiError> {
        let peers = self
            .peers
            .as_ref()
            .ok_or_else(|| ApiError::unauthorized("this replica accepts no forwarded requests"))?;
        match peers.verify(headers, target) {
            Ok(vouched) => Ok(vouched.user_id),
            Err(e) => {
                tracing::warn!(error = %e, "refused a forwarded request");
                Err(ApiError::unauthorized(e.to_string()))
            }
        }
    }

    fn drain(&self) {
        self.manager.hand_over();
    }

    async fn shutdown(&self, within: Duration) {
        self.manager.shutdown(within).await;
    }

    fn metrics(&self) -> Option<TranscoderMetrics> {
        let s = self.manager.stats();
        Some(TranscoderMetrics {
            jobs_started: s.jobs_started,
            takeovers: s.takeovers,
            liveness_takeovers: s.liveness_takeovers,
            jobs_failed: s.jobs_failed,
            segments_served: s.segments_served,
            segment_waits: s.waits,
            segment_wait_seconds: s.wait_total.as_secs_f64(),
            segment_wait_max_seconds: s.wait_max.as_secs_f64(),
            local_jobs: s.local_jobs,
            segments_proxied: self.proxy.stats().relayed(),
            proxy_failures: self.proxy.stats().failed(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use std::time::Duration;

    fn key() -> JobKey {
        JobKey::parse(&"a".repeat(32)).expect("32 hex digits")
    }

    /// Every way a segment request fails has its own status; none falls into a catch-all 500
    /// (only this node's own storage failing is the server's fault).
    #[test]
    fn every_segment_error_has_the_status_a_client_expects() {
        let cases = [
            (SegmentError::OutOfRange { index: 9, count: 3 }, 404),
            (SegmentError::NoInitSegment, 404),
            (
                SegmentError::Poisoned {
                    key: key(),
                    attempts: 3,
                },
                409,
            ),
            (
                SegmentError::CapacityExhausted {
                    what: "user u already runs 3 transcodes".into(),
                },
                429,
            ),
            (SegmentError::ShuttingDown, 503),
            (
                SegmentError::Timeout {
                    index: 4,
                    after: Duration::from_secs(30),
                },
                503,
            ),
            (
                SegmentError::NotOwner {
                    key: key(),
                    owner: "b".into(),
                },
                421,
            ),
            (
                SegmentError::OwnerUnaddressable {
                    key: key(),
                    owner: "b".into(),
                },
                503,
            ),
            (
                SegmentError::Store(media_ha::core::Error::Unavailable {
                    what: "redis".into(),
                    source: None,
                }),
                503,
            ),
            (
                SegmentError::Store(media_ha::core::Error::NotFound("job".into())),
                404,
            ),
            (
                SegmentError::InitMissing {
                    path: "/t/k/init.mp4".into(),
                },
                500,
            ),
            (
                SegmentError::Storage(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
                500,
            ),
        ];
        for (err, status) in cases {
            let text = err.to_string();
            assert_eq!(api_error(err).status.as_u16(), status, "{text}");
        }
    }

    /// A segment that is not ready within the wait gets a 503 players retry after 1 s; other
    /// 503s keep the store outage's longer hint.
    #[test]
    fn a_segment_timeout_asks_for_a_prompt_retry() {
        let timeout = api_error(SegmentError::Timeout {
            index: 4,
            after: Duration::from_secs(6),
        })
        .into_response();
        assert_eq!(timeout.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(timeout.headers()[axum::http::header::RETRY_AFTER], "1");
        let shutting_down = api_error(SegmentError::ShuttingDown).into_response();
        assert_eq!(
            shutting_down.headers()[axum::http::header::RETRY_AFTER],
            crate::error::RETRY_AFTER_SECS.to_string().as_str()
        );
    }

    #[test]
    fn storage_failures_do_not_tell_the_client_paths() {
        let err = api_error(SegmentError::InitMissing {
            path: "/srv/transcodes/k/init.mp4".into(),
        });
        assert!(!err.message.contains("/srv"), "{}", err.message);
    }
}
