//! Which transcode jobs each viewer's device fetched, for `DELETE /Videos/ActiveEncodings`, in
//! a map that stays bounded whatever clients send.
//!
//! Why keyed by user *and* device: the DeviceId comes from the client, so a map keyed by it
//! alone let any signed-in user stop another user's transcodes by naming their device (issue
//! 20, finding 6). A non-administrator only ever reaches the entries of their own user id; an
//! administrator may stop a device of anyone.
//!
//! Why bounded: the DeviceId is client input, and a fresh one per request grew this map without
//! limit (~120 MB per 4,000 requests before the ids were capped, `limits.rs`). Entries unused
//! for [`DeviceJobLimits::idle`] are dropped, at most [`DeviceJobLimits::max_devices`] are kept
//! (the least recently used half goes when it is full of live ones), and each device keeps its
//! [`DeviceJobLimits::keys_per_device`] most recent jobs. Forgetting an entry costs little:
//! a job nobody asks segments of stops by itself once its viewers are gone.
//!
//! The bookkeeping is pure (the caller passes `now`), so the rules are tested without sleeping.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// How much is remembered.
#[derive(Debug, Clone, Copy)]
pub struct DeviceJobLimits {
    /// Most (user, device) entries kept.
    pub max_devices: usize,
    /// Most job keys kept per entry (the most recent).
    pub keys_per_device: usize,
    /// An entry not used for this long is dropped.
    pub idle: Duration,
}

impl Default for DeviceJobLimits {
    fn default() -> Self {
        Self {
            max_devices: 10_000,
            keys_per_device: 8,
            idle: Duration::from_secs(6 * 3600),
        }
    }
}

/// Who asks to stop encodings.
#[derive(Debug, Clone, Copy)]
pub struct StopScope<'a> {
    /// The caller's user id.
    pub user_id: &'a str,
    /// Administrators may stop any user's device.
    pub is_admin: bool,
}

#[derive(Debug)]
struct Entry {
    /// Job keys, oldest first, no duplicates.
    keys: Vec<String>,
    seen: Instant,
}

/// The map: (user id, device id) → the job keys it fetched.
#[derive(Debug)]
pub struct DeviceJobs {
    limits: DeviceJobLimits,
    entries: HashMap<(String, String), Entry>,
}

impl DeviceJobs {
    /// An empty map with `limits`.
    pub fn new(limits: DeviceJobLimits) -> Self {
        Self {
            limits: DeviceJobLimits {
                max_devices: limits.max_devices.max(1),
                keys_per_device: limits.keys_per_device.max(1),
                idle: limits.idle,
            },
            entries: HashMap::new(),
        }
    }

    /// Records that `user_id`'s device `device_id` fetched from job `key`.
    pub fn remember(&mut self, user_id: &str, device_id: &str, key: &str, now: Instant) {
        let id = (user_id.to_owned(), device_id.to_owned());
        if !self.entries.contains_key(&id) && self.entries.len() >= self.limits.max_devices {
            self.make_room(now);
        }
        let entry = self.entries.entry(id).or_insert_with(|| Entry {
            keys: Vec::new(),
            seen: now,
        });
        entry.seen = now;
        entry.keys.retain(|k| k != key);
        entry.keys.push(key.to_owned());
        if entry.keys.len() > self.limits.keys_per_device {
            let excess = entry.keys.len() - self.limits.keys_per_device;
            entry.keys.drain(..excess);
        }
    }

    /// Forgets the device `device_id` (of the caller's user, or of every user for an
    /// administrator) and returns the job keys no other remembered device still uses: the
    /// jobs to stop (jobs are shared between viewers of the same rendition).
    pub fn take(&mut self, scope: StopScope<'_>, device_id: &str) -> Vec<String> {
        let mut keys = Vec::new();
        self.entries.retain(|(user, device), entry| {
            let ours = device == device_id && (scope.is_admin || user == scope.user_id);
            if ours {
                keys.append(&mut entry.keys);
            }
            !ours
        });
        keys.sort();
        keys.dedup();
        keys.retain(|k| !self.entries.values().any(|e| e.keys.contains(k)));
        keys
    }

    /// How many (user, device) entries are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops idle entries; if still full, the least recently used half.
    fn make_room(&mut self, now: Instant) {
        let idle = self.limits.idle;
        self.entries
            .retain(|_, e| now.saturating_duration_since(e.seen) < idle);
        if self.entries.len() < self.limits.max_devices {
            return;
        }
        let mut seen: Vec<Instant> = self.entries.values().map(|e| e.seen).collect();
        let middle = seen.len() / 2;
        let (_, cut, _) = seen.select_nth_unstable(middle);
        let cut = *cut;
        self.entries.retain(|_, e| e.seen > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_devices: usize) -> DeviceJobLimits {
        DeviceJobLimits {
            max_devices,
            keys_per_device: 2,
            idle: Duration::from_secs(60),
        }
    }

    const ALICE: StopScope<'static> = StopScope {
        user_id: "alice",
        is_admin: false,
    };

    #[test]
    fn a_user_stops_only_their_own_device() {
        let t0 = Instant::now();
        let mut jobs = DeviceJobs::new(limits(10));
        jobs.remember("bob", "phone", "job-b", t0);
        jobs.remember("alice", "tv", "job-a", t0);
        // Alice names Bob's device: nothing of Bob's is touched.
        assert!(jobs.take(ALICE, "phone").is_empty());
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs.take(ALICE, "tv"), vec!["job-a".to_owned()]);
        // An administrator may stop anyone's device.
        let admin = StopScope {
            user_id: "root",
            is_admin: true,
        };
        assert_eq!(jobs.take(admin, "phone"), vec!["job-b".to_owned()]);
        assert!(jobs.is_empty());
    }

    #[test]
    fn a_job_another_device_watches_keeps_running() {
        let t0 = Instant::now();
        let mut jobs = DeviceJobs::new(limits(10));
        jobs.remember("alice", "tv", "shared", t0);
        jobs.remember("bob", "phone", "shared", t0);
        assert!(jobs.take(ALICE, "tv").is_empty());
    }

    #[test]
    fn stays_bounded_under_fresh_device_ids() {
        let t0 = Instant::now();
        let mut jobs = DeviceJobs::new(limits(100));
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_millis(i);
            jobs.remember("mallory", &format!("dev-{i}"), "job", now);
            assert!(jobs.len() <= 100);
        }
        // The most recent device is kept.
        assert_eq!(
            jobs.take(
                StopScope {
                    user_id: "mallory",
                    is_admin: false
                },
                "dev-9999"
            ),
            Vec::<String>::new(),
            "job still used by other remembered devices"
        );
        // Idle entries go first, and each device keeps its most recent keys only.
        let later = t0 + Duration::from_secs(3600);
        jobs.remember("alice", "tv", "k1", later);
        jobs.remember("alice", "tv", "k2", later);
        jobs.remember("alice", "tv", "k3", later);
        assert_eq!(
            jobs.take(ALICE, "tv"),
            vec!["k2".to_owned(), "k3".to_owned()]
        );
    }
}
