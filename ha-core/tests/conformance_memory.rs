//! The conformance suite against the in-process backends.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ha_core::memory::{
    MemoryEventBus, MemoryJobStore, MemoryLeaseManager, MemoryMetadataRepo, MemorySessionStore,
    MemorySlotLimiter,
};
use ha_core::{
    EventBus, LeaseManager, MetadataRepo, SessionStore, SlotLimiter, SystemClock, TranscodeJobStore,
};

async fn leases() -> Arc<dyn LeaseManager> {
    Arc::new(MemoryLeaseManager::new())
}

async fn jobs(retention: Duration) -> Arc<dyn TranscodeJobStore> {
    Arc::new(MemoryJobStore::with_clock(SystemClock::shared(), retention))
}

async fn sessions() -> Arc<dyn SessionStore> {
    Arc::new(MemorySessionStore::new())
}

/// Both "replicas" share one in-process bus.
async fn events() -> Arc<dyn EventBus> {
    static BUS: OnceLock<MemoryEventBus> = OnceLock::new();
    Arc::new(BUS.get_or_init(MemoryEventBus::new).clone())
}

async fn slots() -> Arc<dyn SlotLimiter> {
    Arc::new(MemorySlotLimiter::new())
}

async fn metadata() -> Arc<dyn MetadataRepo> {
    Arc::new(MemoryMetadataRepo::in_memory())
}

ha_core::lease_manager_conformance!(leases);
ha_core::job_store_conformance!(jobs);
ha_core::session_store_conformance!(sessions);
ha_core::event_bus_conformance!(events);
ha_core::slot_limiter_conformance!(slots);
ha_core::metadata_repo_conformance!(metadata);

/// The same metadata suite against the file-backed repo (each test in its own directory).
mod persisted {
    use super::*;

    async fn metadata() -> Arc<dyn MetadataRepo> {
        let dir = tempfile::tempdir().unwrap().keep();
        Arc::new(MemoryMetadataRepo::open(dir).unwrap())
    }

    ha_core::metadata_repo_conformance!(metadata);
}

/// The same session suite against the file-backed store (each test in its own directory).
mod persisted_sessions {
    use super::*;

    async fn sessions() -> Arc<dyn SessionStore> {
        let dir = tempfile::tempdir().unwrap().keep();
        Arc::new(MemorySessionStore::open(dir).unwrap())
    }

    ha_core::session_store_conformance!(sessions);
}

/// The same session suite through the per-replica cache (`ha_core::session_cache`): what it
/// answers from memory must be what the store would have answered, within its promises.
mod cached_sessions {
    use super::*;
    use ha_core::session_cache::CachedSessionStore;

    async fn sessions() -> Arc<dyn SessionStore> {
        Arc::new(CachedSessionStore::with_defaults(Arc::new(
            MemorySessionStore::new(),
        )))
    }

    ha_core::session_store_conformance!(sessions);
}
