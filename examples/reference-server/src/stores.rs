//! Which backend serves each contract: the one file that changes as the store crates grow.
//!
//! Why one file: the rest of the server sees only `Arc<dyn Trait>`s, so moving from one node
//! (in-process stores, zero configuration) to a cluster (Redis and/or PostgreSQL) is decided
//! here and nowhere else. `--namespace` becomes the Redis key prefix and the PostgreSQL schema,
//! so several clusters (or tests) can share one Redis and one database.
//!
//! | flags | leases, jobs, events, slots | sessions | metadata |
//! |---|---|---|---|
//! | none | in-process | in-process, persisted under `<data>/sessions` | in-process, persisted under `<data>/metadata` |
//! | `--redis` | Redis | Redis | in-process (single node only: warns) |
//! | `--postgres` | PostgreSQL | PostgreSQL | PostgreSQL |
//! | both | Redis | PostgreSQL | PostgreSQL |
//!
//! Why sessions go to PostgreSQL when both are given: Redis holds what the cluster can rebuild
//! (a lost lease or job record costs a transcode restart at the first missing segment), but a
//! lost session signs a viewer out mid-film. A Redis restarted without persistence loses every
//! key, so sessions belong with the durable data (docs/RELIABILITY.md, "Store faults during
//! streaming"). With `--redis` alone they stay in Redis: run it with `appendonly yes` there.
//!
//! Whichever store holds them, sessions are read through a per-replica cache
//! (`ha_core::session_cache`, `--session-cache`): every API request validates its token and
//! keeps the session alive, and asking the shared store (a read and a write on PostgreSQL) each
//! time was most of what a cheap endpoint cost with replicas. A sign-out is announced on the
//! event bus, so other replicas drop the session at once; the cache's freshness bound covers a
//! lost event.
//!
//! With PostgreSQL, items and user-independent listing pages are read through a per-replica
//! cache too (`metadata_cache`, `--metadata-cache`), on the same model: changes announced on
//! the event bus, a freshness bound for a lost event. Users (who decide authentication and
//! rights) and a user's own marks are never cached.

use std::sync::Arc;

use media_ha::core::memory::{
    MemoryEventBus, MemoryJobStore, MemoryLeaseManager, MemoryMetadataRepo, MemorySessionStore,
    MemorySlotLimiter,
};
use media_ha::core::session_cache::{CachedSessionStore, SessionCacheConfig};
use media_ha::core::{
    EventBus, EventPublisher, Item, ItemQuery, LeaseManager, MetadataRepo, Page, SessionStore,
    SlotLimiter, SystemClock, TranscodeJobStore,
};

use crate::config::Config;
use crate::metadata_cache::CachedMetadata;

/// Every store the server uses.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Leases (library scan, transcode jobs).
    pub leases: Arc<dyn LeaseManager>,
    /// Transcode job records.
    pub jobs: Arc<dyn TranscodeJobStore>,
    /// Client sessions (through `session_cache`).
    pub sessions: Arc<dyn SessionStore>,
    /// The per-replica cache in front of the session store; `lib.rs` feeds it the cluster's
    /// revocations.
    pub session_cache: Arc<CachedSessionStore>,
    /// Users, items, watch state.
    pub metadata: Arc<dyn MetadataRepo>,
    /// The per-replica cache in front of a shared metadata store (`None` on one node, whose
    /// store is in memory already); `lib.rs` feeds it the cluster's changes.
    pub metadata_cache: Option<Arc<CachedMetadata>>,
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
        // Sessions too, so a restart does not sign every client out.
        let sessions_dir = config.data_dir.join("sessions");
        let sessions =
            tokio::task::spawn_blocking(move || MemorySessionStore::open(sessions_dir)).await??;
        let events: Arc<dyn EventBus> = Arc::new(MemoryEventBus::new());
        let session_cache = cached(Arc::new(sessions), &events, config);
        Ok(Self {
            leases: Arc::new(MemoryLeaseManager::new()),
            jobs: Arc::new(MemoryJobStore::new()),
            sessions: session_cache.clone(),
            session_cache,
            metadata: Arc::new(metadata),
            metadata_cache: None,
            events,
            slots: Arc::new(MemorySlotLimiter::new()),
            description: format!(
                "in-process (metadata and sessions in {})",
                config.data_dir.display()
            ),
        })
    }

    /// An item by (normalised) id, read in place from the metadata cache when it holds it
    /// (hot routes build their answers from a reference; a copy per request was measurable).
    ///
    /// # Errors
    /// The store's.
    pub async fn shared_item(&self, id: &str) -> media_ha::core::Result<Option<Arc<Item>>> {
        match &self.metadata_cache {
            Some(cache) => cache.shared_item(id).await,
            None => Ok(self.metadata.get_item(id).await?.map(Arc::new)),
        }
    }

    /// A listing page, read in place from the metadata cache when it holds it (see
    /// [`shared_item`](Self::shared_item)).
    ///
    /// # Errors
    /// The store's.
    pub async fn shared_page(&self, query: &ItemQuery) -> media_ha::core::Result<Arc<Page<Item>>> {
        match &self.metadata_cache {
            Some(cache) => cache.shared_page(query).await,
            None => Ok(Arc::new(self.metadata.query_items(query).await?)),
        }
    }
}

/// `sessions` behind this replica's cache, announcing sign-outs on `events`.
fn cached(
    sessions: Arc<dyn SessionStore>,
    events: &Arc<dyn EventBus>,
    config: &Config,
) -> Arc<CachedSessionStore> {
    let limits = SessionCacheConfig {
        fresh_for: config.session_cache,
        ..SessionCacheConfig::default()
    };
    let publisher = EventPublisher::new(events.clone(), &config.node_id);
    Arc::new(
        CachedSessionStore::new(sessions, SystemClock::shared(), limits).with_publisher(publisher),
    )
}

/// How long a finished or orphaned transcode job record is kept (long enough for a survivor
/// to find and take over an orphan).
#[cfg(any(feature = "redis", feature = "postgres"))]
const JOB_RETENTION: std::time::Duration = std::time::Duration::from_secs(600);

/// A build without the `redis` and `postgres` features has no shared backends.
#[cfg(not(any(feature = "redis", feature = "postgres")))]
async fn shared(_config: &Config) -> Result<Stores, StoreError> {
    Err("--redis/--postgres need a build with the `redis`/`postgres` features (e.g. --features full)".into())
}

/// Redis and/or PostgreSQL backends.
// With only one of the two features, some of the slots below are never assigned.
#[cfg(any(feature = "redis", feature = "postgres"))]
#[allow(unused_mut)]
async fn shared(config: &Config) -> Result<Stores, StoreError> {
    let urls = &config.stores;
    let mut parts = Vec::new();

    #[cfg(feature = "postgres")]
    let pg = match &urls.postgres {
        Some(url) => {
            let mut pg_config =
                media_ha::postgres::PgStoreConfig::from_url(url)?.with_job_retention(JOB_RETENTION);
            if let Some(ns) = &config.namespace {
                pg_config = pg_config.with_schema(ns.clone());
            }
            let store = media_ha::postgres::PgStore::connect(pg_config).await?;
            parts.push(format!("PostgreSQL (schema {})", store.config().schema()));
            Some(store)
        }
        None => None,
    };
    #[cfg(not(feature = "postgres"))]
    if urls.postgres.is_some() {
        return Err(
            "--postgres needs a build with the `postgres` feature (e.g. --features full)".into(),
        );
    }

    #[cfg(feature = "redis")]
    let redis = match &urls.redis {
        Some(url) => {
            let url = match &config.redis_tls_ca_file {
                Some(ca) => crate::redis_ca::redis_url_with_ca_file(url, ca)?,
                None => url.clone(),
            };
            let mut redis_config = media_ha::redis::RedisStoreConfig::from_url(&url)?
                .with_job_retention(JOB_RETENTION);
            if let Some(ns) = &config.namespace {
                redis_config = redis_config.with_prefix(ns.clone());
            }
            let store = media_ha::redis::RedisStore::connect(redis_config).await?;
            parts.push(format!("Redis (prefix {})", store.config().prefix()));
            Some(store)
        }
        None => None,
    };
    #[cfg(not(feature = "redis"))]
    if urls.redis.is_some() {
        return Err("--redis needs a build with the `redis` feature (e.g. --features full)".into());
    }

    // Coordination state: Redis when given, else PostgreSQL.
    let mut leases: Option<Arc<dyn LeaseManager>> = None;
    let mut jobs: Option<Arc<dyn TranscodeJobStore>> = None;
    let mut sessions: Option<Arc<dyn SessionStore>> = None;
    let mut events: Option<Arc<dyn EventBus>> = None;
    let mut slots: Option<Arc<dyn SlotLimiter>> = None;
    let mut metadata: Option<Arc<dyn MetadataRepo>> = None;
    #[cfg(feature = "redis")]
    if let Some(r) = &redis {
        leases = Some(Arc::new(r.leases()));
        jobs = Some(Arc::new(r.jobs()));
        sessions = Some(Arc::new(r.sessions()));
        events = Some(Arc::new(r.events()));
        slots = Some(Arc::new(r.slots()));
    }
    #[cfg(feature = "postgres")]
    if let Some(p) = &pg {
        metadata = Some(Arc::new(p.metadata()));
        leases = leases.or_else(|| Some(Arc::new(p.leases()) as Arc<dyn LeaseManager>));
        jobs = jobs.or_else(|| Some(Arc::new(p.jobs()) as Arc<dyn TranscodeJobStore>));
        // Durable: a Redis restart without persistence must not sign everybody out.
        sessions = Some(Arc::new(p.sessions()) as Arc<dyn SessionStore>);
        events = events.or_else(|| Some(Arc::new(p.events()) as Arc<dyn EventBus>));
        slots = slots.or_else(|| Some(Arc::new(p.slots()) as Arc<dyn SlotLimiter>));
    }

    let mut metadata_cache = None;
    let metadata = match metadata {
        Some(m) => {
            let publisher = EventPublisher::new(
                events
                    .clone()
                    .ok_or("no event bus for the metadata cache")?,
                &config.node_id,
            );
            let cache =
                Arc::new(CachedMetadata::new(m, config.metadata_cache).with_publisher(publisher));
            metadata_cache = Some(cache.clone());
            cache as Arc<dyn MetadataRepo>
        }
        None => {
            tracing::warn!(
                "no --postgres: metadata stays on this replica's disk; run one replica only"
            );
            let dir = config.data_dir.join("metadata");
            parts.push(format!("in-process metadata ({})", dir.display()));
            Arc::new(tokio::task::spawn_blocking(move || MemoryMetadataRepo::open(dir)).await??)
        }
    };
    match (leases, jobs, sessions, events, slots) {
        (Some(leases), Some(jobs), Some(sessions), Some(events), Some(slots)) => {
            let session_cache = cached(sessions, &events, config);
            Ok(Stores {
                leases,
                jobs,
                sessions: session_cache.clone(),
                session_cache,
                metadata,
                metadata_cache,
                events,
                slots,
                description: parts.join(" + "),
            })
        }
        _ => Err("no shared store could be opened".into()),
    }
}
