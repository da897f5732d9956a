//! The production [`JobRunner`]: the supervised worker process.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::runner::{JobRunner, RunOutcome, RunningJob};
use crate::hls::SegmentGate;
use crate::spec::JobSpec;
use crate::worker::error::{Result, WorkerError};
use crate::worker::{JobSummary, Supervisor};

/// Runs jobs in worker processes through a [`Supervisor`].
#[derive(Debug, Clone)]
pub struct WorkerRunner {
    supervisor: Supervisor,
}

impl WorkerRunner {
    /// A runner on `supervisor`.
    pub fn new(supervisor: Supervisor) -> Self {
        Self { supervisor }
    }
}

#[derive(Debug)]
struct WorkerRun {
    cancel: Arc<Notify>,
    /// The supervisor's wait, on its own task so that [`RunningJob::wait`] is cancel-safe
    /// (the manager selects over it and polls it again later).
    outcome: Option<JoinHandle<Result<JobSummary>>>,
}

#[async_trait]
impl JobRunner for WorkerRunner {
    async fn start(
        &self,
        spec: JobSpec,
        gate: Arc<dyn SegmentGate>,
    ) -> Result<Box<dyn RunningJob>> {
        let handle = self.supervisor.spawn(spec, gate)?;
        let cancel = handle.canceller();
        Ok(Box::new(WorkerRun {
            cancel,
            outcome: Some(tokio::spawn(handle.wait())),
        }))
    }
}

#[async_trait]
impl RunningJob for WorkerRun {
    fn cancel(&mut self) {
        self.cancel.notify_one();
    }

    async fn wait(&mut self) -> RunOutcome {
        let Some(task) = self.outcome.as_mut() else {
            return RunOutcome::Cancelled;
        };
        let result = task.await;
        self.outcome = None;
        match result {
            Ok(Ok(_summary)) => RunOutcome::Completed,
            Ok(Err(WorkerError::Cancelled)) => RunOutcome::Cancelled,
            Ok(Err(e)) => RunOutcome::Failed(e),
            Err(source) => RunOutcome::Failed(WorkerError::Join {
                what: "waiting for a transcode worker".into(),
                source,
            }),
        }
    }
}
