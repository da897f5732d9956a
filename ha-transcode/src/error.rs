//! The error of inspecting media: probing a file, deciding how to play it, extracting a frame.
//!
//! Why one enum for these: their callers (the library scan, the playback decision, artwork)
//! only need to know *what kind* of failure happened — the file is not media, the probe took
//! too long, the profile is malformed — to decide between "mark the item broken", "retry later"
//! and "tell the client". The other two boundaries have their own errors: a transcode run
//! returns [`WorkerError`](crate::worker::WorkerError) (crash, stall, veto, a broken pipe), a
//! segment request returns [`SegmentError`](crate::manager::SegmentError) (capacity,
//! ownership, timeouts: what a server turns into an HTTP status). Every variant keeps its
//! cause as the [`std::error::Error::source`] (an [`ffmpeg_next::Error`], an
//! [`std::io::Error`], ...), so logs still show the whole chain, and the enum converts into
//! [`ha_core::Error`] at the contract boundary without flattening it.

use std::path::PathBuf;
use std::time::Duration;

/// Shorthand for `Result<T, ha_transcode::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong probing, deciding on or reading a frame of a media file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The path could not be inspected (missing, permission denied, ...).
    #[error("cannot read {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The path exists but is not a regular file (a directory, a FIFO, a socket, a device).
    #[error("{path} is not a regular file")]
    NotAFile {
        /// The path.
        path: PathBuf,
    },
    /// The file is empty.
    #[error("{path} is empty")]
    EmptyFile {
        /// The path.
        path: PathBuf,
    },
    /// FFmpeg could not recognise or read the file as media (corrupt, truncated, not media).
    #[error("{path} is not a readable media file")]
    NotMedia {
        /// The path.
        path: PathBuf,
        /// FFmpeg's error.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// The container opened but holds no audio, video or subtitle stream.
    #[error("{path} has no media streams")]
    NoStreams {
        /// The path.
        path: PathBuf,
    },
    /// Probing took longer than its deadline and was interrupted.
    #[error("probing {path} timed out after {after:?}")]
    ProbeTimeout {
        /// The path.
        path: PathBuf,
        /// The deadline that was exceeded.
        after: Duration,
    },
    /// Extracting a still frame took longer than its deadline and was interrupted.
    #[error("extracting a frame of {path} timed out after {after:?}")]
    FrameTimeout {
        /// The path.
        path: PathBuf,
        /// The deadline that was exceeded.
        after: Duration,
    },
    /// An FFmpeg call failed for another reason.
    #[error("ffmpeg failed: {what}")]
    Ffmpeg {
        /// What was being done.
        what: String,
        /// FFmpeg's error.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// A device profile could not be parsed.
    #[error("invalid device profile")]
    InvalidProfile {
        /// The JSON parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The file cannot be played as asked: no audio or video stream, or the requested audio or
    /// subtitle stream does not exist.
    #[error("not playable: {reason}")]
    NotPlayable {
        /// What is missing.
        reason: String,
    },
    /// A blocking task (run with `spawn_blocking`) panicked or was cancelled.
    #[error("blocking task for {what} failed")]
    Join {
        /// What the task was doing.
        what: String,
        /// Tokio's error.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl Error {
    /// True when the input itself is bad (not media, empty, no streams, not a file): retrying
    /// will not help and the item should be marked as unplayable.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::NotAFile { .. }
                | Error::EmptyFile { .. }
                | Error::NotMedia { .. }
                | Error::NoStreams { .. }
        )
    }
}

impl From<Error> for ha_core::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::Io {
                ref path,
                ref source,
            } if source.kind() == std::io::ErrorKind::NotFound => {
                ha_core::Error::NotFound(path.display().to_string())
            }
            Error::ProbeTimeout { ref path, after } => ha_core::Error::Timeout {
                what: format!("probe of {}", path.display()),
                after,
            },
            Error::FrameTimeout { ref path, after } => ha_core::Error::Timeout {
                what: format!("frame of {}", path.display()),
                after,
            },
            Error::NotAFile { .. }
            | Error::EmptyFile { .. }
            | Error::NotMedia { .. }
            | Error::NoStreams { .. } => ha_core::Error::decode("media file", err),
            Error::InvalidProfile { .. } => ha_core::Error::decode("device profile", err),
            Error::NotPlayable { reason } => ha_core::Error::Invalid(reason),
            other => ha_core::Error::backend("transcode", other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn keeps_the_ffmpeg_source_through_ha_core() {
        let err = Error::NotMedia {
            path: "/x.mkv".into(),
            source: ffmpeg_next::Error::InvalidData,
        };
        assert!(err.is_bad_input());
        let core: ha_core::Error = err.into();
        assert!(matches!(core, ha_core::Error::Decode { .. }));
        let ours = core.source().expect("source kept");
        let ff = ours.source().expect("ffmpeg source kept");
        assert!(ff.downcast_ref::<ffmpeg_next::Error>().is_some());
    }

    #[test]
    fn missing_file_is_not_found_and_timeout_is_timeout() {
        let err = Error::Io {
            path: "/nope".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(matches!(
            ha_core::Error::from(err),
            ha_core::Error::NotFound(_)
        ));
        let err = Error::ProbeTimeout {
            path: "/fifo".into(),
            after: Duration::from_secs(1),
        };
        assert!(ha_core::Error::from(err).is_transient());
    }
}
