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
//! | [`config`] | [`PgStoreConfig`]: URL, schema, pool size, timeouts |
//! | [`store`] | [`PgStore`]: the shared pool, the factory of every backend |
//! | [`migrate`] | schema migrations (refinery, embedded) under an advisory lock |
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
//! Everything is as durable as the database: a call that returned `Ok` was committed. While
//! the server is down or restarting, calls fail with `Unavailable` (or `Timeout`) and the pool
//! reconnects by itself afterwards. Lease expiry is judged by the server's clock, so a restart
//! never extends or shortens a lease by a client's clock; tokens never go backwards (see
//! [`lease`]). With asynchronous streaming replication, a failover to a replica can lose the
//! last commits, including lease acquisitions: the fencing tokens still only grow (they follow
//! the clock), but two holders may briefly both believe they own a key, and only the fenced
//! writes keep them apart; likewise a lost slot acquisition lets a pool run over its capacity
//! until the lost slot's holder fails to renew. Use synchronous replication if that matters.
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
