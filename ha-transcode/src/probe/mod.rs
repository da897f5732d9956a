//! Probe: what is in a media file.
//!
//! [`probe`] (async) and [`probe_blocking`] open a file with FFmpeg, read just enough of it to
//! identify every stream, and return a [`MediaProbe`]: plain serde data the server stores with
//! the item and the [playback decision](crate::decision) reads later without FFmpeg.
//!
//! Why the care: library scans probe every file a user drops in a folder, including broken
//! downloads, text files with a video extension and, occasionally, a FIFO. Each of those gives
//! a typed [`Error`](enum@crate::Error) — `NotMedia`, `EmptyFile`, `NotAFile`, `NoStreams`,
//! `ProbeTimeout` — never a panic, and no probe can take unbounded time or read unbounded data
//! (see [`ProbeOptions`]). Probing is blocking I/O plus CPU in libavformat, so the async
//! version runs it on tokio's blocking pool, never on the runtime threads that renew leases.
//!
//! | file | what |
//! |---|---|
//! | `model.rs` | [`MediaProbe`], [`StreamInfo`] and the per-kind details |
//! | `options.rs` | [`ProbeOptions`]: the bounds and why |
//! | `classify.rs` | pure rules: HDR kind, Dolby Vision record, container name |
//! | `read.rs` | the FFmpeg calls |
//! | `raw.rs` | the few FFI reads ffmpeg-next has no accessor for |
//! | `hdr_meta.rs` | HDR10 mastering display / content light level from side-data bytes |
//! | `first_frame.rs` | decoding a PQ stream's first frame for SEI-only HDR10 and HDR10+ |

mod classify;
mod first_frame;
mod hdr_meta;
mod model;
mod options;
mod raw;
mod read;

use std::path::{Path, PathBuf};

pub use classify::{classify_hdr, container_name, is_text_subtitle, parse_dovi};
pub use model::{
    AudioInfo, ContentLightLevel, DisplayPrimaries, DoviConfig, FieldOrder, HdrFormat,
    MasteringDisplay, MediaProbe, StreamInfo, StreamKind, SubtitleInfo, VideoInfo, VideoRangeType,
};
pub use options::ProbeOptions;

use crate::{Error, Result};

/// Probes `path` with [`ProbeOptions::default`] on the calling thread.
///
/// # Errors
/// [`Error::Io`] when the path cannot be inspected, [`Error::NotAFile`] for a directory (or a
/// FIFO, socket or device), [`Error::EmptyFile`], [`Error::NotMedia`] when FFmpeg cannot read
/// it, [`Error::NoStreams`] when it holds no audio, video or subtitles, [`Error::ProbeTimeout`]
/// past the deadline.
pub fn probe_blocking(path: impl AsRef<Path>) -> Result<MediaProbe> {
    read::probe_file(path.as_ref(), &ProbeOptions::default())
}

/// Probes `path` with explicit limits on the calling thread.
///
/// # Errors
/// As [`probe_blocking`].
pub fn probe_blocking_with(path: impl AsRef<Path>, options: &ProbeOptions) -> Result<MediaProbe> {
    read::probe_file(path.as_ref(), options)
}

/// Probes `path` with [`ProbeOptions::default`] on tokio's blocking pool.
///
/// # Errors
/// As [`probe_blocking`], plus [`Error::Join`] if the blocking task panicked or was cancelled.
pub async fn probe(path: impl Into<PathBuf>) -> Result<MediaProbe> {
    probe_with(path, ProbeOptions::default()).await
}

/// Probes `path` with explicit limits on tokio's blocking pool.
///
/// # Errors
/// As [`probe`].
pub async fn probe_with(path: impl Into<PathBuf>, options: ProbeOptions) -> Result<MediaProbe> {
    let path = path.into();
    let what = format!("probe of {}", path.display());
    tokio::task::spawn_blocking(move || read::probe_file(&path, &options))
        .await
        .map_err(|source| Error::Join { what, source })?
}
