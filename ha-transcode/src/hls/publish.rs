//! Atomic, vetoable segment publish.
//!
//! Why a hook in the server process: the worker is a child process that knows nothing about
//! leases. A replica that lost its lease (paused, partitioned) may still have a worker writing
//! segments; if the worker renamed them into place itself, a stale owner could overwrite the
//! segments of the survivor that took the job over. So the worker only writes
//! `seg-000007.ts~<run>.tmp` (a name of its run alone: two runs never write one file) and
//! reports it; the supervisor asks a [`SegmentGate`] (the TranscodeManager checks its fencing
//! token there) and only then renames the file into place — `rename(2)` within one directory is atomic, so readers see either no segment or a whole
//! one. A vetoed segment is deleted and the run stops. An fMP4 segment may carry the run's init
//! segment ([`SegmentReport::init_temp_path`]); it shares the segment's decision and is renamed
//! first, so a reader that finds a segment also finds its init.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::naming::{final_name, segment_file_name};
use super::segment::SegmentReport;
use crate::worker::error::{Result, WorkerError};

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
/// use ha_transcode::hls::{PublishDecision, SegmentGate, SegmentReport};
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
/// [`WorkerError::Vetoed`] when the gate vetoes (the temp file is removed);
/// [`WorkerError::Io`] when the rename fails.
pub async fn publish_segment(
    gate: &dyn SegmentGate,
    output_dir: &Path,
    segment: &SegmentReport,
) -> Result<PathBuf> {
    match gate.approve(segment).await {
        PublishDecision::Publish => {
            if let Some(init) = &segment.init_temp_path {
                rename_into_place(init, output_dir, None).await?;
            }
            let dest =
                rename_into_place(&segment.temp_path, output_dir, Some(segment.index)).await?;
            gate.published(segment, &dest).await;
            Ok(dest)
        }
        PublishDecision::Veto(reason) => {
            // Best effort: a leftover temp file is harmless (never served, overwritten by the
            // next run), a failed delete must not hide the veto.
            if let Some(init) = &segment.init_temp_path {
                let _ = tokio::fs::remove_file(init).await;
            }
            let _ = tokio::fs::remove_file(&segment.temp_path).await;
            Err(WorkerError::Vetoed {
                index: segment.index,
                source: reason,
            })
        }
    }
}

/// Renames `temp` to its name without run tag and `.tmp` in `output_dir`. A temp name without the suffix
/// (an older worker) falls back to the MPEG-TS name of `index`.
async fn rename_into_place(temp: &Path, output_dir: &Path, index: Option<u32>) -> Result<PathBuf> {
    let name = temp
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(final_name)
        .map(str::to_owned)
        .or_else(|| index.map(segment_file_name))
        .ok_or_else(|| WorkerError::InvalidJob(format!("{} is not a temp name", temp.display())))?;
    let dest = output_dir.join(name);
    tokio::fs::rename(temp, &dest)
        .await
        .map_err(|source| WorkerError::Io {
            path: temp.to_path_buf(),
            source,
        })?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(bool);

    #[async_trait]
    impl SegmentGate for Fixed {
        async fn approve(&self, _segment: &SegmentReport) -> PublishDecision {
            if self.0 {
                PublishDecision::Publish
            } else {
                PublishDecision::Veto(ha_core::Error::LeaseLost { key: "job".into() })
            }
        }
    }

    fn fmp4_segment(dir: &Path) -> SegmentReport {
        std::fs::create_dir_all(dir).unwrap();
        let temp_path = dir.join("seg-000003.m4s.tmp");
        let init = dir.join("init.mp4.tmp");
        std::fs::write(&temp_path, b"moof").unwrap();
        std::fs::write(&init, b"moov").unwrap();
        SegmentReport {
            index: 3,
            temp_path,
            duration_secs: 2.0,
            first_pts: 0,
            frame_count: 50,
            init_temp_path: Some(init),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ha-publish-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn fmp4_segment_and_init_publish_together() {
        let dir = scratch("ok");
        let seg = fmp4_segment(&dir);
        let dest = publish_segment(&Fixed(true), &dir, &seg).await.unwrap();
        assert_eq!(dest, dir.join("seg-000003.m4s"));
        assert_eq!(std::fs::read(&dest).unwrap(), b"moof");
        assert_eq!(std::fs::read(dir.join("init.mp4")).unwrap(), b"moov");
        assert!(!seg.temp_path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_veto_deletes_segment_and_init() {
        let dir = scratch("veto");
        let seg = fmp4_segment(&dir);
        let err = publish_segment(&Fixed(false), &dir, &seg)
            .await
            .unwrap_err();
        assert!(
            matches!(err, WorkerError::Vetoed { index: 3, .. }),
            "{err:?}"
        );
        assert!(!seg.temp_path.exists());
        assert!(!dir.join("init.mp4.tmp").exists());
        assert!(!dir.join("init.mp4").exists());
        assert!(!dir.join("seg-000003.m4s").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
