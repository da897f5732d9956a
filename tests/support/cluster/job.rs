//! The transcode job as the cluster sees it, read straight from the store that holds it (Redis,
//! or PostgreSQL for a cluster without Redis): who owns it, how far it got, and who holds its
//! lease (what a takeover or a handover changes).

use std::sync::Arc;

use media_ha::core::{JobRecord, LeaseManager, TranscodeJobStore};
use media_ha::postgres::{PgStore, PgStoreConfig};
use media_ha::redis::{RedisStore, RedisStoreConfig};

use super::setup::Shared;

/// A read-only view of one cluster's job records and leases.
pub struct JobView {
    jobs: Arc<dyn TranscodeJobStore>,
    leases: Arc<dyn LeaseManager>,
}

impl JobView {
    /// Connects to the cluster's coordination store under its namespace.
    pub async fn connect(shared: &Shared) -> Self {
        if shared.use_redis {
            let config = RedisStoreConfig::from_url(&shared.redis)
                .expect("a Redis URL")
                .with_prefix(shared.namespace.clone());
            let store = RedisStore::connect(config).await.expect("connect to Redis");
            return Self {
                jobs: Arc::new(store.jobs()),
                leases: Arc::new(store.leases()),
            };
        }
        let config = PgStoreConfig::from_url(&shared.postgres)
            .expect("a PostgreSQL URL")
            .with_schema(shared.namespace.clone());
        // The replicas migrated the schema already.
        let store = PgStore::connect_without_migrating(config).expect("connect to PostgreSQL");
        Self {
            jobs: Arc::new(store.jobs()),
            leases: Arc::new(store.leases()),
        }
    }

    /// The one job of the cluster (one viewer, one rendition).
    pub async fn the_job(&self) -> JobRecord {
        let mut jobs = self.jobs.list().await.expect("list jobs");
        assert_eq!(jobs.len(), 1, "one shared job for one rendition: {jobs:?}");
        jobs.remove(0)
    }

    /// Who holds `job`'s lease now, if anyone. The key is `TranscodeManager`'s
    /// (`transcode:<job key>`, private to `ha-transcode`).
    pub async fn lease_holder(&self, job: &JobRecord) -> Option<String> {
        self.leases
            .current(&format!("transcode:{}", job.key))
            .await
            .expect("read the job lease")
            .map(|l| l.holder)
    }
}
