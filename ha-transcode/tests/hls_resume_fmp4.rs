//! Segment-exact fMP4 (CMAF) HLS: the same checks as `hls_resume.rs` for MPEG-TS. A run resumed
//! at segment k produces segments k.. with the same first PTS (read back through `tfdt` by
//! ffprobe) and frame count as a full run, zero tolerance; `init.mp4` is byte-identical whichever
//! segment the run started at; every segment decodes alone behind the init; and init + full
//! 0..k + resumed k.. decode as one continuous stream.

mod support;

use std::path::{Path, PathBuf};

use ha_transcode::hls::{segment_file_name_for, INIT_FILE_NAME};
use ha_transcode::spec::SegmentContainer;
use support::hls_check::{concat, decoded_frames, video_pts, video_stream_entry};
use support::resume_run::{run, spec};
use support::{scratch_dir, Clip};

fn seg_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(segment_file_name_for(SegmentContainer::Fmp4, index))
}

/// `init` followed by `segments`, as one playable MP4 file at `out`.
fn with_init(init: &Path, segments: &[PathBuf], out: &Path) -> PathBuf {
    let mut parts = vec![init.to_path_buf()];
    parts.extend(segments.iter().cloned());
    concat(&parts, out);
    out.to_path_buf()
}

/// Runs `input` fully and from segment `k` as fMP4 and checks exactness. Returns the full
/// run's directory and segment count.
async fn check_resume(
    name: &str,
    input: PathBuf,
    k: u32,
    audio: bool,
    height: Option<u32>,
) -> (PathBuf, u32) {
    let full_dir = scratch_dir(&format!("{name}-full"));
    let res_dir = scratch_dir(&format!("{name}-resumed"));
    let (full_sum, full) = run(spec(
        SegmentContainer::Fmp4,
        &input,
        &full_dir,
        0,
        audio,
        height,
    ))
    .await;
    let (_, resumed) = run(spec(
        SegmentContainer::Fmp4,
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
    // Only the first segment of each run carries the init.
    for reports in [&full, &resumed] {
        assert!(
            reports[0].init_temp_path.is_some(),
            "{name}: init with the first segment"
        );
        assert!(reports[1..].iter().all(|r| r.init_temp_path.is_none()));
    }
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

    // One init for every run: a player may take segments from any replica.
    let full_init = full_dir.join(INIT_FILE_NAME);
    let res_init = res_dir.join(INIT_FILE_NAME);
    let init_bytes = std::fs::read(&full_init).expect("full run published init.mp4");
    assert_eq!(
        init_bytes,
        std::fs::read(&res_init).expect("resumed run published init.mp4"),
        "{name}: init.mp4 is the same whichever segment the run started at"
    );
    assert!(!full_dir.join(format!("{INIT_FILE_NAME}.tmp")).exists());
    assert_eq!(&init_bytes[4..8], b"ftyp");

    // Every segment decodes behind the init (either run's), with the reported frame count and
    // first PTS — the PTS comes from the segment's tfdt, so this checks tfdt too.
    let full_paths: Vec<PathBuf> = (0..n).map(|i| seg_path(&full_dir, i)).collect();
    let res_paths: Vec<PathBuf> = (k..n).map(|i| seg_path(&res_dir, i)).collect();
    let probe = full_dir.join("probe.mp4");
    for (path, report) in full_paths
        .iter()
        .zip(&full)
        .chain(res_paths.iter().zip(&resumed))
    {
        assert!(path.exists(), "{} published", path.display());
        assert!(!report.temp_path.exists(), "temp file renamed away");
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(
            &bytes[4..8],
            b"moof",
            "{}: media segment starts with moof",
            path.display()
        );
        assert_eq!(&bytes[12..16], b"mfhd");
        assert_eq!(
            u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
            report.index + 1,
            "{}: mfhd sequence number follows the segment index",
            path.display()
        );
        let init = if path.starts_with(&full_dir) {
            &res_init
        } else {
            &full_init
        };
        with_init(init, std::slice::from_ref(path), &probe);
        assert_eq!(
            decoded_frames(&probe),
            u64::from(report.frame_count),
            "{}",
            path.display()
        );
        assert_eq!(
            video_pts(&probe).first().copied(),
            Some(report.first_pts),
            "{}",
            path.display()
        );
    }

    // init + full 0..k + resumed k..n: all source frames, no gap, no duplicate.
    let mut parts = full_paths[..k as usize].to_vec();
    parts.extend(res_paths.iter().cloned());
    let spliced = with_init(&full_init, &parts, &full_dir.join("spliced.mp4"));
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
    assert_eq!(
        pts[0], full[0].first_pts,
        "{name}: spliced stream keeps the source timeline"
    );
    (full_dir, n)
}

#[tokio::test]
async fn fmp4_h264_aac_resume_matches_full_run() {
    let clip = Clip::new("hls-fmp4-h264-aac.mp4")
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
    let (dir, _) = check_resume("fmp4-h264-aac", clip, 2, true, None).await;
    // Audio survives: the init declares AAC and a segment decodes with it.
    let probe = with_init(
        &dir.join(INIT_FILE_NAME),
        &[seg_path(&dir, 1)],
        &dir.join("audio.mp4"),
    );
    let audio = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-count_packets",
            "-show_entries",
            "stream=codec_name,nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(&probe)
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&audio.stdout)
        .lines()
        .next()
        .map(str::to_owned);
    let line = line.expect("an audio stream");
    let (codec, packets) = line.split_once(',').expect("codec,packets");
    assert_eq!(codec, "aac");
    assert!(
        packets.parse::<u32>().unwrap() > 0,
        "audio samples in segment 1: {line}"
    );
}

#[tokio::test]
async fn fmp4_ntsc_rate_resumes_exactly_and_scales() {
    let clip = Clip::new("hls-fmp4-ntsc.mp4")
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
    let (dir, _) = check_resume("fmp4-ntsc", clip, 1, false, Some(240)).await;
    let probe = with_init(
        &dir.join(INIT_FILE_NAME),
        &[seg_path(&dir, 0)],
        &dir.join("s.mp4"),
    );
    assert_eq!(video_stream_entry(&probe, "width,height"), "428,240");
    // The video track's timescale is fixed at 90 kHz, whatever the source rate.
    assert_eq!(video_stream_entry(&probe, "time_base"), "1/90000");
}
