//! Helpers every crate of the workspace shares for `std` synchronisation primitives.

use std::sync::{Mutex, MutexGuard};

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
