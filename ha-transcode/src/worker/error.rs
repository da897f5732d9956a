//! What can stop a transcode run: the worker process, its pipeline, and publishing its
//! segments.
//!
//! Why its own enum: whoever runs a transcode (the manager, a test, a batch tool) decides
//! between "the job is poison" (the input or the encoder failed), "this node is at fault"
//! (cannot start a process, a pipe broke) and "this tenure is over" (a publish was vetoed);
//! none of that is a probe's question (the crate's [`Error`](crate::Error)) or a segment
//! request's ([`SegmentError`](crate::manager::SegmentError)). Every variant keeps its cause,
//! and no variant invents a path: an I/O error on a file names the file, an I/O error on a
//! pipe or a thread is its own variant.

use std::path::PathBuf;
use std::time::Duration;

/// Shorthand for a run's result.
pub(crate) type Result<T, E = WorkerError> = std::result::Result<T, E>;

/// Why a transcode run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkerError {
    /// A file of the run (the output directory, a segment, the init segment) could not be
    /// written, read or renamed.
    #[error("cannot write {path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// FFmpeg could not open the job's input as media.
    #[error("{path} is not a readable media file")]
    NotMedia {
        /// The input.
        path: PathBuf,
        /// FFmpeg's error.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// An FFmpeg call failed while transcoding.
    #[error("ffmpeg failed: {what}")]
    Ffmpeg {
        /// What was being done.
        what: String,
        /// FFmpeg's error.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// The job spec cannot be run (no video stream, bad segment length, ...).
    #[error("invalid transcode job: {0}")]
    InvalidJob(String),
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
    /// The worker process died (non-zero exit or a signal) before finishing.
    #[error("transcode worker crashed: {status}")]
    WorkerCrashed {
        /// The exit status as reported by the OS, e.g. `signal: 6 (SIGABRT)`.
        status: String,
        /// The last lines the worker wrote to stderr.
        stderr_tail: String,
    },
    /// The worker made no progress within the deadline and was killed.
    #[error("transcode worker stalled: no progress for {after:?}")]
    WorkerStalled {
        /// The progress deadline.
        after: Duration,
    },
    /// The worker reported an error and exited.
    #[error("transcode worker failed: {message}")]
    WorkerFailed {
        /// The worker's error message (with its chain: it crossed a process boundary).
        message: String,
    },
    /// The worker wrote a line that is not a report (or could not parse its job spec).
    #[error("unreadable report from the transcode worker: {line:?}")]
    WorkerProtocol {
        /// The line.
        line: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The run was cancelled by the caller.
    #[error("transcode cancelled")]
    Cancelled,
    /// The worker process could not be started.
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
    /// The task waiting for the worker panicked or was cancelled.
    #[error("blocking task for {what} failed")]
    Join {
        /// What the task was doing.
        what: String,
        /// Tokio's error.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl From<WorkerError> for ha_core::Error {
    fn from(err: WorkerError) -> Self {
        match err {
            // A veto carries the manager's own reason (Fenced, LeaseLost): hand it back as is.
            WorkerError::Vetoed { source, .. } => source,
            WorkerError::WorkerStalled { after } => ha_core::Error::Timeout {
                what: "transcode worker".into(),
                after,
            },
            WorkerError::InvalidJob(reason) => ha_core::Error::Invalid(reason),
            WorkerError::NotMedia { .. } => ha_core::Error::decode("media file", err),
            other => ha_core::Error::backend("transcode", other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_veto_hands_back_the_managers_reason() {
        let err = WorkerError::Vetoed {
            index: 3,
            source: ha_core::Error::LeaseLost { key: "job".into() },
        };
        assert!(err.source().is_some());
        assert!(matches!(
            ha_core::Error::from(err),
            ha_core::Error::LeaseLost { .. }
        ));
    }

    #[test]
    fn a_broken_pipe_keeps_its_io_source_and_names_no_path() {
        let err = WorkerError::WorkerReports(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        let io = err.source().expect("source kept");
        assert!(io.downcast_ref::<std::io::Error>().is_some());
        assert!(!err.to_string().contains('<'), "{err}");
        let core: ha_core::Error = err.into();
        assert!(
            core.source().is_some(),
            "the chain survives the contract boundary"
        );
    }
}
