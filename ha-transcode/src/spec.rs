//! The job a worker runs, as JSON on its stdin.
//!
//! Everything the worker needs is in the spec, so a worker is a pure function of it (plus the
//! source file): the same spec on another replica produces the same segments.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One transcode run: a source, an output directory and the first segment to produce.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    /// The source file.
    pub input: PathBuf,
    /// Where segments go (`seg-000007.ts~<run_tag>.tmp`, renamed to `seg-000007.ts` on
    /// publish).
    pub output_dir: PathBuf,
    /// The first segment this run produces (0 for a fresh job, k to resume at k).
    #[serde(default)]
    pub start_segment: u32,
    /// Stop after this segment (inclusive); `None` runs to the end of the source.
    #[serde(default)]
    pub end_segment: Option<u32>,
    /// Segment length T in milliseconds.
    pub segment_ms: u32,
    /// Video output settings.
    pub video: VideoSettings,
    /// Audio output settings; `None` drops audio.
    #[serde(default)]
    pub audio: Option<AudioSettings>,
    /// Software or Intel QSV. QSV falls back to software when unavailable or failing.
    #[serde(default)]
    pub hardware: HardwarePreference,
    /// The segment container; specs written before fMP4 existed mean MPEG-TS.
    #[serde(default)]
    pub container: SegmentContainer,
    /// A tag unique to this run, put into its temp file names (`seg-000007.ts~<tag>.tmp`) so
    /// that two runs writing into one directory (a takeover on shared storage while the old
    /// owner still runs) never write the same file. 1–64 of `[A-Za-z0-9_-]`
    /// ([`crate::hls::is_valid_run_tag`]); the TranscodeManager uses the job's fencing
    /// token and a run counter. `None` (specs from before the tag) writes `seg-000007.ts.tmp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_tag: Option<String>,
}

/// The container of the HLS segments a job writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SegmentContainer {
    /// Self-contained MPEG-TS segments (`seg-000007.ts`).
    #[default]
    MpegTs,
    /// Fragmented MP4 (CMAF): one `init.mp4` (ftyp+moov) plus `seg-000007.m4s` (moof+mdat).
    Fmp4,
}

impl SegmentContainer {
    /// The file extension of a media segment (`ts` or `m4s`).
    pub fn segment_extension(self) -> &'static str {
        match self {
            SegmentContainer::MpegTs => "ts",
            SegmentContainer::Fmp4 => "m4s",
        }
    }
}

/// The output video codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    /// H.264 (libx264 in software, `h264_qsv` in hardware).
    #[default]
    H264,
    /// HEVC (`hevc_qsv` in hardware; software falls back to H.264 — libx265 is too slow for
    /// live transcoding on the CPUs this targets).
    Hevc,
}

/// Rate control.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum RateControl {
    /// Constant quality, optionally capped (`crf`, `maxrate`, `bufsize`).
    Crf {
        /// The CRF (x264: 0–51, 23 default).
        crf: u8,
        /// VBV cap in bits/s.
        #[serde(default)]
        maxrate: Option<u64>,
        /// VBV buffer in bits.
        #[serde(default)]
        bufsize: Option<u64>,
    },
    /// Average bitrate with a VBV cap (what streaming to a bandwidth-limited client needs).
    Bitrate {
        /// Average bitrate in bits/s.
        bitrate: u64,
        /// Peak bitrate in bits/s.
        maxrate: u64,
        /// VBV buffer in bits.
        bufsize: u64,
    },
}

/// Video output settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoSettings {
    /// Output codec.
    #[serde(default)]
    pub codec: VideoCodec,
    /// Output height; the width follows the display aspect (rounded to even). Never upscales.
    /// `None` keeps the source height.
    #[serde(default)]
    pub target_height: Option<u32>,
    /// Rate control.
    pub rate: RateControl,
    /// Encoder preset (`veryfast`, …).
    #[serde(default = "default_preset")]
    pub preset: String,
    /// Profile (`high`, `main`, …).
    #[serde(default)]
    pub profile: Option<String>,
    /// Level (`4.1`, …).
    #[serde(default)]
    pub level: Option<String>,
    /// Use QSV's low-power (VDENC) mode. Only honoured on the QSV path.
    #[serde(default)]
    pub low_power: bool,
}

fn default_preset() -> String {
    "veryfast".to_owned()
}

/// Audio output settings (AAC-LC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioSettings {
    /// Bitrate in bits/s.
    pub bitrate: u64,
    /// Output channels (1 or 2; more are downmixed).
    pub channels: u16,
    /// Output sample rate in Hz.
    pub sample_rate: u32,
}

impl Default for AudioSettings {
    fn default() -> Self {
        Self {
            bitrate: 128_000,
            channels: 2,
            sample_rate: 48_000,
        }
    }
}

/// Which encoder family to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HardwarePreference {
    /// libx264 on the CPU.
    #[default]
    Software,
    /// Intel Quick Sync; falls back to software for this job if the device is missing or fails.
    Qsv,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_with_defaults() {
        let json = r#"{"input":"/in.mkv","output_dir":"/out","segment_ms":4000,
            "video":{"rate":{"mode":"crf","crf":23}}}"#;
        let spec: JobSpec = serde_json::from_str(json).unwrap();
        assert_eq!(spec.start_segment, 0);
        assert_eq!(spec.video.preset, "veryfast");
        assert_eq!(spec.hardware, HardwarePreference::Software);
        assert!(spec.audio.is_none());
        assert_eq!(spec.container, SegmentContainer::MpegTs);
        let back: JobSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn container_is_lowercase_json() {
        assert_eq!(
            serde_json::to_string(&SegmentContainer::Fmp4).unwrap(),
            r#""fmp4""#
        );
        assert_eq!(
            serde_json::from_str::<SegmentContainer>(r#""mpegts""#).unwrap(),
            SegmentContainer::MpegTs
        );
        assert_eq!(SegmentContainer::Fmp4.segment_extension(), "m4s");
    }
}
