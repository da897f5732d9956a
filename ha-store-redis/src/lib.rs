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
//! | [`RedisStore`], [`RedisStoreConfig`], [`Target`] | connecting: `redis://`, `rediss://` (TLS, rustls), `redis+sentinel://`, `redis+cluster://`; credentials per kind of server; the eviction-policy check |
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
//! ## What each mode guarantees when the store itself fails
//!
//! Redis replication is asynchronous in every mode: a write the primary acknowledged may be
//! missing on the replica that replaces it. What that costs, per mode:
//!
//! | mode | URL | when the store fails | what can be lost | tested against |
//! |---|---|---|---|---|
//! | Standalone | `redis://`, `rediss://` | calls fail fast (`Unavailable`/`Timeout` within [`RedisStoreConfig::op_timeout`]); the connection comes back by itself | with no persistence, everything: leases end (holders see `LeaseLost` at the next renew), tokens stay monotonic (server clock and incarnation start), claims with pre-restart tokens on vanished job records are refused | a killed, paused and restarted `redis-server` (`tests/unavailable.rs`, `tests/restart.rs`) |
//! | Sentinel | `redis+sentinel://`, `rediss+sentinel://` | when a sentinel announces `+switch-master` (and, as a fallback, after a connection failure or `READONLY` from a demoted primary) the store asks the sentinels again and moves its connection and subscribers to the new primary; calls in flight fail (transient) and should be retried | writes acknowledged by the old primary but not yet replicated: a lease acquired or renewed in that window may be acquired again, so two holders are possible for up to one TTL; fencing tokens order them and fenced job writes reject the older one | `SENTINEL FAILOVER` and a killed primary, with `requirepass` on data nodes and sentinels, with and without TLS (`tests/sentinel.rs`) |
//! | Cluster | `redis+cluster://`, `rediss+cluster://` | per slot, as Sentinel: the cluster client follows `MOVED` to the promoted replica | as Sentinel, for the slots of the failed primary only; a lease and its job record live in different slots, so they are fenced by token comparison, never by one atomic script | the conformance suite on a real 3-primary cluster with `requirepass`, and leases, batch renew and events over TLS (`tests/cluster.rs`); node failover itself is not exercised here |
//!
//! Fencing tokens are `max(last + 1, server µs)`, so after a failover the new primary issues
//! larger tokens than the old one did *if the clocks agree to better than the time between the
//! two acquisitions*: keep the Redis hosts on NTP. The window in which acknowledged writes can
//! vanish is the replication lag plus the time until the old primary stops accepting writes;
//! `min-replicas-to-write 1` with `min-replicas-max-lag 1` on the data nodes bounds the latter
//! to about a second. Redlock would not remove it (Kleppmann, 2016); one store with fencing
//! tokens is the design.
//!
//! ## What is *not* guaranteed
//!
//! - **Lost events.** Pub/sub is fire-and-forget. Subscribers get
//!   [`ha_core::BusMessage::Resync`] after any disconnect and [`ha_core::BusMessage::Gap`] when
//!   a publisher's sequence skips, but not the missed events themselves.
//! - **Eviction.** A lease evicted under memory pressure is a lease silently lost. Run Redis
//!   with `maxmemory-policy noeviction` (writes then fail loudly instead). [`RedisStore::connect`]
//!   refuses `allkeys-*`; `volatile-*` is only warned about, but every key of these stores has a
//!   TTL, so it can evict them too. Where `CONFIG` is disabled the check is skipped with a
//!   warning.
//! - **TLS** (`rediss://`, rustls with the *ring* provider): the system trust store by default,
//!   or a private CA / client certificate through [`RedisStoreConfig::with_tls_root_cert`] and
//!   [`RedisStoreConfig::with_tls_client_cert`], for every mode (with Sentinel: to the sentinels
//!   and the data nodes alike). Certificates must name the address the server is reached at
//!   (for Sentinel, the address the sentinels announce).
//! - **Cluster**: `list` indexes of jobs and sessions live in one slot each and are updated
//!   after the record (loose indexes, see `index.rs`).
//!
//! ## Operations
//!
//! Keys are `{<prefix>:<kind>:<name>}[:suffix]`; the fence counters
//! (`{P:lease:K}:fence`) outlive leases by [`RedisStoreConfig::fence_retention`]. Redis ≥ 5
//! is required (script effects replication makes `TIME` in scripts safe to replicate).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod conn;
mod connect;
mod error;
mod events;
mod failover;
mod index;
mod jobs;
pub mod keys;
mod lease;
mod reply;
mod scripts;
mod sessions;
mod slots;
mod store;
mod target;

pub use config::RedisStoreConfig;
pub use error::RedisStoreError;
pub use events::RedisEventBus;
pub use jobs::RedisJobStore;
pub use lease::RedisLeaseManager;
pub use scripts::source as lua_source;
pub use sessions::RedisSessionStore;
pub use slots::RedisSlotLimiter;
pub use store::RedisStore;
pub use target::Target;
