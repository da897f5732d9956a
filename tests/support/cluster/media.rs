//! The clip the replicas transcode: MPEG-2/MP2 in Matroska (the default device profile cannot
//! direct-play it, so every play is a transcode), generated once per target directory with
//! ffmpeg lavfi, each size in its own library directory.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// A generated clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clip {
    /// Length in seconds (a multiple of the segment length keeps the segment count exact).
    pub secs: u32,
    /// Frames per second.
    pub fps: u32,
    /// Width and height. 720p keeps the transcode running long enough to be interrupted.
    pub size: (u32, u32),
}

impl Clip {
    /// The item name the library scan gives it.
    pub const NAME: &'static str = "Clip";

    /// Video frames in the clip.
    pub fn frames(&self) -> u32 {
        self.secs * self.fps
    }

    /// The library directory holding only this clip, generated on first use.
    pub fn library(&self) -> PathBuf {
        static GENERATING: Mutex<()> = Mutex::new(());
        let _one = ha_core::sync::lock(&GENERATING);
        let (w, h) = self.size;
        let dir = crate::target_tmpdir().join(format!(
            "failover-media-{}s-{w}x{h}-{}fps",
            self.secs, self.fps
        ));
        std::fs::create_dir_all(&dir).expect("create the media directory");
        let target = dir.join(format!("{}.mkv", Self::NAME));
        if !target.exists() {
            let tmp = dir.join("clip.partial");
            let status = Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-y"])
                .args(["-f", "lavfi", "-i"])
                .arg(format!("testsrc2=size={w}x{h}:rate={}", self.fps))
                .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
                .args(["-t", &self.secs.to_string()])
                .args(["-c:v", "mpeg2video", "-q:v", "4", "-c:a", "mp2"])
                .args(["-f", "matroska"])
                .arg(&tmp)
                .status()
                .expect("the failover scenarios need the ffmpeg CLI");
            assert!(status.success(), "ffmpeg failed to generate the clip");
            std::fs::rename(&tmp, &target).expect("move the clip in place");
        }
        dir
    }
}
