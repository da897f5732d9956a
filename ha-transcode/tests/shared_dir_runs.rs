//! Two runs of one job writing into one directory at once: what a takeover on shared storage
//! looks like while the old owner's worker is still running (paused, partitioned, not yet told).
//!
//! The old run is fenced (its gate vetoes, as the TranscodeManager's does once the job record
//! holds a newer token) and deletes what it wrote; the new run must still publish a whole
//! segment. With one temp name per segment (`seg-000000.ts.tmp`, before run tags) the old
//! run overwrote the new run's temp file and its veto deleted it: the new run's rename failed.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ha_transcode::hls::{
    segment_file_name_for, PublishDecision, SegmentGate, SegmentReport, INIT_FILE_NAME,
};
use ha_transcode::spec::{
    HardwarePreference, JobSpec, RateControl, SegmentContainer, VideoCodec, VideoSettings,
};
use ha_transcode::worker::WorkerError;
use support::hls_check::{decoded_frames, supervisor};
use support::{scratch_dir, Clip};
use tokio::sync::{watch, Notify};

fn clip() -> PathBuf {
    Clip::new("shared-dir-runs.mp4")
        .video(320, 240, "25")
        .duration(4.0)
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-pix_fmt",
            "yuv420p",
        ])
        .make()
}

/// Segment 0 only (2 s, 50 frames), tagged `run`.
fn spec(input: &Path, out: &Path, container: SegmentContainer, run: &str) -> JobSpec {
    JobSpec {
        input: input.to_path_buf(),
        output_dir: out.to_path_buf(),
        start_segment: 0,
        end_segment: Some(0),
        segment_ms: 2000,
        video: VideoSettings {
            codec: VideoCodec::H264,
            target_height: None,
            rate: RateControl::Crf {
                crf: 30,
                maxrate: None,
                bufsize: None,
            },
            preset: "ultrafast".into(),
            profile: None,
            level: None,
            low_power: false,
        },
        audio: None,
        hardware: HardwarePreference::Software,
        container,
        run_tag: Some(run.into()),
    }
}

/// The new owner's gate: says where the report arrived, then holds the publish until told.
#[derive(Debug)]
struct Held {
    reached: watch::Sender<Option<SegmentReport>>,
    go: Notify,
}

#[async_trait::async_trait]
impl SegmentGate for Held {
    async fn approve(&self, segment: &SegmentReport) -> PublishDecision {
        self.reached.send_replace(Some(segment.clone()));
        self.go.notified().await;
        PublishDecision::Publish
    }
}

/// The old owner's gate once the record holds the new owner's token.
#[derive(Debug)]
struct Fenced;

#[async_trait::async_trait]
impl SegmentGate for Fenced {
    async fn approve(&self, _segment: &SegmentReport) -> PublishDecision {
        PublishDecision::Veto(ha_core::Error::Fenced {
            key: "job".into(),
            presented: ha_core::FencingToken(100),
            current: ha_core::FencingToken(200),
        })
    }
}

fn leftover_temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

async fn a_fenced_old_run_leaves_the_new_runs_segment_alone(container: SegmentContainer) {
    let out = scratch_dir(&format!("shared-dir-{}", container.segment_extension()));
    let input = clip();

    // The new owner's run writes segment 0 and waits at its gate.
    let (reached, mut seen) = watch::channel(None);
    let held = Arc::new(Held {
        reached,
        go: Notify::new(),
    });
    let new_run = supervisor()
        .spawn(spec(&input, &out, container, "200-1"), held.clone())
        .unwrap();
    let new_report = seen
        .wait_for(Option::is_some)
        .await
        .unwrap()
        .clone()
        .unwrap();

    // Meanwhile the old owner's worker writes the same segment and is fenced.
    let old = supervisor()
        .run(spec(&input, &out, container, "100-1"), Arc::new(Fenced))
        .await
        .unwrap_err();
    assert!(
        matches!(old, WorkerError::Vetoed { index: 0, .. }),
        "{old:?}"
    );

    held.go.notify_one();
    let summary = new_run.wait().await.unwrap_or_else(|e| {
        panic!(
            "the new run's segment 0 ({}) was clobbered by the fenced old run: {e}",
            new_report.temp_path.display()
        )
    });
    assert_eq!(summary.published, vec![0], "{summary:?}");
    let published = out.join(segment_file_name_for(container, 0));
    let frames = match container {
        SegmentContainer::MpegTs => decoded_frames(&published),
        SegmentContainer::Fmp4 => {
            // A fragment decodes with its init segment in front of it.
            let init = out.join(INIT_FILE_NAME);
            assert!(init.exists(), "init segment published with segment 0");
            let joined = out.join("joined.mp4");
            let mut bytes = std::fs::read(&init).unwrap();
            bytes.extend(std::fs::read(&published).unwrap());
            std::fs::write(&joined, bytes).unwrap();
            decoded_frames(&joined)
        }
    };
    assert_eq!(frames, 50, "segment 0 whole: 2 s at 25 fps");
    assert_eq!(
        leftover_temp_files(&out),
        Vec::<String>::new(),
        "the vetoed run deleted its own temp files, the published run renamed its own"
    );
    let _ = std::fs::remove_dir_all(&out);
}

#[tokio::test]
async fn mpeg_ts_runs_in_one_directory_do_not_clobber_each_other() {
    a_fenced_old_run_leaves_the_new_runs_segment_alone(SegmentContainer::MpegTs).await;
}

#[tokio::test]
async fn fmp4_runs_in_one_directory_do_not_clobber_each_other() {
    a_fenced_old_run_leaves_the_new_runs_segment_alone(SegmentContainer::Fmp4).await;
}
