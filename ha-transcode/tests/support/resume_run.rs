//! The run both resume tests (`hls_resume`, `hls_resume_fmp4`) compare: one small software
//! H.264 spec with 2 s segments, and a supervisor run that publishes everything and keeps the
//! worker's segment reports.

use std::path::Path;
use std::sync::{Arc, Mutex};

use ha_transcode::hls::{PublishDecision, SegmentGate, SegmentReport};
use ha_transcode::spec::{
    AudioSettings, HardwarePreference, JobSpec, RateControl, SegmentContainer, VideoCodec,
    VideoSettings,
};
use ha_transcode::worker::JobSummary;

use super::hls_check::supervisor;

/// Publishes everything and remembers what the worker reported.
#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<SegmentReport>>);

#[async_trait::async_trait]
impl SegmentGate for Recorder {
    async fn approve(&self, segment: &SegmentReport) -> PublishDecision {
        self.0.lock().unwrap().push(segment.clone());
        PublishDecision::Publish
    }
}

/// A run of `input` into `out` from segment `start`, 2 s segments, libx264 ultrafast.
pub fn spec(
    container: SegmentContainer,
    input: &Path,
    out: &Path,
    start: u32,
    audio: bool,
    height: Option<u32>,
) -> JobSpec {
    JobSpec {
        input: input.to_path_buf(),
        output_dir: out.to_path_buf(),
        start_segment: start,
        end_segment: None,
        segment_ms: 2000,
        video: VideoSettings {
            codec: VideoCodec::H264,
            target_height: height,
            rate: RateControl::Crf {
                crf: 28,
                maxrate: Some(1_500_000),
                bufsize: None,
            },
            preset: "ultrafast".into(),
            profile: Some("high".into()),
            level: None,
            low_power: false,
        },
        audio: audio.then(AudioSettings::default),
        hardware: HardwarePreference::Software,
        container,
        run_tag: None,
    }
}

/// Runs `spec` to the end and returns the summary and every segment report, in order.
pub async fn run(spec: JobSpec) -> (JobSummary, Vec<SegmentReport>) {
    let rec = Arc::new(Recorder::default());
    let summary = supervisor()
        .run(spec, rec.clone())
        .await
        .expect("transcode run");
    let reports = rec.0.lock().unwrap().clone();
    (summary, reports)
}
