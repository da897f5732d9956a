//! In-process [`MetadataRepo`], persisted to a directory.
//!
//! # Why a journal and a snapshot
//!
//! Rewriting one JSON file on every change would cost O(library size) per watch-state update.
//! Instead each change is appended to `metadata.journal` (one JSON line, on disk before the
//! call returns, group-committed off the async workers: `journal.rs`) and every so often the
//! whole state is written to `metadata.json` by a snapshot thread, through a temp file and an
//! atomic rename. On open the snapshot is loaded and the journals replayed; every journal entry
//! is an idempotent "put" or "delete", so replaying changes the snapshot already holds is
//! harmless, and a torn last line (a crash mid-append) is ignored.
//!
//! Values are kept behind `Arc`s so that the copy a snapshot needs is taken under the lock in
//! about a millisecond even for 50,000 items (reference counts, not probe JSON), and serialised
//! on the snapshot thread while requests go on.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::journal::{Durable, Journal, JournalNames, Recovered};
use super::listing::{self, Match};
use super::lock;
use super::ordered::{OrderKey, Ordered, OrderedListings};
use crate::metadata::{
    validate_display_preferences, validate_user_configuration, ACTIVITY_KEEP,
    DISPLAY_PREFERENCES_PER_USER, MAX_PAGE,
};
use crate::{
    Activity, Device, DisplayPreferences, Error, Item, ItemQuery, MetadataRepo, NewActivity, Page,
    Result, User, UserConfiguration, UserFilter, UserItemData,
};

const NAMES: JournalNames = JournalNames {
    snapshot: "metadata.json",
    journal: "metadata.journal",
    what: "metadata",
};
/// Compact after this many journal entries.
const COMPACT_AFTER: usize = 2_000;

/// Everything the repo holds, as written to `metadata.json` (and read by importers such as
/// `ha-store-pg`'s).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetadataSnapshot {
    /// Format version (currently 1).
    pub version: u32,
    /// Users.
    pub users: Vec<User>,
    /// Library items.
    pub items: Vec<Item>,
    /// Per-user item data.
    pub user_data: Vec<UserItemData>,
    /// Devices.
    pub devices: Vec<Device>,
    /// Activity log, oldest first.
    pub activity: Vec<Activity>,
    /// Display preferences (absent from snapshots written before they existed).
    #[serde(default)]
    pub display_preferences: Vec<DisplayPreferences>,
    /// User configurations (absent from snapshots written before they existed).
    #[serde(default)]
    pub user_configurations: Vec<UserConfiguration>,
}

impl MetadataSnapshot {
    /// Reads the snapshot *and replays the journal* of a repo directory, without opening it for
    /// writing (for one-shot imports).
    pub fn load_dir(dir: &Path) -> Result<Self> {
        Ok(State::recover(Journal::read(dir, NAMES)?).to_snapshot())
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", content = "v")]
enum Change {
    PutUser(User),
    DeleteUser(String),
    PutItem(Item),
    DeleteItem(String),
    PutUserData(UserItemData),
    PutDevice(Device),
    PutActivity(Activity),
    PutDisplayPreferences(DisplayPreferences),
    PutUserConfiguration(UserConfiguration),
}

/// Display preferences are keyed by (user, id, client).
type PrefsKey = (String, String, String);

fn prefs_key(user_id: &str, id: &str, client: &str) -> PrefsKey {
    (user_id.to_owned(), id.to_owned(), client.to_owned())
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<String, Arc<User>>,
    items: HashMap<String, Arc<Item>>,
    /// By user, then item: a listing for one user reads only that user's marks.
    user_data: HashMap<String, HashMap<String, Arc<UserItemData>>>,
    /// Bumped by every item written or deleted (what [`OrderedListings`] checks).
    library_generation: u64,
    devices: HashMap<String, Arc<Device>>,
    activity: Vec<Arc<Activity>>,
    display_preferences: HashMap<PrefsKey, Arc<DisplayPreferences>>,
    user_configurations: HashMap<String, Arc<UserConfiguration>>,
}

/// A snapshot's worth of shared values, taken under the lock and serialised elsewhere; it
/// serialises exactly as [`MetadataSnapshot`] does.
struct SnapshotCopy {
    users: Vec<Arc<User>>,
    items: Vec<Arc<Item>>,
    user_data: Vec<Arc<UserItemData>>,
    devices: Vec<Arc<Device>>,
    activity: Vec<Arc<Activity>>,
    display_preferences: Vec<Arc<DisplayPreferences>>,
    user_configurations: Vec<Arc<UserConfiguration>>,
}

/// Serialises a list of shared values as the plain list.
struct Shared<'a, T>(&'a [Arc<T>]);

impl<T: Serialize> Serialize for Shared<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|v| &**v))
    }
}

impl SnapshotCopy {
    /// Sorted as [`State::to_snapshot`] sorts, so the file is the same either way.
    fn into_bytes(mut self) -> Result<Vec<u8>> {
        self.users.sort_by(|a, b| a.id.cmp(&b.id));
        self.items.sort_by(|a, b| a.id.cmp(&b.id));
        self.user_data
            .sort_by(|a, b| (&a.user_id, &a.item_id).cmp(&(&b.user_id, &b.item_id)));
        self.devices.sort_by(|a, b| a.id.cmp(&b.id));
        self.display_preferences
            .sort_by(|a, b| (&a.user_id, &a.id, &a.client).cmp(&(&b.user_id, &b.id, &b.client)));
        self.user_configurations
            .sort_by(|a, b| a.user_id.cmp(&b.user_id));
        #[derive(Serialize)]
        struct Out<'a> {
            version: u32,
            users: Shared<'a, User>,
            items: Shared<'a, Item>,
            user_data: Shared<'a, UserItemData>,
            devices: Shared<'a, Device>,
            activity: Shared<'a, Activity>,
            display_preferences: Shared<'a, DisplayPreferences>,
            user_configurations: Shared<'a, UserConfiguration>,
        }
        serde_json::to_vec(&Out {
            version: 1,
            users: Shared(&self.users),
            items: Shared(&self.items),
            user_data: Shared(&self.user_data),
            devices: Shared(&self.devices),
            activity: Shared(&self.activity),
            display_preferences: Shared(&self.display_preferences),
            user_configurations: Shared(&self.user_configurations),
        })
        .map_err(|e| Error::encode("metadata snapshot", e))
    }
}

impl State {
    fn apply(&mut self, change: &Change) {
        match change {
            Change::PutUser(u) => {
                self.users.insert(u.id.clone(), Arc::new(u.clone()));
            }
            Change::DeleteUser(id) => {
                self.users.remove(id);
                self.user_data.remove(id);
                self.display_preferences
                    .retain(|(user, _, _), _| user != id);
                self.user_configurations.remove(id);
            }
            Change::PutItem(i) => {
                self.items.insert(i.id.clone(), Arc::new(i.clone()));
                self.library_generation += 1;
            }
            Change::DeleteItem(id) => {
                self.items.remove(id);
                self.library_generation += 1;
                for marks in self.user_data.values_mut() {
                    marks.remove(id);
                }
            }
            Change::PutUserData(d) => {
                self.user_data
                    .entry(d.user_id.clone())
                    .or_default()
                    .insert(d.item_id.clone(), Arc::new(d.clone()));
            }
            Change::PutDevice(d) => {
                self.devices.insert(d.id.clone(), Arc::new(d.clone()));
            }
            Change::PutDisplayPreferences(p) => {
                self.display_preferences
                    .insert(prefs_key(&p.user_id, &p.id, &p.client), Arc::new(p.clone()));
            }
            Change::PutUserConfiguration(c) => {
                self.user_configurations
                    .insert(c.user_id.clone(), Arc::new(c.clone()));
            }
            Change::PutActivity(a) => {
                if self.activity.last().is_none_or(|last| last.id < a.id) {
                    self.activity.push(Arc::new(a.clone()));
                    if self.activity.len() > ACTIVITY_KEEP {
                        let excess = self.activity.len() - ACTIVITY_KEEP;
                        self.activity.drain(..excess);
                    }
                }
            }
        }
    }

    /// Every user's marks.
    fn all_user_data(&self) -> impl Iterator<Item = &Arc<UserItemData>> {
        self.user_data.values().flat_map(HashMap::values)
    }

    /// `user_id`'s mark for `item_id`.
    fn user_data(&self, user_id: &str, item_id: &str) -> Option<&Arc<UserItemData>> {
        self.user_data.get(user_id)?.get(item_id)
    }

    /// A copy of every value, cheap to take (reference counts).
    fn copy(&self) -> SnapshotCopy {
        SnapshotCopy {
            users: self.users.values().cloned().collect(),
            items: self.items.values().cloned().collect(),
            user_data: self.all_user_data().cloned().collect(),
            devices: self.devices.values().cloned().collect(),
            activity: self.activity.clone(),
            display_preferences: self.display_preferences.values().cloned().collect(),
            user_configurations: self.user_configurations.values().cloned().collect(),
        }
    }

    fn to_snapshot(&self) -> MetadataSnapshot {
        let mut snap = MetadataSnapshot {
            version: 1,
            users: self.users.values().map(|v| (**v).clone()).collect(),
            items: self.items.values().map(|v| (**v).clone()).collect(),
            user_data: self.all_user_data().map(|v| (**v).clone()).collect(),
            devices: self.devices.values().map(|v| (**v).clone()).collect(),
            activity: self.activity.iter().map(|v| (**v).clone()).collect(),
            display_preferences: self
                .display_preferences
                .values()
                .map(|v| (**v).clone())
                .collect(),
            user_configurations: self
                .user_configurations
                .values()
                .map(|v| (**v).clone())
                .collect(),
        };
        snap.users.sort_by(|a, b| a.id.cmp(&b.id));
        snap.items.sort_by(|a, b| a.id.cmp(&b.id));
        snap.user_data
            .sort_by(|a, b| (&a.user_id, &a.item_id).cmp(&(&b.user_id, &b.item_id)));
        snap.devices.sort_by(|a, b| a.id.cmp(&b.id));
        snap.display_preferences
            .sort_by(|a, b| (&a.user_id, &a.id, &a.client).cmp(&(&b.user_id, &b.id, &b.client)));
        snap.user_configurations
            .sort_by(|a, b| a.user_id.cmp(&b.user_id));
        snap
    }

    fn from_snapshot(snap: MetadataSnapshot) -> Self {
        let mut state = State::default();
        for u in snap.users {
            state.apply(&Change::PutUser(u));
        }
        for i in snap.items {
            state.apply(&Change::PutItem(i));
        }
        for d in snap.user_data {
            state.apply(&Change::PutUserData(d));
        }
        for d in snap.devices {
            state.apply(&Change::PutDevice(d));
        }
        for a in snap.activity {
            state.apply(&Change::PutActivity(a));
        }
        for p in snap.display_preferences {
            state.apply(&Change::PutDisplayPreferences(p));
        }
        for c in snap.user_configurations {
            state.apply(&Change::PutUserConfiguration(c));
        }
        state
    }

    /// The state a directory held: its snapshot with the journal replayed over it.
    fn recover(recovered: Recovered<MetadataSnapshot, Change>) -> Self {
        let mut state = recovered
            .snapshot
            .map(Self::from_snapshot)
            .unwrap_or_default();
        for change in &recovered.changes {
            state.apply(change);
        }
        state
    }
}

#[derive(Debug)]
struct Inner {
    state: State,
    persist: Option<Journal>,
}

/// Metadata in memory, optionally persisted to a directory (see the module docs).
#[derive(Debug)]
pub struct MemoryMetadataRepo {
    inner: Mutex<Inner>,
    /// Listings in order, per library generation (`ordered.rs`).
    ordered: Mutex<OrderedListings>,
}

impl MemoryMetadataRepo {
    /// A repo that forgets everything when dropped (tests, examples).
    pub fn in_memory() -> Self {
        Self {
            inner: Mutex::new(Inner {
                state: State::default(),
                persist: None,
            }),
            ordered: Mutex::default(),
        }
    }

    /// Opens (creating if needed) a repo persisted under `dir`.
    ///
    /// # Errors
    /// [`Error::Backend`] when the directory cannot be created or read, [`Error::Decode`] when
    /// the snapshot is not valid.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let state = State::recover(Journal::read(dir.as_ref(), NAMES)?);
        // Start from a clean snapshot: this also drops a torn journal tail for good.
        let journal = Journal::start(dir.as_ref(), NAMES, &state.to_snapshot())?;
        Ok(Self {
            inner: Mutex::new(Inner {
                state,
                persist: Some(journal),
            }),
            ordered: Mutex::default(),
        })
    }

    /// The whole state as a snapshot.
    pub fn snapshot(&self) -> MetadataSnapshot {
        lock(&self.inner).state.to_snapshot()
    }

    /// Queues `change` in the journal and applies it; the caller awaits the returned
    /// [`Durable`] once it has released the lock.
    fn commit(inner: &mut Inner, change: Change) -> Result<Durable> {
        let durable = match inner.persist.as_mut() {
            Some(persist) => persist.append(&change)?,
            None => Durable::done(),
        };
        inner.state.apply(&change);
        if let Some(persist) = inner.persist.as_mut() {
            if persist.wants_compaction(COMPACT_AFTER) {
                let copy = inner.state.copy();
                persist.compact(Box::new(move || copy.into_bytes()));
            }
        }
        Ok(durable)
    }
}

impl MemoryMetadataRepo {
    /// A listing whose order is kept between calls (`ordered.rs`): every match ordered once
    /// per library generation, then a slice of it, or one pass with the user's marks.
    fn query_in_order(&self, query: &ItemQuery, key: OrderKey) -> Page<Item> {
        let generation = lock(&self.inner).state.library_generation;
        let kept = lock(&self.ordered).get(&key, generation);
        let order = match kept {
            Some(order) => order,
            None => {
                let (order, built_at) = self.order(query);
                lock(&self.ordered).keep(key, built_at, order.clone());
                order
            }
        };
        let start = query.start_index as usize;
        let limit = query.limit.unwrap_or(MAX_PAGE).min(MAX_PAGE) as usize;
        // Descending is the same order backwards (ties are broken by id either way).
        let walk = || -> Box<dyn Iterator<Item = &Arc<Item>>> {
            if query.descending {
                Box::new(order.iter().rev())
            } else {
                Box::new(order.iter())
            }
        };
        let (page, total): (Vec<Arc<Item>>, usize) = match &query.user {
            None => (
                walk().skip(start).take(limit).cloned().collect(),
                order.len(),
            ),
            Some(user) => {
                let inner = lock(&self.inner);
                let marks = inner.state.user_data.get(&user.user_id);
                let mut page = Vec::new();
                let mut total = 0;
                for item in walk() {
                    let data = marks.and_then(|m| m.get(&item.id)).map(|d| &**d);
                    if user.matches(data) {
                        if total >= start && page.len() < limit {
                            page.push(item.clone());
                        }
                        total += 1;
                    }
                }
                (page, total)
            }
        };
        Page {
            items: page.into_iter().map(Arc::unwrap_or_clone).collect(),
            total: total as u64,
        }
    }

    /// Every library match of `query` (no user filter), ascending, and the library generation
    /// it was read at; sorted after the lock is released.
    fn order(&self, query: &ItemQuery) -> (Ordered, u64) {
        let (matched, generation): (Vec<Match>, u64) = {
            let inner = lock(&self.inner);
            let state = &inner.state;
            let matched = library_matches(state, query, Box::new(state.items.values()))
                .map(|item| Match::new(item, None))
                .collect();
            (matched, state.library_generation)
        };
        (listing::ascending(query.sort, matched).into(), generation)
    }
}

/// The `candidates` that pass `query`'s library filters: parent (direct or any ancestor),
/// kinds, search term.
fn library_matches<'a>(
    state: &'a State,
    query: &'a ItemQuery,
    candidates: Box<dyn Iterator<Item = &'a Arc<Item>> + 'a>,
) -> impl Iterator<Item = &'a Arc<Item>> + 'a {
    let search = query.search_term.as_ref().map(|s| s.to_lowercase());
    candidates
        .filter(move |item| match (&query.parent_id, query.recursive) {
            (None, false) => item.parent_id.is_none(),
            (None, true) => true,
            (Some(p), false) => item.parent_id.as_deref() == Some(p.as_str()),
            (Some(p), true) => is_descendant(state, item, p),
        })
        .filter(move |item| query.kinds.is_empty() || query.kinds.contains(&item.kind))
        .filter(move |item| {
            search
                .as_ref()
                .is_none_or(|s| listing::contains_ignoring_case(&item.name, s))
        })
}

fn name_taken(state: &State, name: &str, except_id: &str) -> bool {
    state
        .users
        .values()
        .any(|u| u.id != except_id && u.name.to_lowercase() == name.to_lowercase())
}

fn is_descendant(state: &State, item: &Item, ancestor: &str) -> bool {
    let mut parent = item.parent_id.as_deref();
    let mut hops = 0;
    while let Some(p) = parent {
        if p == ancestor {
            return true;
        }
        hops += 1;
        if hops > 256 {
            return false; // a cycle in bad data must not hang a listing
        }
        parent = state.items.get(p).and_then(|i| i.parent_id.as_deref());
    }
    false
}

#[async_trait]
impl MetadataRepo for MemoryMetadataRepo {
    async fn create_user(&self, user: &User) -> Result<()> {
        crate::lease::validate_name("user id", &user.id)?;
        crate::lease::validate_name("user name", &user.name)?;
        let durable = {
            let mut inner = lock(&self.inner);
            if inner.state.users.contains_key(&user.id) || name_taken(&inner.state, &user.name, "")
            {
                return Err(Error::Conflict(format!("user {:?} exists", user.name)));
            }
            Self::commit(&mut inner, Change::PutUser(user.clone()))?
        };
        durable.wait().await
    }

    async fn update_user(&self, user: &User) -> Result<()> {
        crate::lease::validate_name("user name", &user.name)?;
        let durable = {
            let mut inner = lock(&self.inner);
            if !inner.state.users.contains_key(&user.id) {
                return Err(Error::NotFound(format!("user {}", user.id)));
            }
            if name_taken(&inner.state, &user.name, &user.id) {
                return Err(Error::Conflict(format!("user name {:?} taken", user.name)));
            }
            Self::commit(&mut inner, Change::PutUser(user.clone()))?
        };
        durable.wait().await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>> {
        Ok(lock(&self.inner).state.users.get(id).map(|u| (**u).clone()))
    }

    async fn get_user_by_name(&self, name: &str) -> Result<Option<User>> {
        let wanted = name.to_lowercase();
        Ok(lock(&self.inner)
            .state
            .users
            .values()
            .find(|u| u.name.to_lowercase() == wanted)
            .map(|u| (**u).clone()))
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        let mut users: Vec<User> = lock(&self.inner)
            .state
            .users
            .values()
            .map(|u| (**u).clone())
            .collect();
        users.sort_by(|a, b| (a.name.to_lowercase(), &a.id).cmp(&(b.name.to_lowercase(), &b.id)));
        Ok(users)
    }

    async fn delete_user(&self, id: &str) -> Result<bool> {
        let durable = {
            let mut inner = lock(&self.inner);
            if !inner.state.users.contains_key(id) {
                return Ok(false);
            }
            Self::commit(&mut inner, Change::DeleteUser(id.to_owned()))?
        };
        durable.wait().await?;
        Ok(true)
    }

    async fn upsert_item(&self, item: &Item) -> Result<()> {
        crate::lease::validate_name("item id", &item.id)?;
        if item.path.is_empty() {
            return Err(Error::Invalid("item path must not be empty".into()));
        }
        let durable = {
            let mut inner = lock(&self.inner);
            if let Some(other) = inner
                .state
                .items
                .values()
                .find(|i| i.path == item.path && i.id != item.id)
            {
                return Err(Error::Conflict(format!(
                    "path {:?} already belongs to item {}",
                    item.path, other.id
                )));
            }
            Self::commit(&mut inner, Change::PutItem(item.clone()))?
        };
        durable.wait().await
    }

    async fn get_item(&self, id: &str) -> Result<Option<Item>> {
        Ok(lock(&self.inner).state.items.get(id).map(|i| (**i).clone()))
    }

    async fn get_item_by_path(&self, path: &str) -> Result<Option<Item>> {
        Ok(lock(&self.inner)
            .state
            .items
            .values()
            .find(|i| i.path == path)
            .map(|i| (**i).clone()))
    }

    async fn query_items(&self, query: &ItemQuery) -> Result<Page<Item>> {
        query.validate()?;
        let from_marks = query.user.as_ref().is_some_and(UserFilter::needs_marks);
        if let Some(key) = OrderKey::of(query).filter(|_| !from_marks) {
            return Ok(self.query_in_order(query, key));
        }
        let matched: Vec<Match> = {
            let inner = lock(&self.inner);
            let state = &inner.state;
            let marks = query
                .user
                .as_ref()
                .and_then(|u| state.user_data.get(&u.user_id));
            let mark = |id: &str| marks.and_then(|m| m.get(id)).map(|d| &**d);
            // A filter only marked items pass starts from the user's marks, not the library.
            let candidates: Box<dyn Iterator<Item = &Arc<Item>>> = match marks {
                Some(marks) if from_marks => {
                    Box::new(marks.keys().filter_map(|id| state.items.get(id)))
                }
                None if from_marks => Box::new(std::iter::empty()),
                _ => Box::new(state.items.values()),
            };
            library_matches(state, query, candidates)
                .filter_map(|item| {
                    let data = mark(&item.id);
                    let passes = query.user.as_ref().is_none_or(|u| u.matches(data));
                    passes.then(|| Match::new(item, data.and_then(|d| d.last_played_ms)))
                })
                .collect()
        };
        Ok(listing::page(query, matched))
    }

    async fn delete_item(&self, id: &str) -> Result<bool> {
        let durable = {
            let mut inner = lock(&self.inner);
            if !inner.state.items.contains_key(id) {
                return Ok(false);
            }
            Self::commit(&mut inner, Change::DeleteItem(id.to_owned()))?
        };
        durable.wait().await?;
        Ok(true)
    }

    async fn get_user_data(&self, user_id: &str, item_id: &str) -> Result<Option<UserItemData>> {
        Ok(lock(&self.inner)
            .state
            .user_data(user_id, item_id)
            .map(|d| (**d).clone()))
    }

    async fn put_user_data(&self, data: &UserItemData) -> Result<()> {
        let durable = {
            let mut inner = lock(&self.inner);
            if !inner.state.users.contains_key(&data.user_id) {
                return Err(Error::NotFound(format!("user {}", data.user_id)));
            }
            if !inner.state.items.contains_key(&data.item_id) {
                return Err(Error::NotFound(format!("item {}", data.item_id)));
            }
            Self::commit(&mut inner, Change::PutUserData(data.clone()))?
        };
        durable.wait().await
    }

    async fn list_user_data(
        &self,
        user_id: &str,
        item_ids: &[String],
    ) -> Result<Vec<UserItemData>> {
        let inner = lock(&self.inner);
        Ok(item_ids
            .iter()
            .filter_map(|item| inner.state.user_data(user_id, item).map(|d| (**d).clone()))
            .collect())
    }

    async fn get_display_preferences(
        &self,
        user_id: &str,
        id: &str,
        client: &str,
    ) -> Result<Option<DisplayPreferences>> {
        Ok(lock(&self.inner)
            .state
            .display_preferences
            .get(&prefs_key(user_id, id, client))
            .map(|p| (**p).clone()))
    }

    async fn put_display_preferences(&self, prefs: &DisplayPreferences) -> Result<()> {
        validate_display_preferences(prefs)?;
        let durable = {
            let mut inner = lock(&self.inner);
            let state = &inner.state;
            if !state.users.contains_key(&prefs.user_id) {
                return Err(Error::NotFound(format!("user {}", prefs.user_id)));
            }
            let key = prefs_key(&prefs.user_id, &prefs.id, &prefs.client);
            if !state.display_preferences.contains_key(&key) {
                let held = state
                    .display_preferences
                    .keys()
                    .filter(|(user, _, _)| *user == prefs.user_id)
                    .count();
                if held >= DISPLAY_PREFERENCES_PER_USER {
                    return Err(Error::Conflict(format!(
                        "user {} already keeps {held} display preferences",
                        prefs.user_id
                    )));
                }
            }
            Self::commit(&mut inner, Change::PutDisplayPreferences(prefs.clone()))?
        };
        durable.wait().await
    }

    async fn get_user_configuration(&self, user_id: &str) -> Result<Option<UserConfiguration>> {
        Ok(lock(&self.inner)
            .state
            .user_configurations
            .get(user_id)
            .map(|c| (**c).clone()))
    }

    async fn put_user_configuration(&self, config: &UserConfiguration) -> Result<()> {
        validate_user_configuration(config)?;
        let durable = {
            let mut inner = lock(&self.inner);
            if !inner.state.users.contains_key(&config.user_id) {
                return Err(Error::NotFound(format!("user {}", config.user_id)));
            }
            Self::commit(&mut inner, Change::PutUserConfiguration(config.clone()))?
        };
        durable.wait().await
    }

    async fn upsert_device(&self, device: &Device) -> Result<()> {
        crate::lease::validate_name("device id", &device.id)?;
        let durable = Self::commit(&mut lock(&self.inner), Change::PutDevice(device.clone()))?;
        durable.wait().await
    }

    async fn list_devices(&self, user_id: Option<&str>) -> Result<Vec<Device>> {
        let mut devices: Vec<Device> = lock(&self.inner)
            .state
            .devices
            .values()
            .filter(|d| user_id.is_none_or(|u| d.user_id == u))
            .map(|d| (**d).clone())
            .collect();
        devices.sort_by(|a, b| b.last_seen_ms.cmp(&a.last_seen_ms).then(a.id.cmp(&b.id)));
        Ok(devices)
    }

    async fn append_activity(&self, entry: &NewActivity) -> Result<u64> {
        let (id, durable) = {
            let mut inner = lock(&self.inner);
            let id = inner.state.activity.last().map_or(1, |a| a.id + 1);
            let activity = Activity {
                id,
                entry: entry.clone(),
            };
            (id, Self::commit(&mut inner, Change::PutActivity(activity))?)
        };
        durable.wait().await?;
        Ok(id)
    }

    async fn recent_activity(&self, limit: u32) -> Result<Vec<Activity>> {
        let inner = lock(&self.inner);
        Ok(inner
            .state
            .activity
            .iter()
            .rev()
            .take(limit.min(MAX_PAGE) as usize)
            .map(|a| (**a).clone())
            .collect())
    }
}
