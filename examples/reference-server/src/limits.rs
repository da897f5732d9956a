//! Caps on the client-supplied strings the server stores or keeps in memory.
//!
//! Why: a field limited only by the header or body size limit (tens of kilobytes) is copied into
//! the session, every activity entry and the in-memory device map; a hostile client sending one
//! fresh value per request grew the memory of a replica by ~120 MB per 4,000 requests (issue
//! 20). Every such field is cut here, once, where it enters: identifiers and display strings
//! alike are truncated (at a character boundary), not refused, because real clients send them
//! unasked in every request and a long-but-honest value (Jellyfin Web's DeviceId is a base64
//! user agent, ~150 characters) must keep working. Truncation is deterministic, so the same
//! DeviceId still names the same device. User names, which are identities chosen by an
//! administrator, are refused instead ([`MAX_USER_NAME`]).

/// Longest identifier kept: DeviceId, PlaySessionId, MediaSourceId (bytes).
pub const MAX_ID: usize = 256;
/// Longest display string kept: Device, Client (bytes).
pub const MAX_NAME: usize = 128;
/// Longest client version kept (bytes).
pub const MAX_VERSION: usize = 64;
/// Longest user name accepted at creation (bytes).
pub const MAX_USER_NAME: usize = 128;

/// `s` cut to at most `max` bytes, at a character boundary.
pub fn cap(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// [`cap`] for an optional value.
pub fn cap_opt(s: Option<String>, max: usize) -> Option<String> {
    s.map(|s| cap(s, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_at_a_character_boundary() {
        assert_eq!(cap("abc".into(), 5), "abc");
        assert_eq!(cap("abcdef".into(), 3), "abc");
        // 'é' is two bytes: cutting inside it keeps the character out.
        assert_eq!(cap("aé".into(), 2), "a");
        assert_eq!(
            cap_opt(Some("x".repeat(300)), MAX_ID).map(|s| s.len()),
            Some(MAX_ID)
        );
    }
}
