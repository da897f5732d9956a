//! Frame extraction (`ha_transcode::thumbnail`) against real files made by the ffmpeg CLI:
//! the picture's size and aspect, that it comes from where it was asked for, and the inputs
//! that have no picture to give.

mod support;

use ha_transcode::thumbnail::{extract_frame, extract_frame_blocking, ThumbnailOptions};
use ha_transcode::Error;
use support::{scratch_dir, Clip};

fn clip() -> std::path::PathBuf {
    Clip::new("thumb_h264_4s.mp4")
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

#[test]
fn a_frame_has_the_video_size_and_depends_on_the_position() {
    let path = clip();
    let early = extract_frame_blocking(&path, &ThumbnailOptions::default()).expect("frame");
    assert_eq!((early.width, early.height), (320, 240));
    assert_eq!(early.rgb.len(), 320 * 240 * 3);
    let distinct: std::collections::HashSet<&[u8]> = early.rgb.chunks(3).collect();
    assert!(distinct.len() > 10, "a testsrc2 frame is not one colour");
    let late = extract_frame_blocking(
        &path,
        &ThumbnailOptions {
            position: 0.9,
            ..ThumbnailOptions::default()
        },
    )
    .expect("late frame");
    assert_ne!(
        early.rgb, late.rgb,
        "testsrc2 shows the time: 0.4 s and 3.6 s differ"
    );
}

#[test]
fn wide_sources_are_scaled_down_with_their_aspect() {
    let path = clip();
    let small = extract_frame_blocking(
        &path,
        &ThumbnailOptions {
            max_width: 160,
            ..ThumbnailOptions::default()
        },
    )
    .expect("frame");
    assert_eq!((small.width, small.height), (160, 120));
}

#[tokio::test]
async fn async_extraction_and_inputs_without_a_picture() {
    let frame = extract_frame(clip(), ThumbnailOptions::default())
        .await
        .expect("frame");
    assert_eq!(frame.width, 320);

    let audio = Clip::audio_only_aac().make();
    let err = extract_frame(audio, ThumbnailOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotPlayable { .. }), "{err:?}");

    let dir = scratch_dir("thumbnail_bad_inputs");
    let text = dir.join("notes.mp4");
    std::fs::write(&text, "not a video at all, just words").unwrap();
    let err = extract_frame(&text, ThumbnailOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotMedia { .. }), "{err:?}");
    let err = extract_frame(dir.join("missing.mkv"), ThumbnailOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}
