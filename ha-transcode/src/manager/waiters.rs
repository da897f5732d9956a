//! Requests waiting for a segment, woken when something about their job changes.
//!
//! # Why a registry of watch channels
//!
//! A request waits for a segment another replica (or a run here that it did not start)
//! produces. What can end the wait is known as an event: a segment was published, the job
//! has a new owner, the owner's tenure ended. One `watch` channel per job key that somebody
//! waits on turns those events into wake-ups: a waiter subscribes before it looks (so nothing
//! published in between is missed), and a notification with nobody subscribed costs a map
//! lookup. Entries without receivers are dropped on the next notification.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use super::keys::JobKey;
use ha_core::sync::lock;

/// Per-job wake-ups for waiting requests.
#[derive(Debug, Default)]
pub(crate) struct Waiters {
    keys: Mutex<HashMap<JobKey, watch::Sender<u64>>>,
}

impl Waiters {
    /// A receiver that changes whenever [`notify`](Self::notify) is called for `key` after
    /// this call.
    pub(crate) fn subscribe(&self, key: &JobKey) -> watch::Receiver<u64> {
        let mut keys = lock(&self.keys);
        if keys.len() >= 1024 {
            keys.retain(|_, tx| tx.receiver_count() > 0);
        }
        keys.entry(key.clone())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wakes every request waiting on `key`.
    pub(crate) fn notify(&self, key: &JobKey) {
        let mut keys = lock(&self.keys);
        if let Some(tx) = keys.get(key) {
            if tx.receiver_count() == 0 {
                keys.remove(key);
            } else {
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }

    /// Wakes every waiting request (events may have been lost).
    pub(crate) fn notify_all(&self) {
        let mut keys = lock(&self.keys);
        keys.retain(|_, tx| tx.receiver_count() > 0);
        for tx in keys.values() {
            tx.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiter_is_woken_by_its_key_only() {
        let waiters = Waiters::default();
        let a = JobKey::parse(&"a".repeat(32)).unwrap();
        let b = JobKey::parse(&"b".repeat(32)).unwrap();
        let mut rx = waiters.subscribe(&a);
        waiters.notify(&b);
        assert!(!rx.has_changed().unwrap());
        waiters.notify(&a);
        rx.changed().await.unwrap();
        waiters.notify_all();
        assert!(rx.has_changed().unwrap());
        drop(rx);
        waiters.notify(&a);
        assert!(
            lock(&waiters.keys).is_empty(),
            "entries without waiters are dropped"
        );
    }
}
