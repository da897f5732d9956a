//! In-process backends: correct for one replica, zero configuration.
//!
//! Each one honours the same contract as the Redis and Postgres backends (TTLs, fencing,
//! monotonic tokens) and passes the same conformance suite; the only thing they cannot do is
//! share state with another process. [`MemoryMetadataRepo`] additionally persists to a file so a
//! single-node server keeps its users and watch state across restarts.

mod events;
mod jobs;
mod lease;
mod metadata;
mod sessions;
mod slots;

pub use events::MemoryEventBus;
pub use jobs::MemoryJobStore;
pub use lease::MemoryLeaseManager;
pub use metadata::{MemoryMetadataRepo, MetadataSnapshot};
pub use sessions::MemorySessionStore;
pub use slots::MemorySlotLimiter;

/// Locks a std mutex, recovering the data if a panicking thread poisoned it (every critical
/// section here leaves the map consistent before anything can panic).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
