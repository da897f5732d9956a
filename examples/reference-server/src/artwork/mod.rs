//! Artwork: posters, backdrops and thumbs, from files beside the media or frames of the video.
//!
//! Where pictures come from, in order: files named like Jellyfin's and Kodi's beside the media
//! (`sidecar.rs`, found by the library scan and stored with the item as
//! [`ItemImage`]s, so every replica lists the same tags); for a video with no poster, a
//! still frame the server takes from it on first request (`frames.rs`: once per cluster under
//! a lease, stored in the shared transcode directory). Requests are resized and re-encoded
//! as asked (`request.rs`, `render.rs`) and the results kept per replica (`cache.rs`).
//!
//! | file | what |
//! |---|---|
//! | `sidecar.rs` | which picture files are whose artwork (pure rules) |
//! | `request.rs` | `maxWidth`, `fillHeight`, `quality`, `format`, … validated; output size |
//! | `render.rs` | decode, resize, encode (blocking; the `image` crate) |
//! | `frames.rs` | still frames from videos: lease, shared storage, failure markers |
//! | `cache.rs` | resized pictures on this replica's disk |
//! | `stats.rs` | counters for `/metrics` and tests |

pub mod cache;
pub mod frames;
pub mod render;
pub mod request;
pub mod sidecar;
pub mod stats;

use std::sync::Arc;

use media_ha::core::{ids, ImageKind, Item, ItemImage, ItemKind, LeaseManager};

use crate::config::Config;

/// Everything the image routes need, shared by the handlers.
#[derive(Debug, Clone)]
pub struct Artwork {
    /// Frames taken from videos.
    pub frames: frames::FrameStore,
    /// Resized pictures.
    pub cache: cache::RenderCache,
    /// Counters.
    pub stats: Arc<stats::ArtworkStats>,
}

impl Artwork {
    /// Frames under `<transcode dir>/artwork` (shared by the replicas), resized copies under
    /// `<data dir>/artwork-cache` (this replica's own).
    pub fn new(config: &Config, leases: Arc<dyn LeaseManager>) -> Self {
        let stats = Arc::new(stats::ArtworkStats::default());
        Self {
            frames: frames::FrameStore::new(
                config.transcode_dir.join("artwork"),
                leases,
                &config.node_id,
                stats.clone(),
            ),
            cache: cache::RenderCache::new(config.data_dir.join("artwork-cache"), &config.node_id),
            stats,
        }
    }
}

/// The tag of the frame taken from the video at `path` of `size` bytes.
pub fn frame_tag(path: &str, size: Option<u64>) -> String {
    ids::item_id_for_path(&format!("artwork-frame:v1:{path}:{}", size.unwrap_or(0)))
}

/// True when `image` is a frame of `item`'s own video rather than a file.
pub fn is_frame(item: &Item, image: &ItemImage) -> bool {
    image.path == item.path
}

/// The artwork an item gets: `found` (its files), plus — for a video without a poster, in a
/// build that can decode video — a frame of the video as its Primary.
pub fn with_frame(
    kind: ItemKind,
    path: &str,
    size: Option<u64>,
    mut found: Vec<ItemImage>,
) -> Vec<ItemImage> {
    let video = matches!(kind, ItemKind::Movie | ItemKind::Video | ItemKind::Episode);
    if cfg!(feature = "transcode") && video && !found.iter().any(|i| i.kind == ImageKind::Primary) {
        found.insert(
            0,
            ItemImage {
                kind: ImageKind::Primary,
                path: path.to_owned(),
                tag: frame_tag(path, size),
                width: None,
                height: None,
            },
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn videos_without_a_poster_get_a_frame() {
        let images = with_frame(ItemKind::Movie, "/m/a.mkv", Some(5), Vec::new());
        if cfg!(feature = "transcode") {
            assert_eq!(images.len(), 1);
            assert_eq!(images[0].tag, frame_tag("/m/a.mkv", Some(5)));
            assert_ne!(images[0].tag, frame_tag("/m/a.mkv", Some(6)));
        } else {
            assert!(images.is_empty());
        }
        assert!(with_frame(ItemKind::Folder, "/m", None, Vec::new()).is_empty());
        assert!(with_frame(ItemKind::Audio, "/m/a.mp3", Some(1), Vec::new()).is_empty());
        let poster = ItemImage {
            kind: ImageKind::Primary,
            path: "/m/a-poster.jpg".into(),
            tag: "t".into(),
            width: None,
            height: None,
        };
        let kept = with_frame(ItemKind::Movie, "/m/a.mkv", Some(5), vec![poster.clone()]);
        assert_eq!(kept, vec![poster]);
    }
}
