//! Helpers every crate of the workspace shares for `std` synchronisation primitives.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks a std mutex, recovering the data if a panicking thread poisoned it.
///
/// Every critical section in media-ha leaves its data consistent before anything can panic
/// (they are short map and counter updates), so a poisoned lock still guards good data; failing
/// every later request because one thread panicked would turn one bug into an outage.
///
/// ```
/// let m = std::sync::Mutex::new(1);
/// *ha_core::sync::lock(&m) += 1;
/// assert_eq!(*ha_core::sync::lock(&m), 2);
/// ```
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Read-locks a std `RwLock`, recovering the data if a panicking writer poisoned it (see
/// [`lock`] for why that is safe here).
pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Write-locks a std `RwLock`, recovering the data if a panicking writer poisoned it (see
/// [`lock`] for why that is safe here).
pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}
