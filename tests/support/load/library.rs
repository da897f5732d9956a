//! The library the load test serves, generated once per target directory with the ffmpeg CLI:
//!
//! * `Shelf/Film NNN.mp4`: [`SHELF`] hard links of one 1 s H.264 clip. Item ids derive from
//!   paths, so these are distinct items for the paging endpoint, at the cost of one file.
//! * `Clip.mkv`: 12 s of MPEG-2/MP2 at 320×240 (the default profile cannot direct-play it),
//!   so its HLS rendition is a real transcode of four 3 s segments.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Films on the shelf.
pub const SHELF: usize = 120;
/// Length of the transcoded clip, seconds.
pub const CLIP_SECS: u32 = 12;
/// Every movie the server lists: the shelf and the clip.
pub const MOVIES: usize = SHELF + 1;

fn ffmpeg(out: &Path, secs: u32, codec: &[&str]) -> Result<(), String> {
    let tmp = out.with_extension("partial");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &secs.to_string()])
        .args(codec)
        .arg(&tmp)
        .status()
        .map_err(|e| format!("the load test needs the ffmpeg CLI: {e}"))?;
    if !status.success() {
        return Err(format!("ffmpeg failed for {}", out.display()));
    }
    std::fs::rename(&tmp, out).map_err(|e| format!("{}: {e}", out.display()))
}

/// Creates the library under `<dir>/library` (idempotent) and returns that path. The shelf's
/// source file stays outside it, so the scan sees only the links.
pub fn generate(dir: &Path) -> Result<PathBuf, String> {
    let root = dir.join("library");
    let shelf = root.join("Shelf");
    std::fs::create_dir_all(&shelf).map_err(|e| format!("{}: {e}", shelf.display()))?;
    let clip = root.join("Clip.mkv");
    if !clip.exists() {
        let codec = ["-c:v", "mpeg2video", "-c:a", "mp2", "-f", "matroska"];
        ffmpeg(&clip, CLIP_SECS, &codec)?;
    }
    let film = dir.join("film.mp4");
    if !film.exists() {
        let codec = [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-f",
            "mp4",
        ];
        ffmpeg(&film, 1, &codec)?;
    }
    for i in 0..SHELF {
        let link = shelf.join(format!("Film {i:03}.mp4"));
        if !link.exists() {
            std::fs::hard_link(&film, &link).map_err(|e| format!("{}: {e}", link.display()))?;
        }
    }
    Ok(root)
}
