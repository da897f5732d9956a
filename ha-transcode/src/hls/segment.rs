//! What the worker says about a segment it has finished writing.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A segment the worker has written to its temp name, not yet published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentReport {
    /// The segment index (segment `i` covers `[i·T, (i+1)·T)` of the source).
    pub index: u32,
    /// Where the worker wrote it (`seg-000007.ts~<run>.tmp` or `seg-000007.m4s~<run>.tmp` in
    /// the output directory, see [`JobSpec::run_tag`](crate::spec::JobSpec::run_tag)); the
    /// published name is this name without the run tag and `.tmp`.
    pub temp_path: PathBuf,
    /// Duration of its video in seconds (frame count × frame duration, as muxed).
    pub duration_secs: f64,
    /// PTS of its first video frame in presentation order, 90 kHz, including
    /// [`TS_OFFSET_90K`](super::TS_OFFSET_90K).
    pub first_pts: i64,
    /// Number of video frames in it.
    pub frame_count: u32,
    /// fMP4 only: the init segment (`init.mp4.tmp`) the worker wrote with this segment, to be
    /// published (or vetoed) together with it. The worker writes it with the first segment of
    /// each run; it is byte-identical whichever run or replica wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_temp_path: Option<PathBuf>,
}
