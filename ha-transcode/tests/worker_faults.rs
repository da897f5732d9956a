//! The supervisor survives a worker that crashes, hangs, is cancelled or is vetoed: each is a
//! typed failure within the deadline, and the child is reaped (no zombie).

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ha_transcode::hls::{
    segment_file_name, segment_temp_name, PublishDecision, SegmentGate, SegmentReport,
};
use ha_transcode::spec::{
    HardwarePreference, JobSpec, RateControl, SegmentContainer, VideoCodec, VideoSettings,
};
use ha_transcode::worker::WorkerError;
use ha_transcode::worker::{Supervisor, SupervisorConfig, FAULT_ENV};
use support::hls_check::{process_gone, publish_all, worker_command};
use support::{scratch_dir, Clip};

fn clip() -> std::path::PathBuf {
    Clip::new("worker-faults.mp4")
        .video(320, 240, "25")
        .duration(6.0)
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .make()
}

fn spec(input: &Path, out: &Path) -> JobSpec {
    JobSpec {
        input: input.to_path_buf(),
        output_dir: out.to_path_buf(),
        start_segment: 0,
        end_segment: None,
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
        container: SegmentContainer::MpegTs,
        run_tag: None,
    }
}

fn supervisor(fault: Option<&str>, stall: Duration) -> Supervisor {
    let mut cmd = worker_command();
    if let Some(f) = fault {
        cmd = cmd.env(FAULT_ENV, f);
    }
    let mut cfg = SupervisorConfig::new(cmd);
    cfg.stall_timeout = stall;
    Supervisor::new(cfg)
}

#[tokio::test]
async fn crashing_worker_is_a_typed_failure_after_its_published_segment() {
    let out = scratch_dir("crash");
    let job = supervisor(Some("crash-after:1"), Duration::from_secs(60))
        .spawn(spec(&clip(), &out), publish_all())
        .unwrap();
    let pid = job.pid().unwrap();
    let progress = job.progress();
    let err = job.wait().await.unwrap_err();
    match &err {
        WorkerError::WorkerCrashed { status, .. } => {
            assert!(status.contains("signal 6"), "{status}")
        }
        other => panic!("expected a crash, got {other:?}"),
    }
    assert_eq!(
        *progress.borrow(),
        Some(0),
        "segment 0 was published before the crash"
    );
    assert!(out.join(segment_file_name(0)).exists());
    assert!(process_gone(pid), "worker reaped");
    // The server-side error converts into the core error with its source kept.
    assert!(matches!(
        ha_core::Error::from(err),
        ha_core::Error::Backend { .. }
    ));
}

#[tokio::test]
async fn stalled_worker_is_killed_at_the_deadline() {
    let out = scratch_dir("stall");
    let stall = Duration::from_secs(8);
    let started = Instant::now();
    let job = supervisor(Some("stall-after:1"), stall)
        .spawn(spec(&clip(), &out), publish_all())
        .unwrap();
    let pid = job.pid().unwrap();
    let err = job.wait().await.unwrap_err();
    assert!(
        matches!(err, WorkerError::WorkerStalled { after } if after == stall),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "noticed within the deadline"
    );
    assert!(process_gone(pid), "worker killed and reaped");
    assert!(ha_core::Error::from(err).is_transient());
}

#[tokio::test]
async fn cancel_kills_the_worker_at_once() {
    let out = scratch_dir("cancel");
    // A stalled worker would never end by itself: only cancel can stop it in time.
    let job = supervisor(Some("stall-after:1"), Duration::from_secs(600))
        .spawn(spec(&clip(), &out), publish_all())
        .unwrap();
    let pid = job.pid().unwrap();
    let mut progress = job.progress();
    progress.wait_for(|p| p.is_some()).await.unwrap();
    let cancelled_at = Instant::now();
    job.cancel();
    let err = job.wait().await.unwrap_err();
    assert!(matches!(err, WorkerError::Cancelled), "{err:?}");
    assert!(cancelled_at.elapsed() < Duration::from_secs(5));
    assert!(process_gone(pid));
}

/// Publishes segment 0, vetoes the next one as a fenced write would.
#[derive(Debug)]
struct FenceAfterFirst;

#[async_trait::async_trait]
impl SegmentGate for FenceAfterFirst {
    async fn approve(&self, segment: &SegmentReport) -> PublishDecision {
        if segment.index == 0 {
            PublishDecision::Publish
        } else {
            PublishDecision::Veto(ha_core::Error::LeaseLost { key: "job".into() })
        }
    }
}

#[tokio::test]
async fn vetoed_segment_is_deleted_and_the_run_stops() {
    let out = scratch_dir("veto");
    let job = supervisor(None, Duration::from_secs(120))
        .spawn(spec(&clip(), &out), Arc::new(FenceAfterFirst))
        .unwrap();
    let pid = job.pid().unwrap();
    let err = job.wait().await.unwrap_err();
    assert!(
        matches!(err, WorkerError::Vetoed { index: 1, .. }),
        "{err:?}"
    );
    assert!(out.join(segment_file_name(0)).exists());
    assert!(
        !out.join(segment_file_name(1)).exists(),
        "vetoed segment not published"
    );
    assert!(
        !out.join(segment_temp_name(1)).exists(),
        "vetoed segment deleted"
    );
    assert!(process_gone(pid));
    // The manager gets its own reason back.
    assert!(matches!(
        ha_core::Error::from(err),
        ha_core::Error::LeaseLost { .. }
    ));
}

#[tokio::test]
async fn bad_input_is_a_worker_failure_not_a_crash() {
    let out = scratch_dir("bad-input");
    let junk = out.join("junk.mkv");
    std::fs::write(&junk, b"this is not a media file").unwrap();
    let err = supervisor(None, Duration::from_secs(60))
        .run(spec(&junk, &out), publish_all())
        .await
        .unwrap_err();
    assert!(matches!(err, WorkerError::WorkerFailed { .. }), "{err:?}");
}
