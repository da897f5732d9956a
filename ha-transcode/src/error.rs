//! The one error type of `ha-transcode`.
//!
//! Why one enum for the whole crate: callers (the server, the job supervisor) only need to know
//! *what kind* of failure happened — the file is not media, the probe took too long, FFmpeg
//! failed mid-way — to decide between "mark the item broken", "retry later" and "give up on this
//! job". Every variant keeps its cause as the [`std::error::Error::source`] (an
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
    /// A shared store (leases, job records, slots, events) failed.
    #[error("store error")]
    Store(#[source] ha_core::Error),
    /// The job failed on `attempts` claims and is refused until its cool-down ends.
    #[error("transcode job {key} failed {attempts} times; refused for now")]
    Poisoned {
        /// The job key.
        key: crate::manager::JobKey,
        /// Claims so far.
        attempts: u32,
    },
    /// No capacity left for another transcode (node, user or device limit).
    #[error("no transcode capacity: {what}")]
    CapacityExhausted {
        /// Which limit.
        what: String,
    },
    /// The manager's configuration cannot work.
    #[error(transparent)]
    Config(#[from] crate::manager::ConfigError),
    /// This node is shutting down and starts no jobs.
    #[error("shutting down: no new transcodes")]
    ShuttingDown,
    /// A segment did not become available in time.
    #[error("segment {index} not ready after {after:?}")]
    SegmentTimeout {
        /// The segment.
        index: u32,
        /// How long we waited.
        after: Duration,
    },
    /// A segment index past the end of the rendition.
    #[error("segment {index} out of range (the rendition has {count})")]
    SegmentOutOfRange {
        /// The segment asked for.
        index: u32,
        /// How many there are.
        count: u32,
    },
    /// Node-local storage: a request forwarded to this node for a job another node owns
    /// (ownership moved while it was on its way); the sender locates the owner again.
    #[error("transcode job {key} is owned by {owner}, not by this node")]
    NotOwner {
        /// The job key.
        key: crate::manager::JobKey,
        /// The owner's node id.
        owner: String,
    },
    /// Node-local storage: the job's live owner advertised no address, so no other replica
    /// can fetch its segments (configure an advertised address on every replica).
    #[error("transcode job {key} is owned by {owner}, which advertised no address")]
    OwnerUnaddressable {
        /// The job key.
        key: crate::manager::JobKey,
        /// The owner's node id.
        owner: String,
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
            // A veto carries the manager's own reason (Fenced, LeaseLost): hand it back as is.
            Error::Vetoed { source, .. } => source,
            Error::WorkerStalled { after } => ha_core::Error::Timeout {
                what: "transcode worker".into(),
                after,
            },
            Error::InvalidJob(reason) => ha_core::Error::Invalid(reason),
            Error::Store(inner) => inner,
            Error::SegmentTimeout { index, after } => ha_core::Error::Timeout {
                what: format!("segment {index}"),
                after,
            },
            Error::SegmentOutOfRange { .. } => ha_core::Error::NotFound(err.to_string()),
            Error::ShuttingDown => ha_core::Error::Unavailable {
                what: "transcoding on this node".into(),
                source: Some(Box::new(err)),
            },
            Error::Poisoned { .. } | Error::CapacityExhausted { .. } | Error::NotOwner { .. } => {
                ha_core::Error::Conflict(err.to_string())
            }
            Error::OwnerUnaddressable { .. } => ha_core::Error::Unavailable {
                what: "the transcode job's owner".into(),
                source: Some(Box::new(err)),
            },
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
