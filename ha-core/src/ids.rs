//! Identifiers.
//!
//! Item ids are derived from the path, so two replicas scanning the same volume agree on every
//! id without talking to each other. Everything else gets a random id.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A random id: 32 lower-case hex digits (a dash-less GUID, as Jellyfin clients expect).
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    crate::auth::hex(&bytes)
}

/// The id of the library item at `path`: the first 128 bits of its SHA-256, hex-encoded.
pub fn item_id_for_path(path: &str) -> String {
    crate::auth::hex(&Sha256::digest(path.as_bytes())[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_are_stable_and_distinct() {
        assert_eq!(item_id_for_path("/m/a.mkv"), item_id_for_path("/m/a.mkv"));
        assert_ne!(item_id_for_path("/m/a.mkv"), item_id_for_path("/m/b.mkv"));
        assert_eq!(new_id().len(), 32);
    }
}
