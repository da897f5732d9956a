//! The job key, and every key the manager builds from it for the shared stores.
//!
//! # Why a newtype, computed once
//!
//! The job key is a hash of what a rendition produces ([`Rendition::job_key`]); hashing is
//! cheap but not free, and a `String` says nothing about what it holds. [`JobKey`] is computed
//! once per request and handed around; its constructor is the only place that decides what a
//! valid key looks like (32 lowercase hex digits), which is also what keeps a key from ever
//! naming a path outside the segment directory. The keys the manager stores under (the job's
//! lease, the capacity pools) are built here and nowhere else.
//!
//! [`Rendition::job_key`]: super::Rendition::job_key

use std::fmt;

use serde::{Deserialize, Serialize};

/// The cluster-wide key of one transcode job: 32 hex digits (see
/// [`Rendition::job_key`](super::Rendition::job_key)).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobKey(String);

impl JobKey {
    /// Length of a key in hex digits.
    pub const LEN: usize = 32;

    /// A key from its text; `None` unless it is 32 hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == Self::LEN && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Self(text.to_ascii_lowercase()))
    }

    /// A key from the first 16 bytes of a digest.
    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        Self(digest.iter().take(16).map(|b| format!("{b:02x}")).collect())
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for JobKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<JobKey> for String {
    fn from(key: JobKey) -> Self {
        key.0
    }
}

impl TryFrom<String> for JobKey {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text).ok_or_else(|| format!("not a job key: {text:?}"))
    }
}

/// The job's lease.
pub(crate) fn lease(key: &JobKey) -> String {
    format!("transcode:{key}")
}

/// The slot pool limiting how many jobs `user` runs cluster-wide.
pub(crate) fn user_pool(user: &str) -> String {
    format!("user:{user}")
}

/// The slot pool of `node`'s QSV encoder.
pub(crate) fn qsv_pool(node: &str) -> String {
    format!("qsv:{node}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_32_hex_digits_are_a_key() {
        let key = JobKey::parse("0123456789ABCDEF0123456789abcdef").unwrap();
        assert_eq!(key.as_str(), "0123456789abcdef0123456789abcdef");
        for bad in ["", "../etc", "0123456789abcdef0123456789abcdeg", "00"] {
            assert!(JobKey::parse(bad).is_none(), "{bad:?}");
        }
        let json = serde_json::to_string(&key).unwrap();
        assert_eq!(serde_json::from_str::<JobKey>(&json).unwrap(), key);
        assert!(serde_json::from_str::<JobKey>("\"x\"").is_err());
        assert_eq!(lease(&key), format!("transcode:{key}"));
    }
}
