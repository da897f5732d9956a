//! # ha-store-pg: the media-ha contracts on PostgreSQL
//!
//! PostgreSQL is the real home of a cluster's metadata (users, library, watch state), and it
//! can also carry the coordination state (leases, transcode job records, sessions, events,
//! transcode slots) for deployments that would rather not run Redis as well. Every backend here
//! implements an `ha-core` contract and passes the shared conformance suite.
//!
//! ## Layout
//!
//! | module | what |
//! |---|---|
//! | [`config`] | [`PgStoreConfig`]: URL (one or several hosts), schema, pool size, timeouts, TLS |
//! | [`store`] | [`PgStore`]: the shared pool, the factory of every backend |
//! | [`migrate`] | schema migrations (refinery, embedded) under an advisory lock |
//! | `session_check` | refuses, at start-up, a pooler that does not give each connection a session |
//! | [`metadata`] | [`PgMetadataRepo`] |
//! | [`lease`] | [`PgLeaseManager`]: leases as rows, tokens from a sequence and the clock |
//! | [`jobs`] | [`PgJobStore`]: fenced, forward-only job records with retention |
//! | [`sessions`] | [`PgSessionStore`] |
//! | [`slots`] | [`PgSlotLimiter`]: leased slots, acquisitions serialized per pool |
//! | [`events`] | [`PgEventBus`] on LISTEN/NOTIFY |
//! | [`import`] | one-shot import of the in-process repo's directory |
//! | [`error`] | [`PgError`] and its mapping onto [`ha_core::Error`] |
//!
//! ## What is guaranteed when PostgreSQL itself fails
//!
//! Everything is as durable as the database: a call that returned `Ok` was committed on the
//! server it ran on. Lease expiry is judged by the server's clock, never a client's; tokens
//! never go backwards, even on another server (they follow `max(counter + 1, server time in
//! µs)`, see [`lease`]). Nothing is retried behind the caller's back: a write that failed with
//! `Unavailable` may or may not have committed. What a failure of the store costs depends on
//! how it is run:
//!
//! | set-up | while the store is down | after it is back | what can be lost |
//! |---|---|---|---|
//! | one server, restarted (or crashed and recovered) | calls fail with `Unavailable`/`Timeout`; event subscribers wait | the pool reconnects by itself; subscribers get `Resync` | nothing acknowledged |
//! | primary + standby, **synchronous** replication (`synchronous_standby_names`), multi-host URL with `target_session_attrs=read-write` | as above, until the standby is promoted | new connections go to the new primary, without restarting the store (tested: `tests/failover.rs`) | nothing acknowledged |
//! | primary + standby, **asynchronous** replication (the default of Patroni and CloudNativePG) | as above | as above | the last commits before the failure: a lease acquisition, a job claim or progress, a slot, a metadata write |
//! | behind PgBouncer in session mode | as for the server behind it | as for the server behind it | as for the server behind it |
//! | behind PgBouncer in transaction or statement mode | refused at start-up ([`PgError::Unsupported`]) | | |
//!
//! With asynchronous replication a lost lease acquisition means two holders may briefly both
//! believe they own a key: the tokens still only grow, so the fenced writes (job records,
//! segments) keep them apart, and the older holder learns it lost at its next renewal. A lost
//! slot acquisition lets a pool run over its capacity until the lost slot's holder fails to
//! renew. A lost job update is redone by the owner (progress is recorded per segment). Use
//! synchronous replication if that matters; CloudNativePG and Patroni both offer it.
//!
//! A host that vanishes without closing its sockets (a crashed machine, a cut network) is
//! noticed by TCP keepalives and `TCP_USER_TIMEOUT` (see [`config`]); calls meanwhile end at
//! their client-side deadline.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
mod connect;
mod convert;
pub mod error;
pub mod events;
pub mod import;
pub mod jobs;
pub mod lease;
pub mod metadata;
pub mod migrate;
mod session_check;
pub mod sessions;
pub mod slots;
pub mod store;

pub use config::PgStoreConfig;
pub use error::PgError;
pub use events::PgEventBus;
pub use import::{import_snapshot, ImportReport};
pub use jobs::PgJobStore;
pub use lease::PgLeaseManager;
pub use metadata::PgMetadataRepo;
pub use migrate::MigrationReport;
pub use sessions::PgSessionStore;
pub use slots::PgSlotLimiter;
pub use store::PgStore;

// The README's example (the crates.io front page) is compiled as a doc test, so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
