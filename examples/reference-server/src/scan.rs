//! The library scan: walk the media roots, write items, announce the change.
//!
//! Why a lease: every replica sees the same media volume, and scanning it on all of them at
//! once would probe each file N times and race N writers on the same items. The scan holds the
//! lease `library-scan` through a [`LeaseKeeper`]; a replica that cannot get it skips that
//! round (somebody else is scanning). Item ids come from the path
//! ([`ids::item_id_for_path`]), so whichever replica scans writes the same ids. If the lease is
//! lost mid-scan (store outage, long pause) the scan stops at the next file; on shutdown the
//! keeper releases the lease at once so another replica can take over the next round.
//!
//! Files that cannot be played (FIFOs and devices, empty files, files FFmpeg cannot read or
//! decode) are left out, logged, and listed in [`ScanReport::skipped`] with a reason; see
//! `triage.rs` for why and for the rules.
//!
//! Finished scans that changed something publish `library.changed` on the [`EventBus`]
//! (media_ha::core::EventBus), with the ids of what changed (Jellyfin's `LibraryUpdateInfo`
//! names), so other replicas can drop caches and connected clients refresh (`live`).
//!
//! Artwork is found here too: the picture files of each directory are read once during the
//! walk and assigned to its folder and videos by Jellyfin's and Kodi's names
//! (`artwork::sidecar`); a video without a poster lists a frame of itself
//! (`artwork::with_frame`), extracted on first request.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use media_ha::core::{
    ids, Item, ItemImage, ItemKind, ItemQuery, KeeperConfig, LeaseKeeper, SystemClock,
};
use serde_json::json;
use tokio::sync::{watch, Notify};

use crate::artwork::sidecar::{is_picture, DirPictures, Picture};
use crate::artwork::with_frame;
use crate::error::chain;
use crate::probe::probe_file;
use crate::state::AppState;
use crate::timefmt::now_ms;
use crate::triage::file_problem;

/// The lease key held while scanning.
pub const SCAN_LEASE: &str = "library-scan";
const SCAN_LEASE_TTL: Duration = Duration::from_secs(30);
/// Deeper trees than this are not walked (a guard against pathological layouts).
const MAX_DEPTH: usize = 32;

const VIDEO_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "mkv", "webm", "mov", "avi", "ts", "m2ts", "mts", "mpg", "mpeg", "wmv", "flv",
    "ogv", "3gp",
];
const AUDIO_EXTENSIONS: &[&str] = &["mp3", "flac", "m4a", "aac", "ogg", "oga", "opus", "wav"];

/// What one scan attempt did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Scan attempts finished so far (including skipped ones).
    pub runs: u64,
    /// Did the last attempt run (false: another replica held the lease, or it failed)?
    pub ran: bool,
    /// Items added by the last run.
    pub added: u64,
    /// Items changed by the last run.
    pub updated: u64,
    /// Items removed by the last run.
    pub removed: u64,
    /// Files with a media extension the last run left out of the library, and why.
    pub skipped: Vec<Skipped>,
    /// Ids of the items added, changed and removed (at most [`MAX_CHANGED_IDS`] each).
    pub changed_ids: ChangedIds,
}

/// The most ids of each kind a scan report (and its `library.changed` event) carries.
pub const MAX_CHANGED_IDS: usize = 1000;

/// Which items a scan changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangedIds {
    /// Added.
    pub added: Vec<String>,
    /// Changed.
    pub updated: Vec<String>,
    /// Removed.
    pub removed: Vec<String>,
}

fn note(ids: &mut Vec<String>, id: &str) {
    if ids.len() < MAX_CHANGED_IDS {
        ids.push(id.to_owned());
    }
}

/// A file the scan did not add to the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its path.
    pub path: String,
    /// Why (for logs and the report).
    pub reason: String,
}

impl Skipped {
    fn new(path: &str, reason: String) -> Self {
        tracing::warn!(path, %reason, "media file left out of the library");
        Self {
            path: path.to_owned(),
            reason,
        }
    }
}

/// A handle to ask for scans and watch them finish.
#[derive(Debug, Clone)]
pub struct ScanTrigger {
    notify: Arc<Notify>,
    report: watch::Receiver<ScanReport>,
}

/// The receiving end, run by [`ScanLoop::run`].
#[derive(Debug)]
pub struct ScanLoop {
    notify: Arc<Notify>,
    report: watch::Sender<ScanReport>,
}

/// A connected trigger and loop.
pub fn channel() -> (ScanTrigger, ScanLoop) {
    let notify = Arc::new(Notify::new());
    let (tx, rx) = watch::channel(ScanReport::default());
    (
        ScanTrigger {
            notify: notify.clone(),
            report: rx,
        },
        ScanLoop { notify, report: tx },
    )
}

impl ScanTrigger {
    /// Asks for a scan soon (requests while one runs are coalesced into one more).
    pub fn trigger(&self) {
        self.notify.notify_one();
    }

    /// The latest report.
    pub fn report(&self) -> ScanReport {
        self.report.borrow().clone()
    }

    /// Waits until at least `runs` scan attempts have finished.
    pub async fn wait_for_runs(&self, runs: u64) -> ScanReport {
        let mut rx = self.report.clone();
        let result = rx.wait_for(|r| r.runs >= runs).await.map(|r| r.clone());
        result.unwrap_or_default()
    }
}

impl ScanLoop {
    /// Scans at once, then on each trigger and every `interval`, until `shutdown` turns true.
    pub async fn run(self, state: AppState, mut shutdown: watch::Receiver<bool>) {
        let interval = state.config.scan_interval;
        loop {
            let outcome = scan_once(&state, &mut shutdown).await;
            let runs = self.report.borrow().runs + 1;
            let report = match outcome {
                Ok(Some(mut r)) => {
                    r.runs = runs;
                    r.ran = true;
                    r
                }
                Ok(None) => ScanReport {
                    runs,
                    ..ScanReport::default()
                },
                Err(err) => {
                    tracing::warn!(error = %err, "library scan failed");
                    ScanReport {
                        runs,
                        ..ScanReport::default()
                    }
                }
            };
            self.report.send_replace(report);
            let wait_interval = async {
                match interval {
                    Some(i) => tokio::time::sleep(i).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.notify.notified() => {}
                _ = wait_interval => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}

/// Runs one scan if this replica gets the lease. `Ok(None)`: another replica holds it.
async fn scan_once(
    state: &AppState,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<Option<ScanReport>, String> {
    let stores = &state.stores;
    let lease = stores
        .leases
        .try_acquire(SCAN_LEASE, &state.config.node_id, SCAN_LEASE_TTL)
        .await
        .map_err(|e| chain(&e))?;
    let Some(lease) = lease else {
        tracing::info!("library scan skipped: another replica holds the scan lease");
        return Ok(None);
    };
    let keeper = LeaseKeeper::spawn(
        stores.leases.clone(),
        lease,
        SystemClock::shared(),
        KeeperConfig::default(),
    );
    tracing::info!(token = %keeper.token(), "library scan started");
    let result = walk_and_write(state, &keeper, shutdown).await;
    keeper.shutdown().await;
    let report = result?;
    tracing::info!(
        added = report.added,
        updated = report.updated,
        removed = report.removed,
        skipped = report.skipped.len(),
        "library scan finished"
    );
    if report.added + report.updated + report.removed > 0 {
        let ids = &report.changed_ids;
        let payload = json!({
            "added": report.added,
            "updated": report.updated,
            "removed": report.removed,
            "ItemsAdded": ids.added,
            "ItemsUpdated": ids.updated,
            "ItemsRemoved": ids.removed,
        });
        if let Err(err) = state.publisher.publish("library.changed", payload).await {
            tracing::warn!(error = %chain(&err), "could not publish library.changed");
        }
    }
    Ok(Some(report))
}

/// One file or directory found on disk.
#[derive(Debug)]
struct Found {
    path: String,
    parent: Option<String>,
    kind: ItemKind,
    name: String,
    size: Option<u64>,
    /// Artwork files found beside it.
    images: Vec<ItemImage>,
}

async fn walk_and_write(
    state: &AppState,
    keeper: &LeaseKeeper,
    shutdown: &watch::Receiver<bool>,
) -> Result<ScanReport, String> {
    let roots = state.library_roots.clone();
    let (found, skipped) = tokio::task::spawn_blocking(move || walk_roots(&roots))
        .await
        .map_err(|e| e.to_string())?;
    let metadata = &state.stores.metadata;
    let mut report = ScanReport {
        skipped,
        ..ScanReport::default()
    };
    let mut seen = HashSet::new();
    let root_ids: HashSet<String> = found
        .iter()
        .filter(|f| f.parent.is_none())
        .map(|f| ids::item_id_for_path(&f.path))
        .collect();

    for f in &found {
        if !keeper.is_held() || *shutdown.borrow() {
            return Err("scan interrupted (lease lost or shutting down)".into());
        }
        let id = ids::item_id_for_path(&f.path);
        let parent_id = f.parent.as_deref().map(ids::item_id_for_path);
        let existing = metadata.get_item(&id).await.map_err(|e| chain(&e))?;
        let images = with_frame(f.kind, &f.path, f.size, f.images.clone());
        let unchanged = existing.as_ref().is_some_and(|e| {
            e.size_bytes == f.size
                && e.parent_id == parent_id
                && e.kind == f.kind
                && e.name == f.name
                && e.images == images
        });
        if unchanged {
            seen.insert(id);
            continue;
        }
        let facts = if f.kind.is_folder() {
            Default::default()
        } else {
            match probe_file(Path::new(&f.path)).await {
                Ok(facts) => facts,
                Err(reason) => {
                    // Not seen: an item listed before and broken since is removed below.
                    report.skipped.push(Skipped::new(&f.path, reason));
                    continue;
                }
            }
        };
        seen.insert(id.clone());
        let item = Item {
            id,
            parent_id,
            path: f.path.clone(),
            kind: f.kind,
            name: f.name.clone(),
            date_added_ms: existing.as_ref().map_or_else(now_ms, |e| e.date_added_ms),
            size_bytes: f.size,
            runtime_ticks: facts.runtime_ticks,
            container: facts.container,
            probe_json: facts.probe_json,
            images,
        };
        metadata.upsert_item(&item).await.map_err(|e| chain(&e))?;
        if existing.is_some() {
            report.updated += 1;
            note(&mut report.changed_ids.updated, &item.id);
        } else {
            report.added += 1;
            note(&mut report.changed_ids.added, &item.id);
        }
    }

    // Remove what is gone: items under scanned roots not seen, and roots no longer configured.
    let mut stale = Vec::new();
    let top = ItemQuery::default();
    for root in metadata
        .query_items(&top)
        .await
        .map_err(|e| chain(&e))?
        .items
    {
        if !root_ids.contains(&root.id) {
            stale.push(root.id.clone());
        }
        let mut start = 0;
        loop {
            let query = ItemQuery {
                parent_id: Some(root.id.clone()),
                recursive: true,
                start_index: start,
                limit: Some(1000),
                ..ItemQuery::default()
            };
            let page = metadata.query_items(&query).await.map_err(|e| chain(&e))?;
            if page.items.is_empty() {
                break;
            }
            start += page.items.len() as u32;
            stale.extend(
                page.items
                    .into_iter()
                    .map(|i| i.id)
                    .filter(|id| !seen.contains(id)),
            );
        }
    }
    for id in stale {
        if !keeper.is_held() {
            return Err("scan interrupted (lease lost)".into());
        }
        if metadata.delete_item(&id).await.map_err(|e| chain(&e))? {
            report.removed += 1;
            note(&mut report.changed_ids.removed, &id);
        }
    }
    Ok(report)
}

/// Walks every root (blocking I/O): roots first, parents before children; media files that
/// must not be opened go to the second list.
fn walk_roots(roots: &[PathBuf]) -> (Vec<Found>, Vec<Skipped>) {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for root in roots {
        let root = match std::fs::canonicalize(root) {
            Ok(r) => r,
            Err(err) => {
                tracing::warn!(root = %root.display(), error = %err, "library root unreadable; skipped");
                continue;
            }
        };
        let Some(path) = root.to_str() else {
            tracing::warn!(root = %root.display(), "library root path is not UTF-8; skipped");
            continue;
        };
        let index = out.len();
        out.push(Found {
            path: path.to_owned(),
            parent: None,
            kind: ItemKind::CollectionFolder,
            name: file_name(&root),
            size: None,
            images: Vec::new(),
        });
        walk_dir(&root, path, 0, index, &mut out, &mut skipped);
    }
    (out, skipped)
}

/// Walks `dir`, whose own entry is `out[own]`.
fn walk_dir(
    dir: &Path,
    dir_str: &str,
    depth: usize,
    own: usize,
    out: &mut Vec<Found>,
    skipped: &mut Vec<Skipped>,
) {
    if depth >= MAX_DEPTH {
        return;
    }
    let first = out.len();
    let mut pictures = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(err) => {
            tracing::warn!(dir = %dir.display(), error = %err, "directory unreadable; skipped");
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(path_str) = path.to_str() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // DirEntry::metadata does not follow symlinks: a symlinked directory (a possible loop) is
        // not descended into, while a symlinked media file is still found by its extension.
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let index = out.len();
            out.push(Found {
                path: path_str.to_owned(),
                parent: Some(dir_str.to_owned()),
                kind: ItemKind::Folder,
                name: name.to_owned(),
                size: None,
                images: Vec::new(),
            });
            walk_dir(&path, path_str, depth + 1, index, out, skipped);
        } else if is_picture(name) {
            if let Some(picture) = picture(&path, path_str, name) {
                pictures.push(picture);
            }
        } else if let Some(kind) = kind_of(&path) {
            // Follows a symlink to what it names; stat only, the file is not opened.
            let size = match std::fs::metadata(&path) {
                Ok(m) => match file_problem(m.file_type(), m.len()) {
                    None => m.len(),
                    Some(reason) => {
                        skipped.push(Skipped::new(path_str, reason));
                        continue;
                    }
                },
                Err(err) => {
                    skipped.push(Skipped::new(path_str, format!("cannot stat: {err}")));
                    continue;
                }
            };
            out.push(Found {
                path: path_str.to_owned(),
                parent: Some(dir_str.to_owned()),
                kind,
                name: path
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or(name)
                    .to_owned(),
                size: Some(size),
                images: Vec::new(),
            });
        }
    }
    assign_artwork(dir_str, own, first, out, DirPictures::new(pictures));
}

/// Gives the folder `out[own]` and the videos found directly in it (in `out[first..]`) the
/// artwork among the directory's `pictures`.
fn assign_artwork(
    dir_str: &str,
    own: usize,
    first: usize,
    out: &mut [Found],
    pictures: DirPictures,
) {
    if pictures.is_empty() {
        return;
    }
    if let Some(folder) = out.get_mut(own) {
        folder.images = pictures.for_folder();
    }
    let is_video = |f: &Found| f.parent.as_deref() == Some(dir_str) && f.kind == ItemKind::Movie;
    let videos = out
        .get(first..)
        .map_or(0, |o| o.iter().filter(|f| is_video(f)).count());
    for f in out.get_mut(first..).into_iter().flatten() {
        if is_video(f) {
            let stem = Path::new(&f.path)
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or(&f.name)
                .to_owned();
            f.images = pictures.for_video(&stem, videos == 1);
        }
    }
}

/// A picture file as artwork, with its size read from its header (stat and a few bytes; a
/// file too large to serve is left out).
fn picture(path: &Path, path_str: &str, name: &str) -> Option<Picture> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() == 0 || meta.len() > crate::routes::images::MAX_SOURCE_BYTES {
        return None;
    }
    let modified_ms = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Some(Picture {
        name: name.to_owned(),
        path: path_str.to_owned(),
        size: meta.len(),
        modified_ms,
        dimensions: image::image_dimensions(path).ok(),
    })
}

/// The item kind of a media file by extension; `None` for anything else.
pub fn kind_of(path: &Path) -> Option<ItemKind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    if VIDEO_EXTENSIONS.contains(&ext.as_str()) {
        Some(ItemKind::Movie)
    } else if AUDIO_EXTENSIONS.contains(&ext.as_str()) {
        Some(ItemKind::Audio)
    } else {
        None
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("Library")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_extension() {
        assert_eq!(kind_of(Path::new("/m/a.MKV")), Some(ItemKind::Movie));
        assert_eq!(kind_of(Path::new("/m/a.flac")), Some(ItemKind::Audio));
        assert_eq!(kind_of(Path::new("/m/a.txt")), None);
        assert_eq!(kind_of(Path::new("/m/noext")), None);
    }

    #[test]
    fn walk_assigns_artwork_beside_the_media() {
        use media_ha::core::ImageKind;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("Film")).unwrap();
        std::fs::write(dir.path().join("Film/Film.mkv"), b"x").unwrap();
        std::fs::write(dir.path().join("Film/poster.jpg"), b"not decoded").unwrap();
        std::fs::write(dir.path().join("Film/fanart.jpg"), b"y").unwrap();
        std::fs::write(dir.path().join("folder.png"), b"z").unwrap();
        std::fs::write(dir.path().join("a.mkv"), b"x").unwrap();
        std::fs::write(dir.path().join("b.mkv"), b"x").unwrap();
        let (found, _) = walk_roots(&[dir.path().to_path_buf()]);
        let kinds = |name: &str| -> Vec<(ImageKind, String)> {
            let f = found.iter().find(|f| f.name == name).unwrap();
            f.images
                .iter()
                .map(|i| (i.kind, i.path.rsplit('/').next().unwrap().to_owned()))
                .collect()
        };
        let root = found[0].name.clone();
        assert_eq!(
            kinds(&root),
            [(ImageKind::Primary, "folder.png".to_owned())]
        );
        let film = [
            (ImageKind::Primary, "poster.jpg".to_owned()),
            (ImageKind::Backdrop, "fanart.jpg".to_owned()),
        ];
        assert_eq!(kinds("Film"), film, "the folder's");
        let video = found
            .iter()
            .find(|f| f.name == "Film" && f.kind == ItemKind::Movie)
            .unwrap();
        assert_eq!(video.images.len(), 2, "and the lone video's");
        assert!(
            kinds("a").is_empty(),
            "two videos: folder.png is the root's only"
        );
        assert_eq!(
            video.images[0].width, None,
            "an undecodable header has no size"
        );
    }

    #[test]
    fn walk_finds_media_parents_first_and_skips_hidden() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b.mp4"), b"x").unwrap();
        std::fs::write(dir.path().join("a.mkv"), b"xy").unwrap();
        std::fs::write(dir.path().join(".hidden.mkv"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        std::fs::write(dir.path().join("empty.mp4"), b"").unwrap();
        let (found, skipped) = walk_roots(&[dir.path().to_path_buf()]);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].path.ends_with("empty.mp4"));
        let names: Vec<_> = found.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert_eq!(found[0].kind, ItemKind::CollectionFolder);
        assert!(names.contains(&("a", ItemKind::Movie)));
        assert!(names.contains(&("sub", ItemKind::Folder)));
        let b = found.iter().position(|f| f.name == "b").unwrap();
        let sub = found.iter().position(|f| f.name == "sub").unwrap();
        assert!(sub < b);
        assert_eq!(found[b].size, Some(1));
    }
}
