//! The shared conformance suite of every contract, against a real PostgreSQL.
//!
//! Each test gets its own store (each `#[tokio::test]` has its own runtime, and a pool's
//! connections belong to the runtime that opened them). The event bus factory hands out stores
//! on one schema per process so two "replicas" hear each other; the others get a fresh schema
//! per test, so listings are not disturbed by concurrent tests.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ha_core::{EventBus, LeaseManager, MetadataRepo, SessionStore, SlotLimiter, TranscodeJobStore};

async fn leases() -> Arc<dyn LeaseManager> {
    Arc::new(common::fresh_store("lease").await.leases())
}

async fn jobs(retention: Duration) -> Arc<dyn TranscodeJobStore> {
    let schema = ha_testkit::unique("jobs");
    let store = common::store_with(&schema, |c| c.with_job_retention(retention)).await;
    Arc::new(store.jobs())
}

async fn sessions() -> Arc<dyn SessionStore> {
    Arc::new(common::fresh_store("sessions").await.sessions())
}

async fn events() -> Arc<dyn EventBus> {
    let schema = common::process_schema("events");
    Arc::new(common::store_on(schema).await.events())
}

async fn slots() -> Arc<dyn SlotLimiter> {
    Arc::new(common::fresh_store("slots").await.slots())
}

async fn metadata() -> Arc<dyn MetadataRepo> {
    Arc::new(common::fresh_store("meta").await.metadata())
}

ha_core::lease_manager_conformance!(leases);
ha_core::job_store_conformance!(jobs);
ha_core::session_store_conformance!(sessions);
ha_core::event_bus_conformance!(events);
ha_core::slot_limiter_conformance!(slots);
ha_core::metadata_repo_conformance!(metadata);

/// The session suite through the per-replica cache (`ha_core::session_cache`) over PostgreSQL.
mod cached_sessions {
    use super::*;
    use ha_core::session_cache::CachedSessionStore;

    async fn sessions() -> Arc<dyn SessionStore> {
        let store = common::fresh_store("csessions").await.sessions();
        Arc::new(CachedSessionStore::with_defaults(Arc::new(store)))
    }

    ha_core::session_store_conformance!(sessions);
}
