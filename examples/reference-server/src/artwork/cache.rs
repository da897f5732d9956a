//! Resized pictures kept on this replica's disk, keyed by what was asked for.
//!
//! Why on disk and per replica: decoding a 2000-pixel poster and encoding a 300-pixel copy
//! costs tens of milliseconds of CPU; a library page asks for dozens, and every client of the
//! same kind asks for the same sizes. The key is a hash of the picture's tag and the
//! normalised request (see `request.rs`), so a changed picture (new tag) never serves a stale
//! copy and needs no invalidation; entries of old tags are simply never asked for again.
//! Files are written under a temporary name and renamed, so a reader sees a whole file or none.
//!
//! Why a cap per picture: sizes come from the client, so without one a client asking for
//! `maxWidth=1`, `2`, `3`, … would fill the disk one file at a time. Each picture (tag) has a
//! directory of its own holding at most [`MAX_VARIANTS_PER_PICTURE`] renders; past that, renders
//! are served but not kept. Real clients ask for a handful of sizes per picture, so they never
//! notice; the disk used is bounded by the library's pictures, not by the requests.

use std::path::PathBuf;

use super::frames::write_atomically;
use super::request::Format;

/// Renders kept per picture (all sizes, formats and qualities together).
pub const MAX_VARIANTS_PER_PICTURE: usize = 16;

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

    /// The directory of one picture's renders: a hash of its tag, so any tag is a safe name.
    fn picture_dir(&self, tag: &str) -> PathBuf {
        let hashed = media_ha::core::ids::item_id_for_path(tag);
        let shard = hashed.get(..2).unwrap_or("00").to_owned();
        self.dir.join(shard).join(hashed)
    }

    fn path(&self, tag: &str, key: &str, format: Format) -> PathBuf {
        self.picture_dir(tag)
            .join(format!("{key}.{}", format.extension()))
    }

    /// The cached bytes for `key` (a render of the picture tagged `tag`), if any.
    pub async fn get(&self, tag: &str, key: &str, format: Format) -> Option<Vec<u8>> {
        tokio::fs::read(self.path(tag, key, format)).await.ok()
    }

    /// Stores `bytes` under `key`, unless the picture already has
    /// [`MAX_VARIANTS_PER_PICTURE`] renders. Failures are logged: the answer is served anyway.
    /// Returns whether the render was kept.
    pub async fn put(&self, tag: &str, key: &str, format: Format, bytes: &[u8]) -> bool {
        let dir = self.picture_dir(tag);
        if variants(&dir).await >= MAX_VARIANTS_PER_PICTURE {
            tracing::debug!(dir = %dir.display(), "artwork: render not kept (per-picture cap)");
            return false;
        }
        let path = self.path(tag, key, format);
        let result = async {
            tokio::fs::create_dir_all(&dir).await?;
            write_atomically(&path, bytes, &self.holder).await
        }
        .await;
        match result {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(error = %err, path = %path.display(), "artwork: cannot cache a resized picture");
                false
            }
        }
    }
}

/// How many renders `dir` holds (0 when it does not exist yet).
async fn variants(dir: &std::path::Path) -> usize {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return 0;
    };
    let mut count = 0;
    while let Ok(Some(_)) = entries.next_entry().await {
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_picture_keeps_at_most_the_cap_of_renders() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RenderCache::new(dir.path().to_path_buf(), "test");
        for width in 0..(MAX_VARIANTS_PER_PICTURE + 10) {
            let key = format!("w{width}");
            let kept = cache.put("tag-a", &key, Format::Jpeg, b"jpeg").await;
            assert_eq!(kept, width < MAX_VARIANTS_PER_PICTURE, "render {width}");
            let cached = cache.get("tag-a", &key, Format::Jpeg).await;
            assert_eq!(cached.is_some(), kept, "render {width}");
        }
        assert_eq!(
            variants(&cache.picture_dir("tag-a")).await,
            MAX_VARIANTS_PER_PICTURE
        );
        // Another picture has a budget of its own.
        assert!(cache.put("tag-b", "w1", Format::Png, b"png").await);
        assert_eq!(
            cache.get("tag-b", "w1", Format::Png).await.as_deref(),
            Some(&b"png"[..])
        );
    }

    #[tokio::test]
    async fn any_tag_is_a_safe_directory_name() {
        let dir = tempfile::tempdir().unwrap();
        let cache = RenderCache::new(dir.path().to_path_buf(), "test");
        assert!(cache.put("../../etc/x", "k", Format::Jpeg, b"x").await);
        assert!(cache.picture_dir("../../etc/x").starts_with(dir.path()));
    }
}
