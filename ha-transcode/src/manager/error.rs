//! What a segment request can get instead of a segment.
//!
//! Each variant is something a client or an operator acts on differently, so a server maps
//! each to its own status (the reference server: 404, 409, 421, 429, 503, a store error as
//! the store's own mapping, and 500 only when this node's segment storage fails).

use std::path::PathBuf;
use std::time::Duration;

use super::keys::JobKey;

/// A segment request failed.
///
/// Deliberately not `#[non_exhaustive]`: a server is meant to match every variant (no
/// catch-all 500), so a new variant is a breaking change that makes it decide its status.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// The rendition has no such segment (past its end, or past where the source really ends).
    #[error("segment {index} out of range (the rendition has {count})")]
    OutOfRange {
        /// The segment asked for.
        index: u32,
        /// Segments in the rendition.
        count: u32,
    },
    /// An MPEG-TS rendition has no init segment; only fMP4 ones do.
    #[error("an MPEG-TS rendition has no init segment")]
    NoInitSegment,
    /// The job failed `attempts` times and is refused for the poison cool-down.
    #[error("transcode job {key} failed {attempts} times; refused for now")]
    Poisoned {
        /// The job.
        key: JobKey,
        /// Claims so far.
        attempts: u32,
    },
    /// No capacity for a new job (this node's job limit, or the user's).
    #[error("no transcode capacity: {what}")]
    CapacityExhausted {
        /// Which limit.
        what: String,
    },
    /// This node is shutting down and starts no jobs.
    #[error("shutting down: no new transcodes")]
    ShuttingDown,
    /// The segment did not become available within the segment wait.
    #[error("segment {index} not ready after {after:?}")]
    Timeout {
        /// The segment.
        index: u32,
        /// How long the request waited.
        after: Duration,
    },
    /// Node-local storage: another node owns the job (a forwarded request reached a former
    /// owner). The sender locates the segment again.
    #[error("transcode job {key} is owned by {owner}, not by this node")]
    NotOwner {
        /// The job.
        key: JobKey,
        /// The owner named by the job record.
        owner: String,
    },
    /// Node-local storage: the live owner advertised no address, so nobody can fetch from it.
    #[error("transcode job {key} is owned by {owner}, which advertised no address")]
    OwnerUnaddressable {
        /// The job.
        key: JobKey,
        /// The owner.
        owner: String,
    },
    /// A shared store (leases, job records, slots) failed.
    #[error("store error")]
    Store(#[source] ha_core::Error),
    /// A segment was published without the init segment that is published before it: the
    /// storage lost a file.
    #[error("segment published without its init segment ({path})")]
    InitMissing {
        /// Where the init segment should be.
        path: PathBuf,
    },
    /// The segment storage could not be listed (cleanup).
    #[error("cannot list the segment storage")]
    Storage(#[source] std::io::Error),
}

impl From<ha_core::Error> for SegmentError {
    fn from(e: ha_core::Error) -> Self {
        Self::Store(e)
    }
}

impl From<SegmentError> for ha_core::Error {
    fn from(err: SegmentError) -> Self {
        match err {
            SegmentError::Store(inner) => inner,
            SegmentError::Timeout { index, after } => ha_core::Error::Timeout {
                what: format!("segment {index}"),
                after,
            },
            SegmentError::OutOfRange { .. } | SegmentError::NoInitSegment => {
                ha_core::Error::NotFound(err.to_string())
            }
            SegmentError::Poisoned { .. }
            | SegmentError::CapacityExhausted { .. }
            | SegmentError::NotOwner { .. } => ha_core::Error::Conflict(err.to_string()),
            SegmentError::ShuttingDown | SegmentError::OwnerUnaddressable { .. } => {
                ha_core::Error::Unavailable {
                    what: "transcoding".into(),
                    source: Some(Box::new(err)),
                }
            }
            other => ha_core::Error::backend("transcode", other),
        }
    }
}
