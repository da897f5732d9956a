//! What the worker writes to stdout: one JSON object per line.
//!
//! Why JSON lines on stdout: the supervisor reads them with a plain line reader, a crash
//! mid-line shows up as EOF, and FFmpeg's own logging goes to stderr without interleaving.

use serde::{Deserialize, Serialize};

use crate::hls::SegmentReport;
use crate::spec::HardwarePreference;

/// One report from the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WorkerEvent {
    /// The pipeline is open and about to produce segments.
    Started {
        /// Output frame size.
        width: u32,
        /// Output frame height.
        height: u32,
        /// The encoder family actually used.
        hardware: HardwarePreference,
        /// Total segments of the source.
        segment_count: u32,
    },
    /// QSV was asked for but could not be used; the job continues in software.
    Fallback {
        /// Why.
        reason: String,
    },
    /// A segment was written to its temp path.
    Segment(SegmentReport),
    /// The run finished: every segment up to the end was reported.
    Done {
        /// Segments written by this run.
        segments: u32,
    },
    /// The run failed; the worker exits non-zero after this line.
    Error {
        /// The error with its source chain.
        message: String,
    },
}

impl WorkerEvent {
    /// The event as one line of JSON (no trailing newline).
    pub fn to_line(&self) -> String {
        // Serialising these plain structs cannot fail; fall back to an error event anyway.
        serde_json::to_string(self)
            .unwrap_or_else(|e| format!(r#"{{"event":"error","message":"{e}"}}"#))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_line_round_trips() {
        let ev = WorkerEvent::Segment(SegmentReport {
            index: 7,
            temp_path: "/out/seg-000007.ts.tmp".into(),
            duration_secs: 4.0,
            first_pts: 126_000 + 7 * 360_000,
            frame_count: 100,
            init_temp_path: None,
        });
        let line = ev.to_line();
        assert!(
            line.starts_with(r#"{"event":"segment","index":7,"#),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<WorkerEvent>(&line).unwrap(), ev);
    }
}
