//! The publish gate of an owned job: a segment is published only while this node's tenure is
//! current, and progress is recorded fenced by its token.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use ha_core::{FencingToken, KeeperStatus, TranscodeJobStore};
use tokio::sync::watch;

use crate::hls::segment::SegmentReport;
use crate::hls::{PublishDecision, SegmentGate};

/// Checks the lease keeper and the job record's token before each publish.
#[derive(Debug)]
pub(crate) struct FencedGate {
    pub(crate) key: String,
    pub(crate) token: FencingToken,
    pub(crate) jobs: Arc<dyn TranscodeJobStore>,
    pub(crate) lease: watch::Receiver<KeeperStatus>,
    /// The next segment the run will publish (read by the manager's planner).
    pub(crate) next: Arc<AtomicU32>,
}

#[async_trait]
impl SegmentGate for FencedGate {
    async fn approve(&self, _segment: &SegmentReport) -> PublishDecision {
        // A short store outage (a Redis restart) should cost a stall, not the run: retry while
        // the keeper still holds the lease; it reports loss before the TTL could run out.
        let mut attempt = 0;
        loop {
            if !matches!(&*self.lease.borrow(), KeeperStatus::Held(_)) {
                return PublishDecision::Veto(ha_core::Error::LeaseLost {
                    key: self.key.clone(),
                });
            }
            match self.jobs.get(&self.key).await {
                Ok(Some(record)) if record.token == self.token => return PublishDecision::Publish,
                Ok(Some(record)) => {
                    return PublishDecision::Veto(ha_core::Error::Fenced {
                        key: self.key.clone(),
                        presented: self.token,
                        current: record.token,
                    })
                }
                Ok(None) => {
                    return PublishDecision::Veto(ha_core::Error::NotFound(format!(
                        "job record {}",
                        self.key
                    )))
                }
                Err(e) if e.is_transient() && attempt < 50 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return PublishDecision::Veto(e),
            }
        }
    }

    async fn published(&self, segment: &SegmentReport, _path: &Path) {
        self.next.fetch_max(segment.index + 1, Ordering::SeqCst);
        if let Err(e) = self
            .jobs
            .record_progress(&self.key, self.token, segment.index)
            .await
        {
            tracing::warn!(key = %self.key, segment = segment.index, error = %e,
                "could not record progress");
        }
    }
}
