//! The error of the media pipeline: probing, deciding, extracting a frame, and running a
//! transcode in the worker.
//!
//! Why one enum for the pipeline: callers (the server, the job supervisor) only need to know
//! *what kind* of failure happened — the file is not media, the probe took too long, FFmpeg
//! failed mid-way — to decide between "mark the item broken", "retry later" and "give up on this
//! job". A segment request has its own error, [`SegmentError`](crate::manager::SegmentError):
//! what a viewer waiting for a segment can be told is a different list (capacity, ownership,
//! timeouts), and the server maps each of those to its own HTTP status. Every variant keeps its cause as the [`std::error::Error::source`] (an
//! [`ffmpeg_next::Error`], an [`std::io::Error`], ...), so logs still show the whole chain, and the
//! enum converts into [`ha_core::Error`] at the contract boundary without flattening it.

use std::path::PathBuf;
use std::time::Duration;

/// Shorthand for `Result<T, ha_transcode::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong in the media pipeline.
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
    /// The publish hook vetoed a finished segment (e.g. the fencing token is stale); the
    /// segment was deleted and the run stopped.
    #[error("publishing segment {index} was vetoed")]
    Vetoed {
        /// The segment index.
        index: u32,
        /// The hook's reason.
        #[source]
        source: ha_core::Error,
    },
    /// The transcode worker process died (non-zero exit or a signal) before finishing.
    #[error("transcode worker crashed: {status}")]
    WorkerCrashed {
        /// The exit status as reported by the OS, e.g. `signal: 6 (SIGABRT)`.
        status: String,
        /// The last lines the worker wrote to stderr.
        stderr_tail: String,
    },
    /// The transcode worker made no progress within the deadline and was killed.
    #[error("transcode worker stalled: no progress for {after:?}")]
    WorkerStalled {
        /// The progress deadline.
        after: Duration,
    },
    /// The transcode worker reported an error and exited.
    #[error("transcode worker failed: {message}")]
    WorkerFailed {
        /// The worker's error message (with its chain).
        message: String,
    },
    /// The worker wrote a line that is not a report.
    #[error("unreadable report from the transcode worker: {line:?}")]
    WorkerProtocol {
        /// The line.
        line: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The job was cancelled by the caller.
    #[error("transcode cancelled")]
    Cancelled,
    /// The job spec cannot be run (no video stream, bad segment length, ...).
    #[error("invalid transcode job: {0}")]
    InvalidJob(String),
    /// The transcode worker could not be started.
    #[error("cannot start the transcode worker {program}")]
    WorkerSpawn {
        /// The executable.
        program: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// This program's own executable could not be found (to re-execute it as the worker).
    #[error("cannot find this program's executable")]
    CurrentExe(#[source] std::io::Error),
    /// Reading the worker's reports (its stdout) failed.
    #[error("cannot read the transcode worker's reports")]
    WorkerReports(#[source] std::io::Error),
    /// Waiting for the worker process to exit failed.
    #[error("cannot wait for the transcode worker to exit")]
    WorkerWait(#[source] std::io::Error),
    /// The worker could not read its job spec from its stdin.
    #[error("the transcode worker cannot read its job from stdin")]
    WorkerStdin(#[source] std::io::Error),
    /// The worker could not start its encoder thread.
    #[error("cannot start the encoder thread")]
    EncoderThread(#[source] std::io::Error),
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
            // A veto carries the manager's own reason (Fenced, LeaseLost): hand it back as is.
            Error::Vetoed { source, .. } => source,
            Error::WorkerStalled { after } => ha_core::Error::Timeout {
                what: "transcode worker".into(),
                after,
            },
            Error::InvalidJob(reason) => ha_core::Error::Invalid(reason),
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
