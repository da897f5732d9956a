//! Segment-exact HLS: a run resumed at segment k produces the same segments k.. as a full run
//! (same first PTS, same frame count, zero tolerance), every segment decodes alone, and full-run
//! segments 0..k followed by resumed-run segments k.. decode as one continuous stream.

mod support;

use std::path::PathBuf;

use ha_transcode::hls::segment_file_name;
use ha_transcode::spec::SegmentContainer;
use support::hls_check::{concat, decoded_frames, video_pts, video_stream_entry};
use support::resume_run::{run, spec};
use support::{scratch_dir, Clip};

/// Runs `input` fully and from segment `k`, and checks exactness. Returns the published
/// segment paths of the full run.
async fn check_resume(
    name: &str,
    input: PathBuf,
    k: u32,
    audio: bool,
    height: Option<u32>,
) -> Vec<PathBuf> {
    let full_dir = scratch_dir(&format!("{name}-full"));
    let res_dir = scratch_dir(&format!("{name}-resumed"));
    let (full_sum, full) = run(spec(
        SegmentContainer::MpegTs,
        &input,
        &full_dir,
        0,
        audio,
        height,
    ))
    .await;
    let (_, resumed) = run(spec(
        SegmentContainer::MpegTs,
        &input,
        &res_dir,
        k,
        audio,
        height,
    ))
    .await;

    let n = full.len() as u32;
    assert!(n > k, "{name}: need more than {k} segments, got {n}");
    assert_eq!(full_sum.published, (0..n).collect::<Vec<_>>());
    assert_eq!(
        resumed.iter().map(|r| r.index).collect::<Vec<_>>(),
        (k..n).collect::<Vec<_>>(),
        "{name}: resumed run numbers from k"
    );
    for r in &resumed {
        let f = &full[r.index as usize];
        assert_eq!(
            r.first_pts, f.first_pts,
            "{name}: first PTS of segment {}",
            r.index
        );
        assert_eq!(
            r.frame_count, f.frame_count,
            "{name}: frames of segment {}",
            r.index
        );
    }

    // Every published segment decodes alone, with the reported frame count and first PTS.
    let full_paths: Vec<PathBuf> = (0..n)
        .map(|i| full_dir.join(segment_file_name(i)))
        .collect();
    let res_paths: Vec<PathBuf> = (k..n).map(|i| res_dir.join(segment_file_name(i))).collect();
    for (path, report) in full_paths
        .iter()
        .zip(&full)
        .chain(res_paths.iter().zip(&resumed))
    {
        assert!(path.exists(), "{} published", path.display());
        assert!(!report.temp_path.exists(), "temp file renamed away");
        assert_eq!(
            decoded_frames(path),
            u64::from(report.frame_count),
            "{}",
            path.display()
        );
        assert_eq!(
            video_pts(path).first().copied(),
            Some(report.first_pts),
            "{}",
            path.display()
        );
    }

    // Full 0..k + resumed k..n splice into one stream: all source frames, no gap, no duplicate.
    let spliced = full_dir.join("spliced.ts");
    let mut parts = full_paths[..k as usize].to_vec();
    parts.extend(res_paths.iter().cloned());
    concat(&parts, &spliced);
    let source_frames = decoded_frames(&input);
    assert_eq!(
        decoded_frames(&spliced),
        source_frames,
        "{name}: spliced frame count"
    );
    let pts = video_pts(&spliced);
    assert_eq!(pts.len() as u64, source_frames);
    let step = pts[1] - pts[0];
    assert!(
        pts.windows(2).all(|w| (w[1] - w[0] - step).abs() <= 1),
        "{name}: spliced timestamps are continuous"
    );
    full_paths
}

#[tokio::test]
async fn h264_aac_resume_matches_full_run() {
    let clip = Clip::new("hls-h264-aac.mp4")
        .video(320, 240, "25")
        .audio(44_100)
        .duration(8.0)
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "48",
            "-c:a",
            "aac",
        ])
        .make();
    let paths = check_resume("h264-aac", clip, 2, true, None).await;
    // Audio survives: every segment has an AAC stream.
    let audio = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(&paths[1])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&audio.stdout).lines().next(),
        Some("aac")
    );
}

#[tokio::test]
async fn ntsc_rate_without_audio_resumes_exactly_and_scales() {
    let clip = Clip::new("hls-ntsc-noaudio.mp4")
        .video(640, 360, "30000/1001")
        .duration(6.0)
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .make();
    let paths = check_resume("ntsc", clip, 1, true, Some(240)).await;
    assert_eq!(video_stream_entry(&paths[0], "width,height"), "428,240");
}

#[tokio::test]
async fn hdr10_source_is_tone_mapped_to_bt709_and_resumes_exactly() {
    let clip = Clip::new("hls-hevc10-pq.mkv")
        .video(320, 240, "25")
        .duration(4.0)
        .args([
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p10le",
            "-x265-params",
            "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc",
            "-color_primaries",
            "bt2020",
            "-color_trc",
            "smpte2084",
            "-colorspace",
            "bt2020nc",
        ])
        .make();
    let paths = check_resume("hdr10", clip, 1, false, None).await;
    assert_eq!(video_stream_entry(&paths[1], "pix_fmt"), "yuv420p");
    assert_eq!(video_stream_entry(&paths[1], "color_transfer"), "bt709");
    assert_eq!(video_stream_entry(&paths[1], "color_primaries"), "bt709");
}
