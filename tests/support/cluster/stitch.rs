//! The proof that a failover lost nothing: the segments, concatenated as fetched, decode with
//! every frame of the clip exactly once and timestamps that never jump, repeat or go back.

use std::path::Path;
use std::process::Command;

use super::media::Clip;

/// Writes `joined` to `dir/joined.ts` and checks every video frame's pts (see module docs).
pub fn check_every_frame_once(dir: &Path, joined: &[u8], clip: &Clip) {
    let file = dir.join("joined.ts");
    std::fs::write(&file, joined).expect("write the stitched stream");
    let pts = video_pts(&file);
    assert_eq!(pts.len() as u32, clip.frames(), "every frame decoded once");
    let step = 90_000 / i64::from(clip.fps);
    for w in pts.windows(2) {
        assert_eq!(
            w[1] - w[0],
            step,
            "no gap, duplicate or jump at pts {}",
            w[0]
        );
    }
}

/// Every video frame's pts of a transport stream.
fn video_pts(file: &Path) -> Vec<i64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "frame=pts", "-of", "csv=p=0"])
        .arg(file)
        .output()
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}
