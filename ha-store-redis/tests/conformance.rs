//! The shared ha-core conformance suite against a real Redis (`HA_TEST_REDIS_URL`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use ha_core::{EventBus, LeaseManager, SessionStore, SlotLimiter, TranscodeJobStore};

async fn leases() -> Arc<dyn LeaseManager> {
    Arc::new(common::store().await.leases())
}

async fn jobs(retention: Duration) -> Arc<dyn TranscodeJobStore> {
    Arc::new(common::store_with_job_retention(retention).await.jobs())
}

async fn sessions() -> Arc<dyn SessionStore> {
    Arc::new(common::store().await.sessions())
}

/// Every call is a separate connection (a separate "replica") on one shared channel.
async fn events() -> Arc<dyn EventBus> {
    Arc::new(
        common::store_with_prefix("ha-redis-conformance")
            .await
            .events(),
    )
}

async fn slots() -> Arc<dyn SlotLimiter> {
    Arc::new(common::store().await.slots())
}

ha_core::lease_manager_conformance!(leases);
ha_core::job_store_conformance!(jobs);
ha_core::session_store_conformance!(sessions);
ha_core::event_bus_conformance!(events);
ha_core::slot_limiter_conformance!(slots);
