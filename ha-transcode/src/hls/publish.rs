//! Atomic, vetoable segment publish.
//!
//! Why a hook in the server process: the worker is a child process that knows nothing about
//! leases. A replica that lost its lease (paused, partitioned) may still have a worker writing
//! segments; if the worker renamed them into place itself, a stale owner could overwrite the
//! segments of the survivor that took the job over. So the worker only writes
//! `seg-000007.ts.tmp` and reports it; the supervisor asks a [`SegmentGate`] (the
//! TranscodeManager checks its fencing token there) and only then renames the file into place
//! — `rename(2)` within one directory is atomic, so readers see either no segment or a whole
//! one. A vetoed segment is deleted and the run stops.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::naming::segment_file_name;
use super::segment::SegmentReport;
use crate::error::{Error, Result};

/// What a [`SegmentGate`] decides about a finished segment.
#[derive(Debug)]
pub enum PublishDecision {
    /// Rename it into place and carry on.
    Publish,
    /// Delete it and stop the run; the reason (e.g. `ha_core::Error::Fenced`) is kept as the
    /// job failure's source.
    Veto(ha_core::Error),
}

/// Decides whether a finished segment may be published. Called by the supervisor, in the
/// server process, once per segment, in segment order.
///
/// # Example
///
/// ```
/// use ha_transcode::hls::{PublishDecision, SegmentGate, segment::SegmentReport};
///
/// /// Publishes everything (a single-node server without leases).
/// #[derive(Debug)]
/// struct Always;
///
/// #[async_trait::async_trait]
/// impl SegmentGate for Always {
///     async fn approve(&self, _segment: &SegmentReport) -> PublishDecision {
///         PublishDecision::Publish
///     }
/// }
/// ```
#[async_trait]
pub trait SegmentGate: Send + Sync + std::fmt::Debug {
    /// Whether `segment` (still at its temp path) may be published. The TranscodeManager checks
    /// that it still holds the job's lease and fencing token here.
    async fn approve(&self, segment: &SegmentReport) -> PublishDecision;

    /// Called after `segment` was renamed into place at `path` (e.g. to record progress in the
    /// job store). The default does nothing.
    async fn published(&self, segment: &SegmentReport, path: &Path) {
        let _ = (segment, path);
    }
}

/// Asks `gate` about `segment` and renames it to its final name in `output_dir`, or deletes it
/// on veto. Returns the published path.
///
/// # Errors
/// [`Error::Vetoed`] when the gate vetoes (the temp file is removed);
/// [`Error::Io`] when the rename fails.
pub async fn publish_segment(
    gate: &dyn SegmentGate,
    output_dir: &Path,
    segment: &SegmentReport,
) -> Result<PathBuf> {
    match gate.approve(segment).await {
        PublishDecision::Publish => {
            let dest = output_dir.join(segment_file_name(segment.index));
            tokio::fs::rename(&segment.temp_path, &dest)
                .await
                .map_err(|source| Error::Io {
                    path: segment.temp_path.clone(),
                    source,
                })?;
            gate.published(segment, &dest).await;
            Ok(dest)
        }
        PublishDecision::Veto(reason) => {
            // Best effort: a leftover temp file is harmless (never served, overwritten by the
            // next run), a failed delete must not hide the veto.
            let _ = tokio::fs::remove_file(&segment.temp_path).await;
            Err(Error::Vetoed {
                index: segment.index,
                source: reason,
            })
        }
    }
}
