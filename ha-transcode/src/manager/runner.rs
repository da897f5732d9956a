//! The seam between the manager and whatever runs a transcode.
//!
//! The manager decides *who* runs *which* segments; a [`JobRunner`] runs them. The production
//! runner is the supervised worker process ([`crate::worker`]); keeping the seam a trait keeps
//! the ownership protocol independent of how frames are encoded.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;

use crate::hls::SegmentGate;
use crate::spec::JobSpec;
use crate::worker::error::Result;

/// How a run ended.
#[derive(Debug)]
pub enum RunOutcome {
    /// Every segment up to the end was published.
    Completed,
    /// Stopped by [`RunningJob::cancel`].
    Cancelled,
    /// The run failed (crash, stall, decode error, veto); the job counts one failure.
    Failed(crate::worker::WorkerError),
}

/// Starts runs.
#[async_trait]
pub trait JobRunner: Send + Sync + Debug + 'static {
    /// Starts `spec`; every finished segment goes through `gate` before it is published.
    async fn start(&self, spec: JobSpec, gate: Arc<dyn SegmentGate>)
        -> Result<Box<dyn RunningJob>>;
}

/// A run in progress.
#[async_trait]
pub trait RunningJob: Send + Debug {
    /// Stops the run at once (the worker is killed; nothing more is published).
    fn cancel(&mut self);
    /// Resolves when the run has ended, and how.
    async fn wait(&mut self) -> RunOutcome;
}
