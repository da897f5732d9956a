//! # ha-store-redis: the media-ha contracts on Redis
//!
//! Redis backends for [`ha_core::LeaseManager`], [`ha_core::TranscodeJobStore`],
//! [`ha_core::SessionStore`], [`ha_core::EventBus`] and [`ha_core::SlotLimiter`], all made
//! from one [`RedisStore`] that shares one multiplexed, self-reconnecting connection.
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//! use ha_core::{LeaseManager, TranscodeJobStore};
//! use ha_store_redis::{RedisStore, RedisStoreConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = RedisStoreConfig::from_url("redis://127.0.0.1:6379")?
//!     .with_prefix("media-ha")
//!     .with_job_retention(Duration::from_secs(300));
//! let store = RedisStore::connect(config).await?;
//!
//! let leases: Arc<dyn LeaseManager> = Arc::new(store.leases());
//! let jobs: Arc<dyn TranscodeJobStore> = Arc::new(store.jobs());
//! if let Some(lease) = leases.try_acquire("job:movie-1/720p", "node-a", Duration::from_secs(10)).await? {
//!     // Every write the lease protects carries its token; a stale owner gets Error::Fenced.
//!     jobs.record_progress("movie-1/720p", lease.token, 0).await.ok();
//!     leases.release(&lease).await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## Layout
//!
//! | module | what |
//! |---|---|
//! | [`RedisStore`], [`RedisStoreConfig`], [`Target`] | connecting: `redis://`, `rediss://` (TLS, rustls), `redis+sentinel://`, Cluster |
//! | [`RedisLeaseManager`] | leases as expiring hashes, tokens `max(last + 1, server µs)` |
//! | [`RedisJobStore`] | fenced job records with retention, refreshed on every write |
//! | [`RedisSessionStore`] | sessions keyed by token hash, TTL with touch |
//! | [`RedisSlotLimiter`] | a sorted set of slot ids scored by server-time deadline |
//! | [`RedisEventBus`] | JSON events on pub/sub, self-reconnecting subscribers |
//! | [`RedisStoreError`] | the crate error, converts into [`ha_core::Error`] |
//! | `lua/*.lua` | one script per check-and-change, loaded with `include_str!` (`incarnation.lua` is a shared prelude) |
//!
//! ## What is guaranteed
//!
//! - **Atomic check-and-change.** Acquire, renew, release, job claim/progress/state and slot
//!   acquire/renew/release are each one Lua script; renew and release check holder *and* token.
//! - **Expiry on the server clock only** (`PX`, `PEXPIRE`, `TIME` inside scripts). The local
//!   `expires_at` of a lease or slot is the instant the request was *sent* plus the TTL, never
//!   later than the server's deadline.
//! - **Fencing tokens never go backwards**, also after a restart with no persistence: a token is
//!   `max(last issued + 1, server TIME in µs, start of this server process in µs)`. Tokens are
//!   therefore large (≈ 1.7·10¹⁵).
//! - **Job fences survive a restart that lost the data** (best effort, to the second): a claim
//!   on a job record that does not exist is refused ([`ha_core::Error::Fenced`]) when its token
//!   is older than the Redis process's start (`INFO server`), because such a token belongs to a
//!   lease the restart lost, and a newer tenure's record may have been lost with it. Tokens
//!   issued in the last second before the restart still pass; leases with a TTL of 1 s or more
//!   that expired before the restart are always refused. Job stores and lease managers must
//!   therefore come from the same server. The clock edge cases are in `lua/incarnation.lua`.
//! - **Fail fast.** Each call has a deadline ([`RedisStoreConfig::op_timeout`], default 2 s);
//!   a down server yields [`ha_core::Error::Unavailable`] or [`ha_core::Error::Timeout`], and
//!   the connection comes back by itself when the server does.
//! - **Batch renew is one round trip**: one script call with N keys on a standalone server; on
//!   Cluster one call per hash slot, sent concurrently (keys of different leases deliberately
//!   live in different slots; see [`keys`]).
//!
//! ## What is *not* guaranteed
//!
//! - **Failover of Redis itself.** Replication is asynchronous: a lease acquired on a primary
//!   that fails before replicating it is unknown to the promoted replica, so a second holder can
//!   acquire it; two holders are possible for up to one TTL. Fencing tokens limit the damage:
//!   the new holder's token comes from the new primary's clock, so it is larger than the old
//!   one *if the clocks agree to better than the time between the two acquisitions*. A replica
//!   whose clock is behind can issue smaller tokens; keep clocks synchronised (NTP) and, where
//!   it matters, use `WAIT 1 <ms>`-style replication or a single primary. Redlock would not fix
//!   this (Kleppmann, 2016); one store with fencing tokens is the design.
//! - **Lost events.** Pub/sub is fire-and-forget. Subscribers get
//!   [`ha_core::BusMessage::Resync`] after any disconnect and [`ha_core::BusMessage::Gap`] when
//!   a publisher's sequence skips, but not the missed events themselves.
//! - **Eviction.** A lease evicted under memory pressure is a lease silently lost. Run Redis
//!   with `maxmemory-policy noeviction` (writes fail loudly instead), or a `volatile-*` policy
//!   if the instance also caches; never `allkeys-*`: it may evict a live lease or job record.
//! - **Sentinel**: the primary is looked up at connect, again after connection failures
//!   (or `READONLY` from a demoted primary) and every [`SENTINEL_POLL`] (0.5 s): an old
//!   primary that is still up keeps accepting writes until the sentinels demote it (about 11 s
//!   after a `SENTINEL FAILOVER` here) and loses them when it resynchronises, so waiting for a
//!   failure is not enough. When it moved, the store switches its connection and its
//!   subscribers to the new one (tested against real sentinel failovers, the old primary
//!   killed or left running). Calls in flight during a failover fail (`Unavailable`) and
//!   should be retried. Replication is asynchronous: writes the old primary acknowledged in
//!   the last moments before the promotion can still be lost; fencing tokens (from the clock,
//!   never reused) keep a stale holder's writes out regardless.
//! - **TLS** (`rediss://`, rustls with the *ring* provider): the system trust store by default,
//!   or a private CA / client certificate through [`RedisStoreConfig::with_tls_root_cert`]
//!   (or `tls_ca_file=<path>` in the URL) and [`RedisStoreConfig::with_tls_client_cert`].
//!   Standalone and Sentinel (`rediss+sentinel://`: the CA and client certificate serve the
//!   sentinel connections and the data-node connections alike); tested against a TLS server
//!   and against TLS-only sentinels, primary and replica with passwords, across a failover.
//! - **Cluster** (`redis+cluster://n1,n2,n3`): routed by hash tags; the whole conformance
//!   suite passes on a real three-primary cluster (`tests/cluster.rs`). `list` of jobs and
//!   sessions reads its records one call each there (they live in many slots, and a pipeline
//!   must stay in one); `list` indexes of jobs and sessions live in one slot each. Not
//!   fault-tested (no failover of a cluster node here).
//!
//! ## Operations
//!
//! Keys are `{<prefix>:<kind>:<name>}[:suffix]`; the fence counters
//! (`{P:lease:K}:fence`) outlive leases by [`RedisStoreConfig::fence_retention`]. Redis ≥ 5
//! is required (script effects replication makes `TIME` in scripts safe to replicate).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod acquire_batch;
mod config;
mod conn;
mod error;
mod events;
mod index;
mod jobs;
pub mod keys;
mod lease;
mod reply;
mod scripts;
mod sessions;
mod slots;
mod store;

pub use config::{PrimaryAuth, RedisStoreConfig, Target};
pub use error::RedisStoreError;
pub use events::RedisEventBus;
pub use jobs::RedisJobStore;
pub use lease::RedisLeaseManager;
pub use scripts::source as lua_source;
pub use sessions::RedisSessionStore;
pub use slots::RedisSlotLimiter;
pub use store::{RedisStore, SENTINEL_POLL};

// The README's example (the crates.io front page) is compiled as a doc test, so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
