//! The transcode job as the cluster sees it, read straight from Redis: who owns it, how far it
//! got, and who holds its lease (what a takeover or a handover changes).

use media_ha::core::{JobRecord, LeaseManager, TranscodeJobStore};
use media_ha::redis::{RedisStore, RedisStoreConfig};

use super::setup::Shared;

/// A read-only view of one cluster's job records and leases.
pub struct JobView {
    store: RedisStore,
}

impl JobView {
    /// Connects to the cluster's Redis under its namespace.
    pub async fn connect(shared: &Shared) -> Self {
        let config = RedisStoreConfig::from_url(&shared.redis)
            .expect("a Redis URL")
            .with_prefix(shared.namespace.clone());
        Self {
            store: RedisStore::connect(config).await.expect("connect to Redis"),
        }
    }

    /// The one job of the cluster (one viewer, one rendition).
    pub async fn the_job(&self) -> JobRecord {
        let mut jobs = self.store.jobs().list().await.expect("list jobs");
        assert_eq!(jobs.len(), 1, "one shared job for one rendition: {jobs:?}");
        jobs.remove(0)
    }

    /// Who holds `job`'s lease now, if anyone. The key is `TranscodeManager`'s
    /// (`transcode:<job key>`, private to `ha-transcode`).
    pub async fn lease_holder(&self, job: &JobRecord) -> Option<String> {
        self.store
            .leases()
            .current(&format!("transcode:{}", job.key))
            .await
            .expect("read the job lease")
            .map(|l| l.holder)
    }
}
