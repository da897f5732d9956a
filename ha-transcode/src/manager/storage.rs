//! Where published segments live.
//!
//! # Why a trait with one implementation
//!
//! The first deployment shape is a directory every replica mounts (NFS, a Kubernetes RWX
//! volume, or one disk on a one-machine cluster): any replica can then serve any segment by
//! itself. Node-local storage ([`super::NodeLocalDirStorage`]) needs a segment this replica lacks
//! fetched from the owner's advertised address instead ([`StorageScope`] tells the manager
//! which); the trait is also the seam for an object store later.

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use async_trait::async_trait;

#[cfg(test)]
use crate::hls::naming::segment_file_name;

/// Segment storage, one directory per job key.
#[async_trait]
pub trait SegmentStorage: Send + Sync + Debug + 'static {
    /// The directory a job's worker writes into (created if missing).
    async fn prepare_job_dir(&self, key: &str) -> std::io::Result<PathBuf>;
    /// The published file `name` of a job (a segment, or an fMP4 job's `init.mp4`), if it
    /// exists. A name that is not a plain file name is never looked up.
    async fn file(&self, key: &str, name: &str) -> Option<PathBuf>;
    /// Deletes a job's directory and everything in it.
    async fn remove_job(&self, key: &str) -> std::io::Result<()>;
    /// Every job directory with its last modification time.
    async fn jobs(&self) -> std::io::Result<Vec<(String, SystemTime)>>;
    /// Whether other replicas see what this storage holds (default: they do).
    fn scope(&self) -> StorageScope {
        StorageScope::Shared
    }
}

/// Who sees the segments a storage holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageScope {
    /// Every replica (one mounted volume): any replica serves any published segment.
    Shared,
    /// Only the replica that wrote them: other replicas fetch from the owner.
    NodeLocal,
}

/// A directory shared by every replica: `<root>/<job key>/seg-000007.ts`.
#[derive(Debug, Clone)]
pub struct SharedDirStorage {
    root: PathBuf,
}

impl SharedDirStorage {
    /// Storage under `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A job key is 32 hex digits (see [`super::Rendition::job_key`]); anything else (a path
    /// traversal attempt included) never reaches the file system.
    fn dir(&self, key: &str) -> Option<PathBuf> {
        (key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit())).then(|| self.root.join(key))
    }
}

/// `seg-000007.ts`, `init.mp4`: no separator, not `.`/`..`, not hidden.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !name.contains(['/', '\\', '\0'])
}

fn bad_key(key: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("invalid job key {key:?}"),
    )
}

#[async_trait]
impl SegmentStorage for SharedDirStorage {
    async fn prepare_job_dir(&self, key: &str) -> std::io::Result<PathBuf> {
        let dir = self.dir(key).ok_or_else(|| bad_key(key))?;
        tokio::fs::create_dir_all(&dir).await?;
        Ok(dir)
    }

    async fn file(&self, key: &str, name: &str) -> Option<PathBuf> {
        if !is_plain_file_name(name) {
            return None;
        }
        let path = self.dir(key)?.join(name);
        tokio::fs::metadata(&path)
            .await
            .ok()
            .filter(|m| m.is_file())?;
        Some(path)
    }

    async fn remove_job(&self, key: &str) -> std::io::Result<()> {
        let dir = self.dir(key).ok_or_else(|| bad_key(key))?;
        match tokio::fs::remove_dir_all(&dir).await {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    async fn jobs(&self) -> std::io::Result<Vec<(String, SystemTime)>> {
        let mut out = Vec::new();
        let mut entries = match tokio::fs::read_dir(&self.root).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if self.dir(&name).is_none() {
                continue; // not ours: never touch foreign files in a shared directory
            }
            let meta = entry.metadata().await?;
            if meta.is_dir() {
                out.push((name, meta.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn traversal_keys_never_touch_the_file_system() {
        let dir = std::env::temp_dir().join(format!("ha-seg-{}", std::process::id()));
        let s = SharedDirStorage::new(&dir);
        for key in ["../etc", "..", "/etc/passwd", "abc", &"g".repeat(32)] {
            assert!(s.prepare_job_dir(key).await.is_err(), "{key}");
            assert!(s.file(key, &segment_file_name(0)).await.is_none());
            assert!(s.remove_job(key).await.is_err());
        }
        let key = "0123456789abcdef0123456789abcdef";
        let job = s.prepare_job_dir(key).await.unwrap();
        std::fs::write(job.join(segment_file_name(3)), b"ts").unwrap();
        std::fs::create_dir_all(dir.join("not-a-job")).unwrap();
        assert_eq!(
            s.file(key, &segment_file_name(3)).await,
            Some(job.join("seg-000003.ts"))
        );
        assert!(s.file(key, &segment_file_name(4)).await.is_none());
        for name in ["../x", "..", "", ".hidden", "a/b"] {
            assert!(s.file(key, name).await.is_none(), "{name:?}");
        }
        let jobs = s.jobs().await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(jobs[0].0, key);
        s.remove_job(key).await.unwrap();
        assert!(s.file(key, &segment_file_name(3)).await.is_none());
        assert!(
            dir.join("not-a-job").exists(),
            "foreign directories are left alone"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
