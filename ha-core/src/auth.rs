//! Password and token hashing, shared so every backend stores the same thing.
//!
//! Passwords are stored only as Argon2id PHC strings (salted, memory-hard). Access tokens are
//! random 128-bit values; stores keep only their SHA-256, which is enough for a secret with that
//! much entropy and cheap enough to compute on every request.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordVerifier};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Hashes a password with Argon2id and a random salt.
///
/// # Errors
/// [`Error::Invalid`] for a password over 4 KiB (a cheap denial-of-service guard).
pub fn hash_password(password: &str) -> Result<String> {
    if password.len() > 4096 {
        return Err(Error::Invalid("password longer than 4096 bytes".into()));
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::backend("argon2", std::io::Error::other(e.to_string())))
}

/// Checks a password against a stored hash. A malformed hash verifies nothing.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    if password.len() > 4096 {
        return false;
    }
    PasswordHash::new(stored_hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A new random access token (32 lower-case hex digits, as Jellyfin's).
pub fn generate_token() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// The SHA-256 of a token, hex-encoded: what stores keep instead of the token.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip_and_rejection() {
        let hash = hash_password("hunter2").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(!hash.contains("hunter2"));
        assert!(verify_password("hunter2", &hash));
        assert!(!verify_password("hunter3", &hash));
        assert!(!verify_password("hunter2", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = generate_token();
        let b = generate_token();
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), a);
        assert_eq!(hash_token(&a).len(), 64);
    }
}
