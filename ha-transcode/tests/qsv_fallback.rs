//! Intel QSV: the probe reports unavailable on a machine without an Intel GPU, and a job that
//! asks for QSV completes in software instead of failing.

mod support;

use ha_transcode::hls::segment_file_name;
use ha_transcode::spec::{
    HardwarePreference, JobSpec, RateControl, SegmentContainer, VideoCodec, VideoSettings,
};
use ha_transcode::worker::{probe_qsv, qsv_status, ProbeStage, QsvStatus, DEFAULT_RENDER_NODE};
use support::hls_check::{decoded_frames, publish_all, supervisor};
use support::{scratch_dir, Clip};

#[test]
fn probe_reports_unavailable_without_an_intel_gpu() {
    if std::path::Path::new(DEFAULT_RENDER_NODE).exists() {
        eprintln!("a render node exists here; the probe result depends on the hardware");
        return;
    }
    let status = probe_qsv(std::path::Path::new(DEFAULT_RENDER_NODE));
    assert!(matches!(
        status,
        QsvStatus::Unavailable {
            stage: ProbeStage::RenderNode,
            ..
        }
    ));
    // Cached: the same answer, same allocation.
    assert!(std::ptr::eq(qsv_status(), qsv_status()));
    assert!(!qsv_status().is_available());
}

#[tokio::test]
async fn qsv_job_completes_in_software() {
    if qsv_status().is_available() {
        eprintln!("QSV is available here; nothing to fall back from");
        return;
    }
    let input = Clip::new("qsv-fallback.mp4")
        .video(320, 240, "25")
        .audio(48_000)
        .duration(4.0)
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"])
        .make();
    let out = scratch_dir("qsv-fallback");
    let spec = JobSpec {
        input: input.clone(),
        output_dir: out.clone(),
        start_segment: 0,
        end_segment: None,
        segment_ms: 2000,
        video: VideoSettings {
            codec: VideoCodec::H264,
            target_height: Some(240),
            rate: RateControl::Bitrate {
                bitrate: 800_000,
                maxrate: 1_000_000,
                bufsize: 1_600_000,
            },
            preset: "veryfast".into(),
            profile: Some("main".into()),
            level: None,
            low_power: true,
        },
        audio: Some(Default::default()),
        hardware: HardwarePreference::Qsv,
        container: SegmentContainer::MpegTs,
        run_tag: None,
    };
    let summary = supervisor()
        .run(spec, publish_all())
        .await
        .expect("job completes");
    assert_eq!(summary.hardware, Some(HardwarePreference::Software));
    assert!(summary.fallback.is_some(), "fallback reason reported");
    assert_eq!(summary.published, vec![0, 1]);
    let frames: u64 = (0..2)
        .map(|i| decoded_frames(&out.join(segment_file_name(i))))
        .sum();
    assert_eq!(frames, decoded_frames(&input));
}
