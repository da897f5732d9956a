//! Resized pictures kept on this replica's disk, keyed by what was asked for.
//!
//! Why on disk and per replica: decoding a 2000-pixel poster and encoding a 300-pixel copy
//! costs tens of milliseconds of CPU; a library page asks for dozens, and every client of the
//! same kind asks for the same sizes. The key is a hash of the picture's tag and the
//! normalised request (see `request.rs`), so a changed picture (new tag) never serves a stale
//! copy and needs no invalidation; entries of old tags are simply never asked for again.
//! Files are written under a temporary name and renamed, so a reader sees a whole file or none.

use std::path::PathBuf;

use super::frames::write_atomically;
use super::request::Format;

/// The cache directory.
#[derive(Debug, Clone)]
pub struct RenderCache {
    dir: PathBuf,
    holder: String,
}

impl RenderCache {
    /// A cache under `dir` (created on first write).
    pub fn new(dir: PathBuf, holder: &str) -> Self {
        Self {
            dir,
            holder: holder.to_owned(),
        }
    }

    fn path(&self, key: &str, format: Format) -> PathBuf {
        let shard = key.get(..2).unwrap_or("00");
        self.dir
            .join(shard)
            .join(format!("{key}.{}", format.extension()))
    }

    /// The cached bytes for `key`, if any.
    pub async fn get(&self, key: &str, format: Format) -> Option<Vec<u8>> {
        tokio::fs::read(self.path(key, format)).await.ok()
    }

    /// Stores `bytes` under `key` (failures are logged: the answer is served anyway).
    pub async fn put(&self, key: &str, format: Format, bytes: &[u8]) {
        let path = self.path(key, format);
        let result = async {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            write_atomically(&path, bytes, &self.holder).await
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, path = %path.display(), "artwork: cannot cache a resized picture");
        }
    }
}
