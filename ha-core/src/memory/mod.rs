//! In-process backends: correct for one replica, zero configuration.
//!
//! Each one honours the same contract as the Redis and Postgres backends (TTLs, fencing,
//! monotonic tokens) and passes the same conformance suite; the only thing they cannot do is
//! share state with another process. [`MemoryMetadataRepo`] and [`MemorySessionStore`] can
//! additionally persist to a directory (`open`) so a single-node server keeps its users, watch
//! state and signed-in clients across restarts.

mod events;
mod jobs;
mod journal;
mod lease;
mod listing;
mod metadata;
mod ordered;
#[cfg(test)]
mod ordered_tests;
mod session_file;
mod sessions;
mod slots;

pub use events::MemoryEventBus;
pub use jobs::MemoryJobStore;
pub use lease::MemoryLeaseManager;
pub use metadata::{MemoryMetadataRepo, MetadataSnapshot};
pub use sessions::MemorySessionStore;
pub use slots::MemorySlotLimiter;

pub(crate) use crate::sync::lock;
