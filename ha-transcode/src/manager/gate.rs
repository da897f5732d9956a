//! The publish gate of an owned job: a segment is published only while this node's tenure is
//! current, and progress is recorded fenced by its token.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use ha_core::{FencingToken, KeeperStatus, TranscodeJobStore};
use tokio::sync::watch;

use super::events::{Announcer, TranscodeEvent};
use super::keys::JobKey;
use super::local::LocalJob;
use crate::hls::segment::SegmentReport;
use crate::hls::{PublishDecision, SegmentGate};

/// Checks the lease keeper and the job record's token before each publish.
#[derive(Debug)]
pub(crate) struct FencedGate {
    pub(crate) key: JobKey,
    pub(crate) token: FencingToken,
    pub(crate) jobs: Arc<dyn TranscodeJobStore>,
    pub(crate) lease: watch::Receiver<KeeperStatus>,
    /// The job's progress: requests waiting on this node wake when it moves.
    pub(crate) job: Arc<LocalJob>,
    /// Tells requests waiting on other replicas.
    pub(crate) announcer: Announcer,
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
                    key: self.key.to_string(),
                });
            }
            match self.jobs.get(self.key.as_str()).await {
                Ok(Some(record)) if record.token == self.token => return PublishDecision::Publish,
                Ok(Some(record)) => {
                    return PublishDecision::Veto(ha_core::Error::Fenced {
                        key: self.key.to_string(),
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
        // Waiting requests first (here, then on other replicas), the record after: a waiter
        // only needs the file, and the record is read by plans, which a segment never blocks.
        self.job.published(segment.index);
        self.announcer
            .send(&TranscodeEvent::SegmentReady {
                key: self.key.clone(),
                node: self.announcer.node().to_owned(),
                segment: segment.index,
            })
            .await;
        if let Err(e) = self
            .jobs
            .record_progress(self.key.as_str(), self.token, segment.index)
            .await
        {
            tracing::warn!(key = %self.key, segment = segment.index, error = %e,
                "could not record progress");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ha_core::memory::{MemoryEventBus, MemoryJobStore, MemoryLeaseManager};
    use ha_core::{JobClaim, KeeperConfig, LeaseKeeper, LeaseManager, SystemClock};
    use std::time::Duration;

    const KEY: &str = "00000000000000000000000000000001";

    fn claim(node: &str, token: FencingToken) -> JobClaim {
        JobClaim {
            key: KEY.into(),
            source: "item".into(),
            profile: "{}".into(),
            owner_node: node.into(),
            owner_addr: None,
            token,
            start_segment: 0,
        }
    }

    fn report(index: u32) -> SegmentReport {
        SegmentReport {
            index,
            temp_path: "/nonexistent/seg.ts.tmp".into(),
            duration_secs: 2.0,
            first_pts: 0,
            frame_count: 50,
            init_temp_path: None,
        }
    }

    #[tokio::test]
    async fn a_stale_owner_cannot_publish_after_a_takeover() {
        let leases = Arc::new(MemoryLeaseManager::new());
        let jobs: Arc<dyn TranscodeJobStore> = Arc::new(MemoryJobStore::new());
        let ttl = Duration::from_secs(30);
        let lease = leases.try_acquire(KEY, "a", ttl).await.unwrap().unwrap();
        jobs.claim(&claim("a", lease.token)).await.unwrap();
        let keeper = LeaseKeeper::spawn(
            leases.clone(),
            lease.clone(),
            SystemClock::shared(),
            KeeperConfig::default(),
        );
        let hand_over = super::super::handover::HandOverInfo {
            rendition: super::super::rendition::tests::rendition(),
            user: "u".into(),
        };
        let (job, _restarts) =
            super::super::local::new_local_job(0, tokio::time::Instant::now(), hand_over);
        let bus = Arc::new(MemoryEventBus::new());
        let gate = FencedGate {
            key: JobKey::parse(KEY).unwrap(),
            token: lease.token,
            jobs: jobs.clone(),
            lease: keeper.status(),
            job: job.clone(),
            announcer: Announcer::new(bus, "a"),
        };
        let mut progress = job.progress();
        assert!(matches!(
            gate.approve(&report(0)).await,
            PublishDecision::Publish
        ));
        gate.published(&report(0), Path::new("/x")).await;
        assert!(progress.has_changed().unwrap(), "local waiters are woken");
        assert_eq!(*progress.borrow_and_update(), 1);
        assert_eq!(job.run().next, 1);

        // B takes the job over with a newer token while A still believes it holds the lease.
        jobs.claim(&claim("b", FencingToken(lease.token.0 + 1)))
            .await
            .unwrap();
        match gate.approve(&report(1)).await {
            PublishDecision::Veto(ha_core::Error::Fenced {
                presented, current, ..
            }) => assert!(current > presented),
            other => panic!("expected a fenced veto, got {other:?}"),
        }
        // And A's progress write is fenced too: the record keeps B's state.
        gate.published(&report(1), Path::new("/x")).await;
        let record = jobs.get(KEY).await.unwrap().unwrap();
        assert_eq!(
            (record.owner_node.as_str(), record.last_segment),
            ("b", None)
        );
    }
}
