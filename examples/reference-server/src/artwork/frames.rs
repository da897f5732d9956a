//! Still frames taken from videos that have no poster: extracted once per cluster, kept where
//! every replica can serve them.
//!
//! Why a lease: the first visitor of a library page asks for dozens of posters at once, and a
//! load balancer spreads those requests over every replica. Without coordination each replica
//! would decode each film — N times the CPU for the same JPEG. The replica that takes the
//! lease `artwork:<tag>` decodes; the others wait for the file to appear (or the lease to go,
//! then try themselves). The tag names the picture's content (the video's path and size), so
//! the output for one tag is always the same bytes: a late or stale writer can only replace a
//! frame by an identical one, and an atomic rename means nobody reads half a file. That is why
//! no fencing token is needed here, unlike transcode segments.
//!
//! Why the transcode directory: it is already the volume every replica mounts (`--transcode-dir`,
//! shared storage, the default), frames are regenerable derived data a few tens of kB each,
//! and the database is the wrong place for files the HTTP layer streams. With
//! `--transcode-storage node-local` each replica has its own directory, so a frame is
//! extracted at most once per replica (still never concurrently, thanks to the lease).
//!
//! Decoding runs on tokio's blocking pool with a deadline (`ha_transcode::thumbnail`), never on
//! the runtime's threads. A video no frame can be taken from leaves a `<tag>.failed` marker so
//! clients asking again do not decode it again; a changed file has a new tag and a new chance.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use media_ha::core::LeaseManager;

use super::stats::ArtworkStats;
use crate::error::{chain, ApiError, ApiResult};

/// How long the lease on one extraction lasts (longer than the decode deadline plus encoding).
const LEASE_TTL: Duration = Duration::from_secs(30);
/// How long a request waits for another replica's extraction before answering 503.
const WAIT_LIMIT: Duration = Duration::from_secs(30);
/// How often a waiting request looks for the finished file.
const POLL: Duration = Duration::from_millis(50);
/// How often a waiting request retries the lease (the holder may have died).
const LEASE_RETRY: Duration = Duration::from_millis(500);
/// JPEG quality of stored frames (resized copies take the request's quality).
const FRAME_QUALITY: u8 = 90;

/// Where frames live and how they are made.
#[derive(Debug, Clone)]
pub struct FrameStore {
    dir: PathBuf,
    leases: Arc<dyn LeaseManager>,
    holder: String,
    stats: Arc<ArtworkStats>,
}

impl FrameStore {
    /// Frames under `dir`, extraction leases in `leases` held as `holder` (the node id).
    pub fn new(
        dir: PathBuf,
        leases: Arc<dyn LeaseManager>,
        holder: &str,
        stats: Arc<ArtworkStats>,
    ) -> Self {
        Self {
            dir,
            leases,
            holder: holder.to_owned(),
            stats,
        }
    }

    /// The file holding the frame tagged `tag` of the video at `media`, extracting it first
    /// (or waiting for the replica that does).
    ///
    /// # Errors
    /// 404 when no frame can be taken from the video, 503 when the lease store is unavailable
    /// or another replica's extraction does not finish in time.
    pub async fn frame(&self, media: &str, tag: &str) -> ApiResult<PathBuf> {
        if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ApiError::not_found("no such image"));
        }
        let out = self.dir.join(format!("{tag}.jpg"));
        let failed = self.dir.join(format!("{tag}.failed"));
        let key = format!("artwork:{tag}");
        let started = Instant::now();
        let mut next_try = started;
        loop {
            if exists(&out).await {
                return Ok(out);
            }
            if exists(&failed).await {
                return Err(no_frame());
            }
            if Instant::now() >= next_try {
                if let Some(lease) = self
                    .leases
                    .try_acquire(&key, &self.holder, LEASE_TTL)
                    .await?
                {
                    let result = self.extract(media, &out, &failed).await;
                    if let Err(err) = self.leases.release(&lease).await {
                        tracing::debug!(error = %chain(&err), "artwork lease release failed; it expires");
                    }
                    return result;
                }
                next_try = Instant::now() + LEASE_RETRY;
            }
            if started.elapsed() >= WAIT_LIMIT {
                return Err(ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "the picture is still being made; try again",
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Holding the lease: makes the frame unless another replica finished it meanwhile.
    async fn extract(&self, media: &str, out: &Path, failed: &Path) -> ApiResult<PathBuf> {
        if exists(out).await {
            return Ok(out.to_path_buf());
        }
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| io_error("create the artwork directory", &e))?;
        let started = Instant::now();
        match make_jpeg(media).await {
            Ok(jpeg) => {
                write_atomically(out, &jpeg, &self.holder)
                    .await
                    .map_err(|e| io_error("store the frame", &e))?;
                self.stats.extractions.fetch_add(1, Ordering::Relaxed);
                metrics::histogram!(crate::routes::metrics::ARTWORK_EXTRACTION_SECONDS)
                    .record(started.elapsed());
                tracing::info!(media, elapsed = ?started.elapsed(), "artwork: frame extracted");
                Ok(out.to_path_buf())
            }
            Err(Failure::Transient(reason)) => {
                tracing::warn!(media, %reason, "artwork: frame extraction failed; will retry later");
                Err(ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "the picture could not be made now; try again",
                ))
            }
            Err(Failure::Permanent(reason)) => {
                self.stats
                    .extraction_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(media, %reason, "artwork: no frame can be taken from this video");
                if let Err(e) = write_atomically(failed, reason.as_bytes(), &self.holder).await {
                    tracing::warn!(error = %e, "artwork: cannot record the failure");
                }
                Err(no_frame())
            }
        }
    }
}

enum Failure {
    Transient(String),
    Permanent(String),
}

#[cfg(feature = "transcode")]
async fn make_jpeg(media: &str) -> Result<Vec<u8>, Failure> {
    use media_ha::transcode::thumbnail::{extract_frame, ThumbnailOptions};
    use media_ha::transcode::Error;
    let frame = extract_frame(media, ThumbnailOptions::default())
        .await
        .map_err(|e| match e {
            Error::FrameTimeout { .. } | Error::Join { .. } => Failure::Transient(chain(&e)),
            other => Failure::Permanent(chain(&other)),
        })?;
    tokio::task::spawn_blocking(move || {
        super::render::jpeg_from_rgb(frame.width, frame.height, frame.rgb, FRAME_QUALITY)
    })
    .await
    .map_err(|e| Failure::Transient(e.to_string()))?
    .map_err(|e| Failure::Permanent(e.to_string()))
}

/// Without FFmpeg no frame can be taken (the scan then lists no frame artwork either).
#[cfg(not(feature = "transcode"))]
async fn make_jpeg(_media: &str) -> Result<Vec<u8>, Failure> {
    let _ = FRAME_QUALITY;
    Err(Failure::Transient(
        "this build has no FFmpeg (feature `transcode`)".into(),
    ))
}

fn no_frame() -> ApiError {
    ApiError::not_found("no picture can be taken from this video")
}

fn io_error(what: &str, err: &std::io::Error) -> ApiError {
    tracing::error!(error = %err, "artwork: cannot {what}");
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal error",
    )
}

async fn exists(path: &Path) -> bool {
    tokio::fs::try_exists(path).await.unwrap_or(false)
}

/// Writes `bytes` to a unique temporary name beside `path`, then renames it into place.
pub async fn write_atomically(path: &Path, bytes: &[u8], holder: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!(
        "tmp-{}-{}",
        sanitize(holder),
        media_ha::core::ids::new_id()
    ));
    tokio::fs::write(&tmp, bytes).await?;
    match tokio::fs::rename(&tmp, path).await {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            Err(e)
        }
    }
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
