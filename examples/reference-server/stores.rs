//! Which backend serves each contract: the one file that changes as the store crates grow.
//!
//! Why one file: the rest of the server sees only `Arc<dyn Trait>`s, so moving from one node
//! (in-process stores, zero configuration) to a cluster (Redis and/or PostgreSQL) is decided
//! here and nowhere else.
//!
//! | flags | leases, jobs, sessions, events, slots | metadata |
//! |---|---|---|
//! | none | in-process | in-process, persisted under `<data>/metadata` |
//! | `--redis` | Redis | in-process (single node only: warns) |
//! | `--postgres` | PostgreSQL | PostgreSQL |
//! | both | Redis | PostgreSQL |

use std::sync::Arc;

use media_ha::core::memory::{
    MemoryEventBus, MemoryJobStore, MemoryLeaseManager, MemoryMetadataRepo, MemorySessionStore,
    MemorySlotLimiter,
};
use media_ha::core::{
    EventBus, LeaseManager, MetadataRepo, SessionStore, SlotLimiter, TranscodeJobStore,
};

use crate::server::config::Config;

/// Every store the server uses.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Leases (library scan, transcode jobs).
    pub leases: Arc<dyn LeaseManager>,
    /// Transcode job records.
    pub jobs: Arc<dyn TranscodeJobStore>,
    /// Client sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Users, items, watch state.
    pub metadata: Arc<dyn MetadataRepo>,
    /// Cluster events.
    pub events: Arc<dyn EventBus>,
    /// Transcode capacity.
    pub slots: Arc<dyn SlotLimiter>,
    /// Human-readable description for the start-up log.
    pub description: String,
}

/// Why the stores could not be opened.
pub type StoreError = Box<dyn std::error::Error + Send + Sync>;

impl Stores {
    /// Opens the stores `config` asks for.
    ///
    /// # Errors
    /// When a store cannot be reached or opened, or a URL needs a feature this build lacks.
    pub async fn open(config: &Config) -> Result<Self, StoreError> {
        let urls = &config.stores;
        if urls.is_shared() {
            return shared(config).await;
        }
        let metadata_dir = config.data_dir.join("metadata");
        let metadata =
            tokio::task::spawn_blocking(move || MemoryMetadataRepo::open(metadata_dir)).await??;
        Ok(Self {
            leases: Arc::new(MemoryLeaseManager::new()),
            jobs: Arc::new(MemoryJobStore::new()),
            sessions: Arc::new(MemorySessionStore::new()),
            metadata: Arc::new(metadata),
            events: Arc::new(MemoryEventBus::new()),
            slots: Arc::new(MemorySlotLimiter::new()),
            description: format!(
                "in-process (metadata in {})",
                config.data_dir.join("metadata").display()
            ),
        })
    }
}

/// Redis and/or PostgreSQL backends.
async fn shared(config: &Config) -> Result<Stores, StoreError> {
    let _ = config;
    Err("--redis/--postgres: the shared store backends are not wired into this build yet".into())
}
