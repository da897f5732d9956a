//! One still frame from a video: the artwork a media server shows when a film has no poster.
//!
//! Why here and why so small: this is the only crate that links FFmpeg, and a server needs just
//! "a picture of this file" — decoded, display aspect applied, as plain RGB — to encode and
//! resize with whatever image library it likes. Like Jellyfin, the frame is taken at a tenth of
//! the duration (past opening credits and black leaders), by seeking to the key frame before it
//! and decoding forward.
//!
//! Bounded like the probe (see [`crate::probe::ProbeOptions`]): a wall-clock deadline checked
//! by FFmpeg's interrupt callback between reads *and* by the decode loop between packets, a
//! cap on the packets read, and a cap on the output size. Decoding is blocking CPU work, so
//! [`extract_frame`] runs it on tokio's blocking pool, never on the runtime's threads.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ffmpeg_next::format::stream::Disposition;
use ffmpeg_next::media::Type;
use ffmpeg_next::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next::{codec, frame, Packet, Rational};

use crate::{Error, Result};

/// Limits and choices of one extraction. The default suits artwork.
#[derive(Debug, Clone, PartialEq)]
pub struct ThumbnailOptions {
    /// Where to take the frame, as a share of the duration (0.0–1.0). Default 0.1.
    pub position: f64,
    /// Wall-clock limit for opening, seeking and decoding. Default 10 s.
    pub deadline: Duration,
    /// Most packets (of all streams) read after the seek. Default 3000.
    pub max_packets: usize,
    /// Widest frame returned; wider sources are scaled down (aspect kept). Default 1920.
    pub max_width: u32,
}

impl Default for ThumbnailOptions {
    fn default() -> Self {
        Self {
            position: 0.1,
            deadline: Duration::from_secs(10),
            max_packets: 3000,
            max_width: 1920,
        }
    }
}

/// A decoded frame: `width × height` pixels, RGB, 3 bytes each, rows packed (no padding).
#[derive(Clone, PartialEq, Eq)]
pub struct RgbFrame {
    /// Width in (square) pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for RgbFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RgbFrame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("bytes", &self.rgb.len())
            .finish()
    }
}

/// Extracts a frame of `path` on tokio's blocking pool.
///
/// # Errors
/// As [`extract_frame_blocking`], plus [`Error::Join`] if the blocking task failed.
pub async fn extract_frame(
    path: impl Into<PathBuf>,
    options: ThumbnailOptions,
) -> Result<RgbFrame> {
    let path = path.into();
    let what = format!("frame of {}", path.display());
    tokio::task::spawn_blocking(move || extract_frame_blocking(&path, &options))
        .await
        .map_err(|source| Error::Join { what, source })?
}

/// Extracts a frame of `path` on the calling thread.
///
/// # Errors
/// [`Error::Io`]/[`Error::NotAFile`]/[`Error::EmptyFile`] for a path that is not a readable
/// regular file, [`Error::NotMedia`] when FFmpeg cannot open it, [`Error::NotPlayable`] when it
/// has no video stream (cover art attachments do not count) or no frame decoded within the
/// bounds, [`Error::FrameTimeout`] past the deadline, [`Error::Ffmpeg`] when the decoder or the
/// scaler cannot be set up.
pub fn extract_frame_blocking(path: &Path, options: &ThumbnailOptions) -> Result<RgbFrame> {
    check_file(path)?;
    ffmpeg_next::init().map_err(|source| Error::Ffmpeg {
        what: "initialise FFmpeg".into(),
        source,
    })?;
    let started = Instant::now();
    let deadline = started + options.deadline;
    let timeout = || Error::FrameTimeout {
        path: path.to_owned(),
        after: options.deadline,
    };
    let mut input =
        ffmpeg_next::format::input_with_interrupt(path, move || Instant::now() >= deadline)
            .map_err(|source| {
                if Instant::now() >= deadline {
                    timeout()
                } else {
                    Error::NotMedia {
                        path: path.to_owned(),
                        source,
                    }
                }
            })?;
    let (index, time_base, stream_start, params) = input
        .streams()
        .filter(|s| s.parameters().medium() == Type::Video)
        .find(|s| !s.disposition().contains(Disposition::ATTACHED_PIC))
        .map(|s| (s.index(), s.time_base(), s.start_time(), s.parameters()))
        .ok_or_else(|| Error::NotPlayable {
            reason: format!("{} has no video stream", path.display()),
        })?;
    let mut decoder = codec::Context::from_parameters(params)
        .and_then(|c| c.decoder().video())
        .map_err(|source| Error::Ffmpeg {
            what: "open the video decoder".into(),
            source,
        })?;

    // Seek to the key frame at or before the target; a file that cannot seek is decoded from
    // its start (the first frame is then the picture).
    let duration = input.duration();
    let target_us = if duration > 0 {
        (duration as f64 * options.position.clamp(0.0, 1.0)) as i64
    } else {
        0
    };
    // The stream's first timestamp (MPEG-TS rarely starts at zero); none known: zero.
    let start_pts = if stream_start == ffmpeg_next::ffi::AV_NOPTS_VALUE {
        0
    } else {
        stream_start
    };
    let start_us = to_us(start_pts, time_base);
    let seek_to = start_us.saturating_add(target_us);
    if target_us > 0 && input.seek(seek_to, ..seek_to.saturating_add(1)).is_err() {
        tracing::debug!(path = %path.display(), "thumbnail: seek failed; decoding from the start");
    }
    let target_pts = start_pts.saturating_add(rescale_us(target_us, time_base));

    let mut decoded = frame::Video::empty();
    let mut best: Option<frame::Video> = None;
    let mut packet = Packet::empty();
    let mut packets = 0;
    let mut eof = false;
    while best.as_ref().is_none_or(|f| pts(f) < target_pts) {
        if Instant::now() >= deadline {
            return Err(timeout());
        }
        if eof {
            break;
        }
        if packets >= options.max_packets {
            break;
        }
        packets += 1;
        if packet.read(&mut input).is_err() {
            eof = true;
            let _ = decoder.send_eof();
        } else if packet.stream() != index || decoder.send_packet(&packet).is_err() {
            continue; // another stream, or a damaged packet
        }
        while decoder.receive_frame(&mut decoded).is_ok() {
            let reached = pts(&decoded) >= target_pts;
            best = Some(std::mem::replace(&mut decoded, frame::Video::empty()));
            if reached {
                break;
            }
        }
    }
    if Instant::now() >= deadline {
        return Err(timeout());
    }
    let frame = best.ok_or_else(|| Error::NotPlayable {
        reason: format!("no video frame of {} decoded", path.display()),
    })?;
    to_rgb(&frame, options.max_width)
}

/// The frame's timestamp (best effort), `i64::MIN` when it has none.
fn pts(frame: &frame::Video) -> i64 {
    frame.timestamp().or(frame.pts()).unwrap_or(i64::MIN)
}

/// Microseconds → `time_base` units.
fn rescale_us(us: i64, time_base: Rational) -> i64 {
    let (num, den) = (i128::from(time_base.0), i128::from(time_base.1));
    if num <= 0 || den <= 0 {
        return 0;
    }
    let v = i128::from(us) * den / (num * 1_000_000);
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `time_base` units → microseconds.
fn to_us(pts: i64, time_base: Rational) -> i64 {
    let (num, den) = (i128::from(time_base.0), i128::from(time_base.1));
    if num <= 0 || den <= 0 {
        return 0;
    }
    i64::try_from(i128::from(pts) * num * 1_000_000 / den).unwrap_or(0)
}

/// The output size: display aspect applied (square pixels), at most `max_width` wide, even.
pub fn display_size(width: u32, height: u32, sar: (i32, i32), max_width: u32) -> (u32, u32) {
    let (sn, sd) = match sar {
        (n, d) if n > 0 && d > 0 => (u64::from(n.unsigned_abs()), u64::from(d.unsigned_abs())),
        _ => (1, 1),
    };
    let w = (u64::from(width.max(1)) * sn / sd).max(1);
    let h = u64::from(height.max(1));
    let max_w = u64::from(max_width.max(2));
    let (w, h) = if w > max_w {
        (max_w, (h * max_w / w).max(1))
    } else {
        (w, h)
    };
    let even = |v: u64| u32::try_from(v.max(2) & !1).unwrap_or(!1);
    (even(w), even(h))
}

fn to_rgb(frame: &frame::Video, max_width: u32) -> Result<RgbFrame> {
    let sar = frame.aspect_ratio();
    let (width, height) = display_size(frame.width(), frame.height(), (sar.0, sar.1), max_width);
    let ffmpeg = |what: &str| {
        let what = what.to_owned();
        move |source| Error::Ffmpeg { what, source }
    };
    let mut scaler = Scaler::get(
        frame.format(),
        frame.width(),
        frame.height(),
        ffmpeg_next::format::Pixel::RGB24,
        width,
        height,
        Flags::BILINEAR,
    )
    .map_err(ffmpeg("set up the RGB scaler"))?;
    let mut rgb = frame::Video::empty();
    scaler
        .run(frame, &mut rgb)
        .map_err(ffmpeg("scale the frame to RGB"))?;
    let row = width as usize * 3;
    let stride = rgb.stride(0);
    let data = rgb.data(0);
    let mut out = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        let line = data
            .get(y * stride..y * stride + row)
            .ok_or_else(|| Error::Ffmpeg {
                what: "read the scaled frame".into(),
                source: ffmpeg_next::Error::Bug,
            })?;
        out.extend_from_slice(line);
    }
    Ok(RgbFrame {
        width,
        height,
        rgb: out,
    })
}

/// Refuses what is not a non-empty regular file (a FIFO would block the read for good).
fn check_file(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path: path.to_owned(),
        });
    }
    if meta.len() == 0 {
        return Err(Error::EmptyFile {
            path: path.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_size_applies_aspect_and_caps_width() {
        assert_eq!(display_size(640, 360, (1, 1), 1920), (640, 360));
        assert_eq!(display_size(720, 576, (16, 15), 1920), (768, 576));
        assert_eq!(display_size(3840, 2160, (0, 1), 1920), (1920, 1080));
        assert_eq!(display_size(1, 1, (1, 1), 1920), (2, 2));
        assert_eq!(display_size(301, 201, (1, 1), 1920), (300, 200));
    }

    #[test]
    fn microseconds_rescale_to_stream_units() {
        assert_eq!(rescale_us(2_000_000, Rational(1, 90_000)), 180_000);
        assert_eq!(rescale_us(1_000_000, Rational(1, 1000)), 1000);
        assert_eq!(rescale_us(5, Rational(0, 0)), 0);
        assert_eq!(to_us(180_000, Rational(1, 90_000)), 2_000_000);
        assert_eq!(to_us(7, Rational(0, 1)), 0);
    }

    #[test]
    fn refuses_directories_and_empty_files() {
        let dir = std::env::temp_dir();
        assert!(matches!(
            extract_frame_blocking(&dir, &ThumbnailOptions::default()),
            Err(Error::NotAFile { .. })
        ));
        let empty = dir.join(format!("ha-thumb-empty-{}.mp4", std::process::id()));
        std::fs::write(&empty, b"").unwrap();
        let result = extract_frame_blocking(&empty, &ThumbnailOptions::default());
        let _ = std::fs::remove_file(&empty);
        assert!(matches!(result, Err(Error::EmptyFile { .. })));
    }
}
