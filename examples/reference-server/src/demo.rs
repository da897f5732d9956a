//! A small demo library, generated with the ffmpeg CLI, so a newcomer can play something at once.
//!
//! Why generated and not shipped: a few seconds of test pattern compress to next to nothing as
//! a command line, and generating them also proves the local ffmpeg works. Two clips cover the
//! two paths a player takes: an H.264/AAC MP4 every client direct-plays, and an HEVC (or, when
//! libx265 is missing, MPEG-2) Matroska file most browsers must have transcoded. Each file is
//! written under a temporary name and renamed when complete, so a crash never leaves a
//! truncated clip that a scan would pick up.

use std::path::{Path, PathBuf};
use std::process::Stdio;

/// One demo clip: file name and the ffmpeg arguments after the inputs.
struct Clip {
    file: &'static str,
    source: &'static str,
    tone_hz: u32,
    codec_args: &'static [&'static str],
}

const CLIPS: &[Clip] = &[
    Clip {
        file: "Test Pattern (H.264, direct play).mp4",
        source: "testsrc2=size=1280x720:rate=25",
        tone_hz: 440,
        codec_args: &[
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ],
    },
    Clip {
        file: "Colour Bars (HEVC, transcode).mkv",
        source: "smptehdbars=size=854x480:rate=25",
        tone_hz: 660,
        codec_args: &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-f",
            "matroska",
        ],
    },
];

/// Ensures the demo library exists under `data_dir/demo-media` and returns its path. Missing
/// clips are generated (a failure is logged, never fatal: the server then starts with what
/// exists).
pub async fn ensure_demo_library(data_dir: &Path, seconds: u32) -> PathBuf {
    let dir = data_dir.join("demo-media");
    if let Err(err) = tokio::fs::create_dir_all(&dir).await {
        tracing::warn!(dir = %dir.display(), error = %err, "cannot create the demo library");
        return dir;
    }
    for clip in CLIPS {
        let target = dir.join(clip.file);
        if tokio::fs::try_exists(&target).await.unwrap_or(false) {
            continue;
        }
        tracing::info!(
            file = clip.file,
            "generating a demo clip with ffmpeg (once; may take a minute)"
        );
        if let Err(err) = generate(clip, &target, seconds).await {
            tracing::warn!(file = clip.file, error = %err, "demo clip not generated (is ffmpeg installed?)");
        }
    }
    dir
}

async fn generate(clip: &Clip, target: &Path, seconds: u32) -> Result<(), String> {
    let tmp = target.with_file_name(format!(".partial-{}", clip.file));
    let duration = seconds.to_string();
    let mut args: Vec<String> = vec![
        "-hide_banner".into(),
        "-loglevel".into(),
        "error".into(),
        "-y".into(),
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        clip.source.into(),
        "-f".into(),
        "lavfi".into(),
        "-i".into(),
        format!("sine=frequency={}:sample_rate=48000", clip.tone_hz),
        "-t".into(),
        duration,
    ];
    let mut codec_args: Vec<String> = clip.codec_args.iter().map(|s| s.to_string()).collect();
    if clip.file.ends_with(".mkv") && !has_encoder("libx265").await {
        codec_args = [
            "-c:v",
            "mpeg2video",
            "-q:v",
            "4",
            "-c:a",
            "mp2",
            "-f",
            "matroska",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
    }
    args.extend(codec_args);
    args.push(tmp.to_string_lossy().into_owned());
    let out = tokio::process::Command::new("ffmpeg")
        .args(&args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
    if !out.status.success() {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    tokio::fs::rename(&tmp, target)
        .await
        .map_err(|e| format!("cannot rename {}: {e}", tmp.display()))
}

async fn has_encoder(name: &str) -> bool {
    let out = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-encoders"])
        .stdin(Stdio::null())
        .output()
        .await;
    out.map(|o| String::from_utf8_lossy(&o.stdout).contains(name))
        .unwrap_or(false)
}
