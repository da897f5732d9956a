//! Small real media clips made with the `ffmpeg` CLI.
//!
//! A [`Clip`] describes the lavfi sources (testsrc2 video, sine audio), the output arguments
//! and the file name (whose extension picks the container). [`Clip::make`] runs ffmpeg once and
//! caches the result under `CARGO_TARGET_TMPDIR/clips/`, keyed by a hash of the full command
//! line, so a second run (or a second test asking for the same clip) costs nothing. Files are
//! written under a unique temporary name and renamed into place, so tests running in parallel
//! never see a half-written clip.
//!
//! The presets ([`Clip::h264_aac_1080p`], [`Clip::hevc10_hdr10`], ...) are what the probe and
//! decision tests use; build your own with [`Clip::new`] and the builder methods.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

/// A testsrc2 video source.
#[derive(Debug, Clone)]
pub struct VideoSrc {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second (a rational like `"30000/1001"` or an integer like `"25"`).
    pub rate: String,
}

/// A sine audio source (mono; add `-ac N` to the output arguments for more channels).
#[derive(Debug, Clone)]
pub struct AudioSrc {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Tone frequency in Hz.
    pub frequency: u32,
}

/// A clip to make: sources, output arguments and file name.
#[derive(Debug, Clone)]
pub struct Clip {
    /// File name; its extension picks the container unless `-f` is in `args`.
    pub file: String,
    /// Length in seconds.
    pub duration: f64,
    /// The video source, if any.
    pub video: Option<VideoSrc>,
    /// The audio source, if any.
    pub audio: Option<AudioSrc>,
    /// Output arguments (codecs, pixel format, flags), placed before the output file.
    pub args: Vec<String>,
}

impl Clip {
    /// A clip with no sources yet, two seconds long.
    pub fn new(file: &str) -> Self {
        Clip {
            file: file.to_owned(),
            duration: 2.0,
            video: None,
            audio: None,
            args: Vec::new(),
        }
    }

    /// Adds a testsrc2 video source.
    pub fn video(mut self, width: u32, height: u32, rate: &str) -> Self {
        self.video = Some(VideoSrc {
            width,
            height,
            rate: rate.to_owned(),
        });
        self
    }

    /// Adds a 440 Hz sine audio source at `sample_rate`.
    pub fn audio(mut self, sample_rate: u32) -> Self {
        self.audio = Some(AudioSrc {
            sample_rate,
            frequency: 440,
        });
        self
    }

    /// Sets the length in seconds.
    pub fn duration(mut self, seconds: f64) -> Self {
        self.duration = seconds;
        self
    }

    /// Appends output arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// H.264 High 1920x1080 at 25 fps (libx264 ultrafast, yuv420p) with stereo AAC-LC 48 kHz,
    /// in MP4.
    pub fn h264_aac_1080p() -> Self {
        Clip::new("h264_aac_1080p.mp4")
            .video(1920, 1080, "25")
            .audio(48_000)
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "superfast",
                "-profile:v",
                "high",
                "-pix_fmt",
                "yuv420p",
                "-c:a",
                "aac",
                "-b:a",
                "128k",
                "-ac",
                "2",
            ])
    }

    /// HEVC Main 10 1280x720 (libx265, yuv420p10le) with HDR10 signalling (BT.2020, PQ,
    /// mastering display and content light level SEI) and 5.1 AAC, in Matroska.
    pub fn hevc10_hdr10() -> Self {
        Clip::new("hevc10_hdr10.mkv")
            .video(1280, 720, "24")
            .audio(48_000)
            .args([
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p10le",
                "-x265-params",
                "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:\
                 master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):\
                 max-cll=1000,400",
                "-color_primaries",
                "bt2020",
                "-color_trc",
                "smpte2084",
                "-colorspace",
                "bt2020nc",
                "-c:a",
                "aac",
                "-ac",
                "6",
            ])
    }

    /// HLG variant of [`Clip::hevc10_hdr10`] (transfer arib-std-b67), no audio.
    pub fn hevc10_hlg() -> Self {
        Clip::new("hevc10_hlg.mkv").video(640, 360, "25").args([
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p10le",
            "-x265-params",
            "log-level=error:colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc",
            "-color_primaries",
            "bt2020",
            "-color_trc",
            "arib-std-b67",
            "-colorspace",
            "bt2020nc",
        ])
    }

    /// HEVC Main 10 320x240 HDR10 in MP4 with the `hvc1` tag: the base for a Dolby Vision
    /// sample (see `support::dovi`).
    pub fn hevc10_hdr10_mp4() -> Self {
        Clip::new("hevc10_hdr10.mp4").video(320, 240, "25").args([
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
            "-tag:v",
            "hvc1",
        ])
    }

    /// Interlaced (top field first) MPEG-2 720x576 at 25 fps with MP2 audio, in MPEG-TS.
    pub fn mpeg2_interlaced() -> Self {
        Clip::new("mpeg2_interlaced.ts")
            .video(720, 576, "25")
            .audio(48_000)
            .args([
                "-c:v",
                "mpeg2video",
                "-flags",
                "+ilme+ildct",
                "-top",
                "1",
                "-b:v",
                "4M",
                "-c:a",
                "mp2",
                "-ac",
                "2",
            ])
    }

    /// Audio only: stereo AAC-LC 44.1 kHz in an .m4a (MP4) file, with a language tag.
    pub fn audio_only_aac() -> Self {
        Clip::new("audio_only.m4a").audio(44_100).args([
            "-c:a",
            "aac",
            "-ac",
            "2",
            "-metadata:s:a:0",
            "language=eng",
        ])
    }

    /// Audio only: mono MP3 44.1 kHz.
    pub fn audio_only_mp3() -> Self {
        Clip::new("audio_only.mp3")
            .audio(44_100)
            .args(["-c:a", "libmp3lame", "-b:a", "96k"])
    }

    /// Video with no audio: H.264 640x360 at 30000/1001 fps in MP4.
    pub fn h264_no_audio() -> Self {
        Clip::new("h264_no_audio.mp4")
            .video(640, 360, "30000/1001")
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ])
    }

    /// The ffmpeg arguments that make this clip into `out`.
    pub fn command_line(&self, out: &Path) -> Vec<String> {
        let mut cmd: Vec<String> = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let d = self.duration;
        if let Some(v) = &self.video {
            cmd.extend([
                "-f".into(),
                "lavfi".into(),
                "-i".into(),
                format!(
                    "testsrc2=size={}x{}:rate={}:duration={d}",
                    v.width, v.height, v.rate
                ),
            ]);
        }
        if let Some(a) = &self.audio {
            cmd.extend([
                "-f".into(),
                "lavfi".into(),
                "-i".into(),
                format!(
                    "sine=frequency={}:sample_rate={}:duration={d}",
                    a.frequency, a.sample_rate
                ),
            ]);
        }
        cmd.extend(self.args.iter().cloned());
        cmd.extend(["-t".into(), d.to_string()]);
        cmd.push(out.display().to_string());
        cmd
    }

    /// Makes the clip (or reuses the cached one) and returns its path.
    ///
    /// # Panics
    /// When ffmpeg is missing or fails: a test cannot go on without its media.
    pub fn make(&self) -> PathBuf {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("clips");
        let mut h = DefaultHasher::new();
        self.command_line(Path::new("")).hash(&mut h);
        let out = dir.join(format!("{:016x}-{}", h.finish(), self.file));
        if out.exists() {
            return out;
        }
        self.make_at(&out);
        out
    }

    /// Makes the clip at `out` (always runs ffmpeg; the parent directory is created).
    ///
    /// # Panics
    /// When ffmpeg is missing or fails.
    pub fn make_at(&self, out: &Path) {
        let dir = out.parent().expect("output has a parent directory");
        std::fs::create_dir_all(dir).expect("create clip directory");
        // Same extension as the target so ffmpeg picks the same muxer.
        let tmp = dir.join(format!(".tmp-{}-{}", unique(), self.file));
        run_ffmpeg(&self.command_line(&tmp));
        std::fs::rename(&tmp, out).expect("rename clip into place");
    }
}

/// Runs `ffmpeg` with `args`.
///
/// # Panics
/// When ffmpeg is missing or exits with an error (its stderr is in the message).
pub fn run_ffmpeg(args: &[String]) {
    let output = Command::new("ffmpeg")
        .args(args)
        .output()
        .expect("ffmpeg CLI must be installed to make test media");
    assert!(
        output.status.success(),
        "ffmpeg {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A fresh, empty directory for one test, under `CARGO_TARGET_TMPDIR/scratch/`.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("scratch")
        .join(format!("{test}-{}", unique()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch directory");
    dir
}

fn unique() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
