//! Which store a run uses, and how a process (parent or child) opens it.
//!
//! A backend is described by plain strings (kind, URL, namespace) so a child process can be
//! told which one to open through its environment, and every process gets its *own* client
//! (connection, pool): separate processes share nothing but the store itself.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
#[cfg(any(feature = "redis", feature = "postgres"))]
use std::time::Duration;

use ha_core::memory::{MemoryJobStore, MemoryLeaseManager};

use super::broken::{SplitBrainLeases, UnfencedJobs};
use super::contender::Stores;

/// A store to contend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The in-process stores: one process, tasks only.
    Memory,
    /// The in-process stores behind [`UnfencedJobs`](super::broken::UnfencedJobs) (tasks only).
    BrokenFencing,
    /// The in-process stores behind [`SplitBrainLeases`](super::broken::SplitBrainLeases).
    BrokenExclusion,
    /// Redis at `url`, keys under `prefix`.
    Redis {
        /// `redis://...`
        url: String,
        /// Key prefix (unique per run).
        prefix: String,
    },
    /// PostgreSQL at `url`, tables in `schema`.
    Postgres {
        /// `postgres://...`
        url: String,
        /// Schema (unique per run).
        schema: String,
    },
}

impl Backend {
    /// The short name used in summaries and in the child's environment.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::BrokenFencing => "broken-fencing",
            Backend::BrokenExclusion => "broken-exclusion",
            Backend::Redis { .. } => "redis",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// `(kind, url, namespace)` for a child's environment.
    pub fn to_parts(&self) -> (String, String, String) {
        match self {
            Backend::Memory | Backend::BrokenFencing | Backend::BrokenExclusion => {
                (self.name().into(), String::new(), String::new())
            }
            Backend::Redis { url, prefix } => ("redis".into(), url.clone(), prefix.clone()),
            Backend::Postgres { url, schema } => ("postgres".into(), url.clone(), schema.clone()),
        }
    }

    /// The inverse of [`to_parts`](Self::to_parts).
    pub fn from_parts(kind: &str, url: &str, ns: &str) -> Self {
        match kind {
            "redis" => Backend::Redis {
                url: url.into(),
                prefix: ns.into(),
            },
            "postgres" => Backend::Postgres {
                url: url.into(),
                schema: ns.into(),
            },
            _ => Backend::Memory,
        }
    }

    /// Opens a fresh client on the store.
    pub async fn open(&self) -> Stores {
        match self {
            Backend::Memory => Stores {
                leases: Arc::new(MemoryLeaseManager::new()),
                jobs: Arc::new(MemoryJobStore::new()),
            },
            Backend::BrokenFencing => Stores {
                leases: Arc::new(MemoryLeaseManager::new()),
                jobs: Arc::new(UnfencedJobs(Arc::new(MemoryJobStore::new()))),
            },
            Backend::BrokenExclusion => Stores {
                leases: Arc::new(SplitBrainLeases {
                    inner: Arc::new(MemoryLeaseManager::new()),
                    refusals: AtomicU64::new(0),
                    every: 50,
                }),
                jobs: Arc::new(MemoryJobStore::new()),
            },
            #[cfg(feature = "redis")]
            Backend::Redis { url, prefix } => {
                use ha_store_redis::{RedisStore, RedisStoreConfig};
                let config = RedisStoreConfig::from_url(url)
                    .expect("redis url")
                    .with_prefix(prefix.as_str())
                    // Fail fast while the server is down so contenders keep cycling.
                    .with_op_timeout(Duration::from_millis(500));
                let store = RedisStore::connect(config).await.expect("connect to redis");
                Stores {
                    leases: Arc::new(store.leases()),
                    jobs: Arc::new(store.jobs()),
                }
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres { url, schema } => {
                use ha_store_pg::{PgStore, PgStoreConfig};
                let config = PgStoreConfig::from_url(url)
                    .expect("postgres url")
                    .with_schema(schema.as_str())
                    .with_pool_size(6)
                    .with_statement_timeout(Duration::from_secs(2))
                    .with_connect_timeout(Duration::from_secs(1))
                    .with_wait_timeout(Duration::from_secs(1))
                    .with_job_retention(Duration::from_secs(300));
                let store = PgStore::connect(config).await.expect("connect to postgres");
                Stores {
                    leases: Arc::new(store.leases()),
                    jobs: Arc::new(store.jobs()),
                }
            }
            #[allow(unreachable_patterns)]
            other => panic!(
                "backend {} needs the cargo feature of the same name",
                other.name()
            ),
        }
    }
}
