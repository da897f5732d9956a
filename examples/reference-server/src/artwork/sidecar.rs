//! Which picture files beside the media are whose artwork, by Jellyfin's and Kodi's names.
//!
//! Why rules and not a database: people who move from Jellyfin or Kodi already keep posters
//! and fanart next to their films under well-known names, and expect a new server to show
//! them. The rules, for a video `Film (2020).mkv`:
//!
//! | kind | the video's own | its folder's (only when it is the only video there) |
//! |---|---|---|
//! | Primary | `Film (2020)-poster.jpg`, `Film (2020).jpg` | `poster`, `folder`, `cover`, `default`, `movie` |
//! | Backdrop | `Film (2020)-fanart.jpg`, `…-backdrop[N].jpg` | `fanart[N]`, `backdrop[N]`, `background[N]`, `art[N]` |
//! | Thumb | `Film (2020)-thumb.jpg`, `…-landscape.jpg` | `thumb`, `landscape` |
//!
//! A folder (or library root) takes the folder names of its own directory. Extensions:
//! `jpg`, `jpeg`, `png`, `webp`, any case. Several backdrops are numbered in name order
//! (`fanart.jpg`, `fanart1.jpg`, …). A video's own file wins over its folder's.
//!
//! Pure functions over a directory listing, so the scan reads each directory once and the
//! rules are tested without a file system.

use media_ha::core::{ids, ImageKind, ItemImage};

/// Picture extensions served as artwork.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp"];

/// Folder-level names per kind (the file stem, lower-case).
const FOLDER_NAMES: &[(ImageKind, &[&str])] = &[
    (
        ImageKind::Primary,
        &["poster", "folder", "cover", "default", "movie"],
    ),
    (
        ImageKind::Backdrop,
        &["fanart", "backdrop", "background", "art"],
    ),
    (ImageKind::Thumb, &["thumb", "landscape"]),
];

/// Suffixes after `<video stem>-` per kind.
const OWN_SUFFIXES: &[(ImageKind, &[&str])] = &[
    (ImageKind::Primary, &["poster", "cover"]),
    (ImageKind::Backdrop, &["fanart", "backdrop", "background"]),
    (ImageKind::Thumb, &["thumb", "landscape"]),
];

/// One picture file of a directory, as the scan saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Picture {
    /// Its file name.
    pub name: String,
    /// Its absolute path.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, ms since the epoch (0 when unknown).
    pub modified_ms: u64,
    /// Pixel size, when its header could be read.
    pub dimensions: Option<(u32, u32)>,
}

impl Picture {
    /// The [`ItemImage`] this picture becomes as artwork of `kind`.
    fn image(&self, kind: ImageKind) -> ItemImage {
        ItemImage {
            kind,
            path: self.path.clone(),
            tag: file_tag(&self.path, self.size, self.modified_ms),
            width: self.dimensions.map(|d| d.0),
            height: self.dimensions.map(|d| d.1),
        }
    }
}

/// The tag of an artwork file: changes whenever the file does (path, size or modification).
pub fn file_tag(path: &str, size: u64, modified_ms: u64) -> String {
    ids::item_id_for_path(&format!("artwork-file:v1:{path}:{size}:{modified_ms}"))
}

/// True for a file name with a picture extension.
pub fn is_picture(name: &str) -> bool {
    split(name).is_some()
}

/// `(stem, extension)` of a picture file name, both as written; `None` for other files.
fn split(name: &str) -> Option<(&str, &str)> {
    let (stem, ext) = name.rsplit_once('.')?;
    let ext_ok = IMAGE_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext));
    (ext_ok && !stem.is_empty()).then_some((stem, ext))
}

/// `base` or `base` followed by digits (`fanart`, `fanart1`, `fanart-2`), ignoring case.
fn matches_numbered(stem: &str, base: &str, numbered: bool) -> bool {
    let lower = stem.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix(base) else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let digits = rest.strip_prefix('-').unwrap_or(rest);
    numbered && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The pictures of one directory.
#[derive(Debug, Clone, Default)]
pub struct DirPictures {
    pictures: Vec<Picture>,
}

impl DirPictures {
    /// From the directory's picture files (any order; they are sorted by name).
    pub fn new(mut pictures: Vec<Picture>) -> Self {
        pictures.sort_by(|a, b| a.name.cmp(&b.name));
        Self { pictures }
    }

    /// True when the directory has no pictures.
    pub fn is_empty(&self) -> bool {
        self.pictures.is_empty()
    }

    /// The folder's own artwork (folder-level names).
    pub fn for_folder(&self) -> Vec<ItemImage> {
        let mut out = Vec::new();
        for (kind, names) in FOLDER_NAMES {
            let numbered = *kind == ImageKind::Backdrop;
            self.collect(&mut out, *kind, numbered, |stem| {
                names.iter().any(|n| matches_numbered(stem, n, numbered))
            });
        }
        out
    }

    /// The artwork of the video whose file stem is `video_stem`; `alone` when it is the only
    /// video in the directory (then the folder-level names are its too).
    pub fn for_video(&self, video_stem: &str, alone: bool) -> Vec<ItemImage> {
        let own_prefix = format!("{}-", video_stem.to_ascii_lowercase());
        let video_lower = video_stem.to_ascii_lowercase();
        let mut out = Vec::new();
        for (kind, suffixes) in OWN_SUFFIXES {
            let numbered = *kind == ImageKind::Backdrop;
            self.collect(&mut out, *kind, numbered, |stem| {
                let lower = stem.to_ascii_lowercase();
                let own = lower
                    .strip_prefix(&own_prefix)
                    .is_some_and(|s| suffixes.iter().any(|x| matches_numbered(s, x, numbered)));
                // `Film.jpg` beside `Film.mkv` is its poster (Kodi's `<name>.tbn` habit).
                own || (*kind == ImageKind::Primary && lower == video_lower)
            });
        }
        if alone {
            for image in self.for_folder() {
                let taken = out.iter().any(|i| i.kind == image.kind);
                if image.kind == ImageKind::Backdrop || !taken {
                    out.push(image);
                }
            }
            dedup_kinds(&mut out);
        }
        out
    }

    /// Pushes the pictures whose stem `wanted` accepts, as `kind` (one unless `several`).
    fn collect(
        &self,
        out: &mut Vec<ItemImage>,
        kind: ImageKind,
        several: bool,
        wanted: impl Fn(&str) -> bool,
    ) {
        for picture in &self.pictures {
            let Some((stem, _)) = split(&picture.name) else {
                continue;
            };
            if !wanted(stem) {
                continue;
            }
            if !several && out.iter().any(|i| i.kind == kind) {
                return;
            }
            if out.iter().any(|i| i.path == picture.path) {
                continue;
            }
            out.push(picture.image(kind));
        }
    }
}

/// Keeps one Primary and one Thumb (the first), every Backdrop once.
fn dedup_kinds(images: &mut Vec<ItemImage>) {
    let mut seen_primary = false;
    let mut seen_thumb = false;
    let mut paths = std::collections::HashSet::new();
    images.retain(|i| {
        if !paths.insert(i.path.clone()) {
            return false;
        }
        match i.kind {
            ImageKind::Primary => !std::mem::replace(&mut seen_primary, true),
            ImageKind::Thumb => !std::mem::replace(&mut seen_thumb, true),
            ImageKind::Backdrop => true,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(names: &[&str]) -> DirPictures {
        DirPictures::new(
            names
                .iter()
                .map(|n| Picture {
                    name: (*n).to_owned(),
                    path: format!("/m/{n}"),
                    size: 10,
                    modified_ms: 1,
                    dimensions: None,
                })
                .collect(),
        )
    }

    fn kinds(images: &[ItemImage]) -> Vec<(ImageKind, &str)> {
        images
            .iter()
            .map(|i| (i.kind, i.path.trim_start_matches("/m/")))
            .collect()
    }

    #[test]
    fn a_videos_own_pictures() {
        let d = dir(&[
            "Film-poster.JPG",
            "Film-fanart.jpg",
            "Film-fanart1.png",
            "Film-thumb.webp",
            "Other-poster.jpg",
            "notes.txt",
        ]);
        assert_eq!(
            kinds(&d.for_video("Film", false)),
            [
                (ImageKind::Primary, "Film-poster.JPG"),
                (ImageKind::Backdrop, "Film-fanart.jpg"),
                (ImageKind::Backdrop, "Film-fanart1.png"),
                (ImageKind::Thumb, "Film-thumb.webp"),
            ]
        );
        assert!(d.for_video("Unrelated", false).is_empty());
    }

    #[test]
    fn folder_pictures_belong_to_a_lone_video_and_to_the_folder() {
        let d = dir(&["poster.jpg", "fanart.jpg", "backdrop2.jpg", "landscape.png"]);
        let images = d.for_video("Film", true);
        let lone = kinds(&images);
        assert_eq!(
            lone,
            [
                (ImageKind::Primary, "poster.jpg"),
                (ImageKind::Backdrop, "backdrop2.jpg"),
                (ImageKind::Backdrop, "fanart.jpg"),
                (ImageKind::Thumb, "landscape.png"),
            ]
        );
        assert!(
            d.for_video("Film", false).is_empty(),
            "several videos: the folder's poster is the folder's"
        );
        assert_eq!(kinds(&d.for_folder()).len(), 4);
    }

    #[test]
    fn the_videos_own_poster_wins_over_the_folders() {
        let d = dir(&["folder.jpg", "Film.jpg", "fanart.jpg", "Film-fanart.jpg"]);
        assert_eq!(
            kinds(&d.for_video("Film", true)),
            [
                (ImageKind::Primary, "Film.jpg"),
                (ImageKind::Backdrop, "Film-fanart.jpg"),
                (ImageKind::Backdrop, "fanart.jpg"),
            ]
        );
    }

    #[test]
    fn names_that_only_look_alike_are_not_artwork() {
        let d = dir(&["posterity.jpg", "fanart-x.jpg", "art.gif", ".jpg", "cover"]);
        assert!(d.for_folder().is_empty(), "{:?}", d.for_folder());
        assert!(is_picture("a.JPEG") && !is_picture("a.gif") && !is_picture(".png"));
    }

    #[test]
    fn tags_follow_the_file() {
        let a = file_tag("/m/poster.jpg", 10, 1);
        assert_eq!(a, file_tag("/m/poster.jpg", 10, 1));
        assert_ne!(a, file_tag("/m/poster.jpg", 11, 1));
        assert_ne!(a, file_tag("/m/poster.jpg", 10, 2));
        assert_eq!(a.len(), 32);
    }
}
