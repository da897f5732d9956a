//! The durable record of a transcode job, shared by every replica.
//!
//! # Why a record beside the lease
//!
//! The lease says who runs a job *now*; the record says what the job is and how far it got. The
//! record outlives the lease (a configurable retention, minutes) so that when an owner dies a
//! survivor can find the orphan, see its last completed segment and resume right after it.
//! Every write is fenced by the owner's lease token: a stale owner that wakes up after a
//! takeover gets [`Error::Fenced`](crate::Error::Fenced) and stops.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{FencingToken, Result};

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// An owner is (or was, until its lease expired) producing segments.
    Running,
    /// Every segment exists.
    Completed,
    /// The job failed; [`JobRecord::failure`] says why.
    Failed,
    /// Stopped on purpose (idle, cancelled, owner shutting down).
    Stopped,
}

impl JobState {
    /// The stable lower-case name used in stores.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Stopped => "stopped",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "running" => JobState::Running,
            "completed" => JobState::Completed,
            "failed" => JobState::Failed,
            "stopped" => JobState::Stopped,
            other => {
                return Err(crate::Error::Invalid(format!(
                    "unknown job state {other:?}"
                )))
            }
        })
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an owner asks for when it starts or takes over a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobClaim {
    /// The job key (source + output profile + stream choices), also the lease key suffix.
    pub key: String,
    /// The source (an item id or path).
    pub source: String,
    /// The output profile, opaque to the store (e.g. JSON).
    pub profile: String,
    /// The owner's node id.
    pub owner_node: String,
    /// Where the owner can be reached for proxied segment requests.
    pub owner_addr: Option<String>,
    /// The owner's lease token.
    pub token: FencingToken,
    /// The first segment this run produces.
    pub start_segment: u32,
}

/// The stored job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job key.
    pub key: String,
    /// The source.
    pub source: String,
    /// The output profile.
    pub profile: String,
    /// The current (or last) owner's node id.
    pub owner_node: String,
    /// The current owner's advertised address.
    pub owner_addr: Option<String>,
    /// The token of the current tenure; writes with another token are fenced.
    pub token: FencingToken,
    /// The first segment of the current run.
    pub start_segment: u32,
    /// The highest segment the current run completed, if any.
    pub last_segment: Option<u32>,
    /// Where the job stands.
    pub state: JobState,
    /// How many tenures have claimed this job (1 for a job never taken over).
    pub attempts: u32,
    /// Why the job failed, when it did.
    pub failure: Option<String>,
    /// Created, store clock, ms since the Unix epoch.
    pub created_ms: u64,
    /// Last written, store clock, ms since the Unix epoch.
    pub updated_ms: u64,
}

impl JobRecord {
    /// The next segment the current run will produce.
    pub fn next_segment(&self) -> u32 {
        self.last_segment.map_or(self.start_segment, |s| s + 1)
    }
}

/// Durable, fenced job records.
///
/// Records expire a retention period (a backend setting, default five minutes) after their last
/// write, so the store does not grow without bound yet outlives any lease.
///
/// # Example
///
/// ```
/// use ha_core::{memory::MemoryJobStore, FencingToken, JobClaim, TranscodeJobStore, Error};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ha_core::Result<()> {
/// let jobs = MemoryJobStore::new();
/// let claim = |node: &str, token| JobClaim {
///     key: "movie-1/720p".into(), source: "movie-1".into(), profile: "{}".into(),
///     owner_node: node.into(), owner_addr: None, token: FencingToken(token), start_segment: 0,
/// };
/// jobs.claim(&claim("a", 10)).await?;
/// jobs.record_progress("movie-1/720p", FencingToken(10), 0).await?;
///
/// // Node b takes over with a newer token and resumes after segment 0.
/// let taken = jobs.claim(&JobClaim { start_segment: 1, ..claim("b", 11) }).await?;
/// assert_eq!(taken.attempts, 2);
///
/// // Node a wakes up: its writes are fenced.
/// let stale = jobs.record_progress("movie-1/720p", FencingToken(10), 1).await;
/// assert!(matches!(stale, Err(Error::Fenced { .. })));
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait TranscodeJobStore: Send + Sync + fmt::Debug + 'static {
    /// Creates the record, or hands it to the claimant. Accepted when no record exists or
    /// `claim.token >= record.token` (an equal token is the same tenure restarting at another
    /// segment). The run starts at `claim.start_segment` with no completed segment, state
    /// [`JobState::Running`], failure cleared; `attempts` grows by one when the token is new.
    ///
    /// Tokens are the ones the backend's own [`LeaseManager`](crate::LeaseManager) issues. A
    /// backend that can lose its records (Redis without persistence) may also refuse, when no
    /// record exists, a token older than anything it can vouch for (older than its own start):
    /// such a token belongs to a lease the store already lost.
    ///
    /// # Errors
    /// [`Error::Fenced`](crate::Error::Fenced) when the record holds a newer token, or (see
    /// above) when there is no record and the token predates the store's memory.
    async fn claim(&self, claim: &JobClaim) -> Result<JobRecord>;

    /// The record for `key`, if it exists and has not passed its retention.
    async fn get(&self, key: &str) -> Result<Option<JobRecord>>;

    /// Records that `segment` is complete. Progress only moves forward: a segment at or below
    /// the recorded one leaves it unchanged (and is not an error).
    ///
    /// # Errors
    /// [`Error::Fenced`](crate::Error::Fenced) when `token` is not the record's token;
    /// [`Error::NotFound`](crate::Error::NotFound) when there is no record.
    async fn record_progress(
        &self,
        key: &str,
        token: FencingToken,
        segment: u32,
    ) -> Result<JobRecord>;

    /// Moves the job to `state` (with an optional failure reason), fenced like progress.
    async fn set_state(
        &self,
        key: &str,
        token: FencingToken,
        state: JobState,
        failure: Option<&str>,
    ) -> Result<JobRecord>;

    /// Every live record (for start-up cleanup and admin views).
    async fn list(&self) -> Result<Vec<JobRecord>>;

    /// Deletes the record regardless of token (cleanup). Returns whether one existed.
    async fn remove(&self, key: &str) -> Result<bool>;
}
