//! # ha-core: the contracts of media-ha
//!
//! A media server that runs as several replicas behind a plain load balancer needs a few shared
//! things: exclusive ownership of work (leases with fencing tokens), durable transcode job
//! records, sessions any replica can read, metadata, cluster events and capacity limits. This
//! crate defines each as an object-safe async trait used as `Arc<dyn Trait>`, and ships an
//! in-process backend for each that is *correct* for a single replica, so a one-node server needs
//! no configuration at all. `ha-store-redis` and `ha-store-pg` implement the same traits for a
//! cluster, and every backend passes the same conformance suite (module `conformance`, feature
//! `conformance`).
//!
//! ## Layout
//!
//! | module | what |
//! |---|---|
//! | [`lease`] | [`LeaseManager`], [`Lease`], [`FencingToken`] |
//! | [`keeper`] | [`LeaseKeeper`]: keeps a lease alive on its own task, signals loss at once |
//! | [`liveness`] | [`LivenessKeeper`]: one short per-replica record, so a dead lease holder is found out in about a second and its leases taken over ([`LeaseManager::take_over`]) |
//! | [`slot_keeper`] | [`SlotKeeper`]: renews a job's slots, takes back one the store forgot, reports changes once |
//! | [`jobs`] | [`TranscodeJobStore`]: fenced, forward-only job records that outlive leases |
//! | [`sessions`] | [`SessionStore`]: expiring client sessions keyed by token hash |
//! | [`session_cache`] | [`CachedSessionStore`](session_cache::CachedSessionStore): a per-replica cache over any session store, revocations on the event bus |
//! | [`metadata`] | [`MetadataRepo`]: users, items, watch state, devices, activity |
//! | [`events`] | [`EventBus`]: numbered events with gap detection |
//! | [`slots`] | [`SlotLimiter`]: leased, cluster-wide counting semaphore |
//! | [`memory`] | the in-process backends |
//! | [`auth`], [`ids`], [`clock`] | password/token hashing, identifiers, the injectable clock |
//! | [`hash_pool`] | [`HashPool`](hash_pool::HashPool): Argon2id on a few fixed threads (bounded memory, back-pressure) |
//! | [`error`] | the one [`Error`] every contract returns |
//! | [`telemetry`] | the names this crate and the store backends report through the `metrics` facade (lease renewals, lost leases, store calls and errors) |
//!
//! ## What each backend adds
//!
//! | contract | in-process ([`memory`]) | `ha-store-redis` | `ha-store-pg` |
//! |---|---|---|---|
//! | [`LeaseManager`] | one process; tokens from a counter and the wall clock | Lua scripts; expiry on the server clock; tokens `max(last + 1, server µs)` survive a restart that lost the data; batch renew in one round trip; take-over is the acquire script comparing holder and token | rows; expiry by `now()`; tokens never go back; batch renew in one statement; take-over is the acquire statement comparing holder and token |
//! | [`TranscodeJobStore`] | a map with retention | hashes with `PEXPIRE` refreshed on every write | rows with `expires_at` |
//! | [`SessionStore`] | a map with deadlines; optionally journal + snapshot files (deadlines on the wall clock, expiry kept across restarts) | hashes with TTL | rows with `expires_at` |
//! | [`MetadataRepo`] | journal + snapshot files, crash-safe | — | the real store (migrations under an advisory lock, import from the files) |
//! | [`EventBus`] | tokio broadcast (overflow → resync) | pub/sub, resubscribes and reports a resync | LISTEN/NOTIFY (8000-byte payloads), same |
//! | [`SlotLimiter`] | a map of pools | a sorted set per pool scored by server-time deadline | a row per slot with a server-time deadline; a pool's writers serialized by an advisory transaction lock |
//!
//! What no backend can promise is spelled out in each store crate's docs (for example: a Redis
//! primary that fails over before replicating a lease; events missed while disconnected are
//! reported, not replayed).
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod batch;
pub mod clock;
pub mod error;
pub mod events;
pub mod hash_pool;
pub mod ids;
pub mod jobs;
pub mod keeper;
pub mod lease;
pub mod liveness;
pub mod memory;
pub mod metadata;
pub mod session_cache;
pub mod sessions;
pub mod slot_keeper;
pub mod slots;
pub mod sync;
pub mod telemetry;

#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;

pub use clock::{Clock, SharedClock, SystemClock};
pub use error::{error_chain, BoxError, Error, Result};
pub use events::{
    BusMessage, Event, EventBus, EventPublisher, GapDetector, Subscription, Transport,
};
pub use jobs::{JobClaim, JobRecord, JobState, TranscodeJobStore};
pub use keeper::{KeeperConfig, KeeperStatus, LeaseKeeper};
pub use lease::{FencingToken, Lease, LeaseManager};
pub use liveness::{LivenessConfig, LivenessKeeper};
pub use metadata::{
    Activity, Device, DisplayPreferences, ImageKind, Item, ItemImage, ItemKind, ItemQuery,
    ItemSort, MetadataRepo, NewActivity, Page, User, UserConfiguration, UserFilter, UserItemData,
};
pub use sessions::{NowPlaying, Session, SessionStore};
pub use slot_keeper::{SlotChange, SlotHealth, SlotKeeper};
pub use slots::{Slot, SlotLimiter};

// The README's example (the crates.io front page) is compiled as a doc test, so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
