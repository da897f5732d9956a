//! Key names: namespaced by a prefix and hash-tagged for Redis Cluster.
//!
//! # Why hash tags
//!
//! Every check-and-change is one Lua script, and a script may only touch keys of one Cluster
//! slot. Redis hashes only the part of a key between the first `{` and the next `}`, so every
//! key that a script touches together shares one tag: the lease `{P:lease:K}` and its fencing
//! counter `{P:lease:K}:fence`, a slot pool `{P:slots:K}` and its holders `{P:slots:K}:holders`.
//! Keys of *different* leases or jobs have different tags on purpose, so they spread over the
//! cluster; the price is that a batch over many keys is one call per slot on Cluster (see
//! [`slot_of`]).
//!
//! User-chosen names may contain braces, which would cut a tag short, so `{`, `}` and `%` are
//! percent-escaped inside tags. The escaping is injective: two names never share a key.

use std::fmt::Write as _;

/// Builds every key of one store from its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// Keys under `prefix` (escaped like names).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: escape(prefix),
        }
    }

    fn tagged(&self, kind: &str, name: &str) -> String {
        format!("{{{}:{kind}:{}}}", self.prefix, escape(name))
    }

    /// The hash holding a lease (holder, token, ttl); expires with the lease.
    pub fn lease(&self, key: &str) -> String {
        self.tagged("lease", key)
    }

    /// The last fencing token issued for a lease key; outlives the lease.
    pub fn lease_fence(&self, key: &str) -> String {
        format!("{}:fence", self.lease(key))
    }

    /// The hash holding a transcode job record.
    pub fn job(&self, key: &str) -> String {
        self.tagged("job", key)
    }

    /// The index of job keys (a sorted set scored by claim time) used by `list`.
    pub fn job_index(&self) -> String {
        format!("{{{}:jobs}}", self.prefix)
    }

    /// The hash holding a session.
    pub fn session(&self, token_hash: &str) -> String {
        self.tagged("session", token_hash)
    }

    /// The index of session token hashes (a sorted set scored by write time) used by `list`.
    pub fn session_index(&self) -> String {
        format!("{{{}:sessions}}", self.prefix)
    }

    /// The sorted set of live slot ids of a pool, scored by their server-time deadline (ms).
    pub fn slot_pool(&self, pool: &str) -> String {
        self.tagged("slots", pool)
    }

    /// The hash slot id → holder of a pool.
    pub fn slot_holders(&self, pool: &str) -> String {
        format!("{}:holders", self.slot_pool(pool))
    }

    /// The pub/sub channel of the event bus (pub/sub is cluster-wide, no tag needed).
    pub fn events_channel(&self) -> String {
        format!("{}:events", self.prefix)
    }
}

/// Percent-escapes `{`, `}` and `%` so a name never ends a hash tag early.
fn escape(name: &str) -> String {
    if !name.contains(['{', '}', '%']) {
        return name.to_owned();
    }
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        match c {
            '{' | '}' | '%' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// The Redis Cluster slot (0..16384) of a key: CRC16/XMODEM of its hash tag, modulo 16384.
///
/// Used to batch lease renewals per slot when the store runs on Cluster.
pub fn slot_of(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match bytes.iter().position(|&b| b == b'{') {
        Some(open) => match bytes[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    crc16_xmodem(hashed) % 16384
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_and_fence_share_a_slot() {
        let k = Keys::new("ha");
        assert_eq!(k.lease("job:42"), "{ha:lease:job:42}");
        assert_eq!(
            slot_of(&k.lease("job:42")),
            slot_of(&k.lease_fence("job:42"))
        );
        assert_eq!(
            slot_of(&k.slot_pool("qsv")),
            slot_of(&k.slot_holders("qsv"))
        );
    }

    #[test]
    fn braces_are_escaped_injectively() {
        let k = Keys::new("ha");
        assert_eq!(k.lease("a{b}"), "{ha:lease:a%7Bb%7D}");
        assert_ne!(k.lease("a%7B"), k.lease("a{"));
        assert_eq!(k.lease("a%7B"), "{ha:lease:a%257B}");
    }

    #[test]
    fn slot_matches_redis_reference_values() {
        // Values from the Redis Cluster specification / CLUSTER KEYSLOT.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(slot_of("foo"), 12182);
        assert_eq!(
            slot_of("{user1000}.following"),
            slot_of("{user1000}.followers")
        );
        assert_eq!(slot_of("foo{}{bar}"), slot_of("foo{}{bar}"));
    }
}
