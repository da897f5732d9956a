//! Users, library items, per-user watch state, devices and the activity log.
//!
//! This is what Jellyfin keeps in SQLite on one node's disk. Behind this trait it lives in
//! PostgreSQL for a cluster, or in a crash-safe file snapshot for a single node
//! ([`crate::memory::MemoryMetadataRepo`]).

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;

/// A user account. `password_hash` is a PHC string from [`crate::auth::hash_password`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Stable id (32 lower-case hex digits, like Jellyfin's GUIDs without dashes).
    pub id: String,
    /// Unique (case-insensitively) user name.
    pub name: String,
    /// KDF hash of the password; never the password.
    pub password_hash: String,
    /// Administrator?
    pub is_admin: bool,
    /// Created, ms since the Unix epoch.
    pub created_ms: u64,
}

/// What kind of library item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ItemKind {
    /// A top-level library (a media directory).
    CollectionFolder,
    /// A sub-directory.
    Folder,
    /// A film.
    Movie,
    /// Any other video.
    Video,
    /// An episode of a series.
    Episode,
    /// An audio track.
    Audio,
}

impl ItemKind {
    /// Jellyfin's `Type` name.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::CollectionFolder => "CollectionFolder",
            ItemKind::Folder => "Folder",
            ItemKind::Movie => "Movie",
            ItemKind::Video => "Video",
            ItemKind::Episode => "Episode",
            ItemKind::Audio => "Audio",
        }
    }

    /// Every kind.
    pub const ALL: [ItemKind; 6] = [
        ItemKind::CollectionFolder,
        ItemKind::Folder,
        ItemKind::Movie,
        ItemKind::Video,
        ItemKind::Episode,
        ItemKind::Audio,
    ];

    /// Parses [`as_str`](Self::as_str)'s output (case-insensitively, as Jellyfin clients vary).
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| crate::Error::Invalid(format!("unknown item kind {s:?}")))
    }

    /// Folders hold other items.
    pub fn is_folder(self) -> bool {
        matches!(self, ItemKind::CollectionFolder | ItemKind::Folder)
    }
}

/// A library item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Stable id ([`crate::ids::item_id_for_path`] makes it the same on every replica).
    pub id: String,
    /// The containing folder, `None` for a library root.
    pub parent_id: Option<String>,
    /// Absolute path on the media volume.
    pub path: String,
    /// Kind.
    pub kind: ItemKind,
    /// Display name.
    pub name: String,
    /// Added to the library, ms since the Unix epoch.
    pub date_added_ms: u64,
    /// File size, for files.
    pub size_bytes: Option<u64>,
    /// Duration in 100 ns ticks, when probed.
    pub runtime_ticks: Option<i64>,
    /// Container name (`mp4`, `matroska`), when probed.
    pub container: Option<String>,
    /// The probe result as JSON (opaque here; `ha-transcode` defines it).
    pub probe_json: Option<String>,
    /// Artwork files found beside the item's file (poster, fanart, ...), in the order a client
    /// numbers them per kind. Empty when none was found (or the item predates artwork).
    #[serde(default)]
    pub images: Vec<ItemImage>,
}

/// What an artwork file shows, in Jellyfin's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ImageKind {
    /// The poster (a film's cover, a folder's picture).
    Primary,
    /// A wide background picture (fanart); an item may have several.
    Backdrop,
    /// A landscape still.
    Thumb,
}

impl ImageKind {
    /// Jellyfin's name (`Primary`, `Backdrop`, `Thumb`).
    pub fn as_str(self) -> &'static str {
        match self {
            ImageKind::Primary => "Primary",
            ImageKind::Backdrop => "Backdrop",
            ImageKind::Thumb => "Thumb",
        }
    }

    /// Parses Jellyfin's name, ignoring ASCII case.
    ///
    /// # Errors
    /// [`Error::Invalid`](crate::Error::Invalid) for any other name.
    pub fn parse(s: &str) -> Result<Self> {
        [ImageKind::Primary, ImageKind::Backdrop, ImageKind::Thumb]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| crate::Error::Invalid(format!("unknown image type {s:?}")))
    }
}

/// One artwork file of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemImage {
    /// What it shows.
    pub kind: ImageKind,
    /// Absolute path on the media volume. The item's own path means a still frame taken
    /// from the video itself (a film with no poster).
    pub path: String,
    /// Changes whenever the picture does (clients cache an image by its tag).
    pub tag: String,
    /// Width in pixels, when known.
    #[serde(default)]
    pub width: Option<u32>,
    /// Height in pixels, when known.
    #[serde(default)]
    pub height: Option<u32>,
}

/// One user's state for one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserItemData {
    /// The user.
    pub user_id: String,
    /// The item.
    pub item_id: String,
    /// Watched?
    pub played: bool,
    /// How many times watched.
    pub play_count: u32,
    /// Resume position in 100 ns ticks.
    pub position_ticks: i64,
    /// Last played, ms since the Unix epoch.
    pub last_played_ms: Option<u64>,
    /// Favourite?
    pub is_favorite: bool,
}

impl UserItemData {
    /// The state of an item a user never touched.
    pub fn empty(user_id: &str, item_id: &str) -> Self {
        Self {
            user_id: user_id.to_owned(),
            item_id: item_id.to_owned(),
            played: false,
            play_count: 0,
            position_ticks: 0,
            last_played_ms: None,
            is_favorite: false,
        }
    }
}

/// A client device seen signing in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Client-chosen device id.
    pub id: String,
    /// The user last signed in on it.
    pub user_id: String,
    /// Device name.
    pub name: String,
    /// Client application.
    pub app_name: String,
    /// Client version.
    pub app_version: String,
    /// Last seen, ms since the Unix epoch.
    pub last_seen_ms: u64,
}

/// One user's display preferences for one view of one client (Jellyfin's
/// `DisplayPreferences/{id}?userId=&client=`: the web client keeps its home sections, landing
/// pages and per-library sort orders there, and reads `usersettings` before it shows anything).
///
/// The value is the client's JSON document, opaque to the stores: the server decides its
/// shape, the stores only keep it, bounded by [`MAX_DISPLAY_PREFERENCES_BYTES`] per document
/// and [`DISPLAY_PREFERENCES_PER_USER`] documents per user (a client chooses both the id and the
/// client name, so neither may grow a store without bound).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisplayPreferences {
    /// The user.
    pub user_id: String,
    /// The preferences' id as the client names it (`usersettings`, a library's id, ...).
    pub id: String,
    /// The client application (`emby` for jellyfin-web).
    pub client: String,
    /// The document, JSON text.
    pub json: String,
    /// Last written, ms since the Unix epoch.
    pub updated_ms: u64,
}

/// The most display-preference documents a user keeps (distinct `(id, client)` pairs); a new
/// one past this is refused with [`Error::Conflict`](crate::Error::Conflict), replacing an
/// existing one always works.
pub const DISPLAY_PREFERENCES_PER_USER: usize = 256;

/// The largest display-preference document kept, in bytes (jellyfin-web's are under 2 KiB).
pub const MAX_DISPLAY_PREFERENCES_BYTES: usize = 64 * 1024;

/// Checks what every backend checks before storing display preferences.
///
/// # Errors
/// [`Error::Invalid`](crate::Error::Invalid) for an empty, over-long or control-character
/// user id, id or client, and for a document over [`MAX_DISPLAY_PREFERENCES_BYTES`].
pub fn validate_display_preferences(prefs: &DisplayPreferences) -> Result<()> {
    crate::lease::validate_name("user id", &prefs.user_id)?;
    crate::lease::validate_name("display preferences id", &prefs.id)?;
    crate::lease::validate_name("client", &prefs.client)?;
    if prefs.json.len() > MAX_DISPLAY_PREFERENCES_BYTES {
        return Err(crate::Error::Invalid(format!(
            "display preferences of {} bytes (at most {MAX_DISPLAY_PREFERENCES_BYTES})",
            prefs.json.len()
        )));
    }
    Ok(())
}

/// One user's configuration (Jellyfin's `UserConfiguration`: audio and subtitle language
/// preferences, subtitle mode, ordered and excluded views, ...), posted to
/// `/Users/{id}/Configuration` by the client's settings pages and returned in the user DTO.
///
/// The document is the server's JSON, opaque to the stores, which keep one per user, at most
/// [`MAX_USER_CONFIGURATION_BYTES`] long, deleted with the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserConfiguration {
    /// The user.
    pub user_id: String,
    /// The document, JSON text.
    pub json: String,
    /// Last written, ms since the Unix epoch.
    pub updated_ms: u64,
}

/// The largest user configuration kept, in bytes (Jellyfin's is well under 1 KiB; the lists of
/// ordered and excluded views grow with the libraries).
pub const MAX_USER_CONFIGURATION_BYTES: usize = 64 * 1024;

/// Checks what every backend checks before storing a user configuration.
///
/// # Errors
/// [`Error::Invalid`](crate::Error::Invalid) for an empty, over-long or control-character user
/// id, and for a document over [`MAX_USER_CONFIGURATION_BYTES`].
pub fn validate_user_configuration(config: &UserConfiguration) -> Result<()> {
    crate::lease::validate_name("user id", &config.user_id)?;
    if config.json.len() > MAX_USER_CONFIGURATION_BYTES {
        return Err(crate::Error::Invalid(format!(
            "user configuration of {} bytes (at most {MAX_USER_CONFIGURATION_BYTES})",
            config.json.len()
        )));
    }
    Ok(())
}

/// An activity-log entry to append.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewActivity {
    /// When, ms since the Unix epoch.
    pub at_ms: u64,
    /// Who, if a user.
    pub user_id: Option<String>,
    /// A short machine-readable kind (`SessionStarted`, `PlaybackStart`, …).
    pub kind: String,
    /// Human-readable text.
    pub message: String,
}

/// A stored activity-log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Increasing id assigned by the repo.
    pub id: u64,
    /// The entry.
    #[serde(flatten)]
    pub entry: NewActivity,
}

/// How to order an item listing. Ties are broken by id so paging is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ItemSort {
    /// By name, case-insensitively.
    #[default]
    Name,
    /// By date added.
    DateAdded,
    /// By when [`ItemQuery::user`]'s user last played it; never played sorts first. A listing
    /// with this order and no `user` is refused as invalid.
    DatePlayed,
}

/// One user's marks an item listing filters on, joined in the store so that a page and its
/// total are right at any library size (filtering a capped listing afterwards is neither).
/// An item the user never touched is unplayed, not a favourite and not resumable.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserFilter {
    /// Whose marks.
    pub user_id: String,
    /// Only played (`Some(true)`) or unplayed (`Some(false)`) items.
    pub played: Option<bool>,
    /// Only favourites (`Some(true)`) or the others (`Some(false)`).
    pub favorite: Option<bool>,
    /// Only items started and not finished (`Some(true)`: a position above 0 and not played),
    /// or the others (`Some(false)`).
    pub resumable: Option<bool>,
}

impl UserFilter {
    /// No filter, only `user_id`'s marks for [`ItemSort::DatePlayed`].
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            ..Self::default()
        }
    }

    /// Can only items this user has marks for pass (a filter asks for played, favourite or
    /// resumable)? Backends then start from the user's marks instead of the library.
    pub fn needs_marks(&self) -> bool {
        [self.played, self.favorite, self.resumable].contains(&Some(true))
    }

    /// Does an item with these marks (`None`: never touched) pass?
    pub fn matches(&self, data: Option<&UserItemData>) -> bool {
        let played = data.is_some_and(|d| d.played);
        let favorite = data.is_some_and(|d| d.is_favorite);
        let resumable = data.is_some_and(|d| d.position_ticks > 0 && !d.played);
        self.played.is_none_or(|p| p == played)
            && self.favorite.is_none_or(|f| f == favorite)
            && self.resumable.is_none_or(|r| r == resumable)
    }
}

/// An item listing request (Jellyfin's `/Items` query).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ItemQuery {
    /// Only children of this item (`None`: library roots when not recursive, everything when
    /// recursive).
    pub parent_id: Option<String>,
    /// Include every descendant, not only direct children.
    pub recursive: bool,
    /// Only these kinds (empty: any kind).
    pub kinds: Vec<ItemKind>,
    /// Only items whose name contains this, case-insensitively.
    pub search_term: Option<String>,
    /// Only items whose marks by this user pass (and whose marks [`ItemSort::DatePlayed`]
    /// orders by).
    pub user: Option<UserFilter>,
    /// Order.
    pub sort: ItemSort,
    /// Reverse the order.
    pub descending: bool,
    /// Skip this many items.
    pub start_index: u32,
    /// At most this many items (`None`: all). Backends cap it at [`MAX_PAGE`].
    pub limit: Option<u32>,
}

impl ItemQuery {
    /// Refuses a query no backend can answer: [`ItemSort::DatePlayed`] without a user.
    pub fn validate(&self) -> Result<()> {
        if self.sort == ItemSort::DatePlayed && self.user.is_none() {
            return Err(crate::Error::Invalid(
                "sorting by date played needs the user whose plays count".into(),
            ));
        }
        Ok(())
    }
}

/// The largest page a listing returns, whatever the caller asks.
pub const MAX_PAGE: u32 = 10_000;

/// How many activity-log entries every backend keeps at most (the newest).
pub const ACTIVITY_KEEP: usize = 10_000;

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items match in all.
    pub total: u64,
}

/// Persistent metadata.
///
/// # Example
///
/// ```
/// use ha_core::{auth, ids, memory::MemoryMetadataRepo, MetadataRepo, User};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> ha_core::Result<()> {
/// let repo = MemoryMetadataRepo::in_memory();
/// let user = User {
///     id: ids::new_id(), name: "alice".into(),
///     password_hash: auth::hash_password("correct horse")?, is_admin: true, created_ms: 0,
/// };
/// repo.create_user(&user).await?;
/// let found = repo.get_user_by_name("ALICE").await?.expect("names are case-insensitive");
/// assert!(auth::verify_password("correct horse", &found.password_hash));
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait MetadataRepo: Send + Sync + fmt::Debug + 'static {
    /// Adds a user. [`Error::Conflict`](crate::Error::Conflict) when the id or the name
    /// (case-insensitively) is taken.
    async fn create_user(&self, user: &User) -> Result<()>;
    /// Replaces a user's fields. [`Error::NotFound`](crate::Error::NotFound) when absent,
    /// [`Error::Conflict`](crate::Error::Conflict) when renamed onto a taken name.
    async fn update_user(&self, user: &User) -> Result<()>;
    /// A user by id.
    async fn get_user(&self, id: &str) -> Result<Option<User>>;
    /// A user by name, case-insensitively.
    async fn get_user_by_name(&self, name: &str) -> Result<Option<User>>;
    /// Every user, by name.
    async fn list_users(&self) -> Result<Vec<User>>;
    /// Deletes a user and their item data. Returns whether one existed.
    async fn delete_user(&self, id: &str) -> Result<bool>;

    /// Inserts or replaces an item (by id). [`Error::Conflict`](crate::Error::Conflict) when
    /// another item already has the same path.
    async fn upsert_item(&self, item: &Item) -> Result<()>;
    /// An item by id.
    async fn get_item(&self, id: &str) -> Result<Option<Item>>;
    /// An item by path.
    async fn get_item_by_path(&self, path: &str) -> Result<Option<Item>>;
    /// A page of items.
    async fn query_items(&self, query: &ItemQuery) -> Result<Page<Item>>;
    /// Deletes an item and every user's data for it (not its children). Returns whether one
    /// existed.
    async fn delete_item(&self, id: &str) -> Result<bool>;

    /// One user's data for one item.
    async fn get_user_data(&self, user_id: &str, item_id: &str) -> Result<Option<UserItemData>>;
    /// Inserts or replaces one user's data for one item.
    async fn put_user_data(&self, data: &UserItemData) -> Result<()>;
    /// One user's data for many items (absent entries are left out).
    async fn list_user_data(&self, user_id: &str, item_ids: &[String])
        -> Result<Vec<UserItemData>>;

    /// A user's display preferences for `id` and `client` (both compared exactly).
    async fn get_display_preferences(
        &self,
        user_id: &str,
        id: &str,
        client: &str,
    ) -> Result<Option<DisplayPreferences>>;
    /// Inserts or replaces a user's display preferences (by user, id and client); deleting the
    /// user deletes them. [`Error::Invalid`](crate::Error::Invalid) as
    /// [`validate_display_preferences`] says, [`Error::NotFound`](crate::Error::NotFound) for
    /// an unknown user, [`Error::Conflict`](crate::Error::Conflict) for a new document past
    /// [`DISPLAY_PREFERENCES_PER_USER`].
    async fn put_display_preferences(&self, prefs: &DisplayPreferences) -> Result<()>;

    /// A user's configuration, if one was ever stored.
    async fn get_user_configuration(&self, user_id: &str) -> Result<Option<UserConfiguration>>;
    /// Inserts or replaces a user's configuration; deleting the user deletes it.
    /// [`Error::Invalid`](crate::Error::Invalid) as [`validate_user_configuration`] says,
    /// [`Error::NotFound`](crate::Error::NotFound) for an unknown user.
    async fn put_user_configuration(&self, config: &UserConfiguration) -> Result<()>;

    /// Inserts or replaces a device (by id).
    async fn upsert_device(&self, device: &Device) -> Result<()>;
    /// Devices, of one user or all, most recently seen first.
    async fn list_devices(&self, user_id: Option<&str>) -> Result<Vec<Device>>;

    /// Appends to the activity log; returns the new entry's id. The log keeps only the newest
    /// [`ACTIVITY_KEEP`] entries: older ones are dropped as new ones arrive (every entry a
    /// client's request causes must not grow the store without bound).
    async fn append_activity(&self, entry: &NewActivity) -> Result<u64>;
    /// The newest `limit` entries, newest first.
    async fn recent_activity(&self, limit: u32) -> Result<Vec<Activity>>;
}
