//! Unique names and free ports.
//!
//! Tests run in parallel threads of one process *and* in several processes at once (one per test
//! binary, several engineers or CI jobs on one machine) against the same shared Redis and
//! Postgres. A name must therefore be unique across processes, not just across threads: it
//! carries the process id, a per-process counter and a few random characters (the pid alone is
//! reused over time, and a stale key from a crashed earlier run must not be mistaken for ours).
//! Names are restricted to `[a-z0-9_]` and at most 63 bytes so the same string works as a Redis
//! key prefix and as an unquoted Postgres identifier (schema name).

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Postgres truncates identifiers longer than this (NAMEDATALEN - 1).
const MAX_IDENT: usize = 63;

/// Returns a name unique per call across threads and processes: `prefix_<pid>_<n>_<random>`.
///
/// The prefix is lower-cased and every character outside `[a-z0-9_]` becomes `_`; a name never
/// starts with a digit and never exceeds 63 bytes (the prefix is shortened if needed), so it is
/// usable as-is as a Postgres schema name and as a Redis key prefix.
///
/// ```
/// let a = ha_testkit::unique("Lease-Test");
/// let b = ha_testkit::unique("Lease-Test");
/// assert_ne!(a, b);
/// assert!(a.starts_with("lease_test_"));
/// assert!(a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
/// ```
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let suffix = format!("_{pid}_{n}_{}", random_chars(pid, n));

    let mut head: String = prefix
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if head.is_empty() || head.starts_with(|c: char| c.is_ascii_digit()) {
        head.insert(0, 't');
    }
    // All characters are ASCII here, so byte truncation is char-safe.
    head.truncate(MAX_IDENT.saturating_sub(suffix.len()).max(1));
    head + &suffix
}

/// Six base-36 characters from a randomly keyed hash (std's `RandomState` is seeded from the OS).
fn random_chars(pid: u32, n: u64) -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(pid);
    h.write_u64(n);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.write_u128(nanos);
    let mut v = h.finish();
    let mut s = String::with_capacity(6);
    for _ in 0..6 {
        let d = (v % 36) as u32;
        v /= 36;
        s.push(char::from_digit(d, 36).unwrap_or('x'));
    }
    s
}

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
///
/// The port is found by binding port 0 and closing the socket, so another process may take it
/// before you bind it; callers that start servers retry on a new port when that happens (as
/// [`RedisServer::start`](crate::RedisServer::start) does). Within one process the same port is
/// never handed out twice.
///
/// # Panics
///
/// If no port can be bound on 127.0.0.1 at all.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = ha_core::sync::lock(&GIVEN);
    let given = given.get_or_insert_with(HashSet::new);
    for _ in 0..64 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("ha-testkit: cannot bind any TCP port on 127.0.0.1");
        if given.insert(port) {
            return port;
        }
    }
    panic!("ha-testkit: the OS keeps handing out ports this process already used")
}
