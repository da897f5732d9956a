//! A per-replica cache in front of the [`MetadataRepo`]: users and items by id, and listing
//! pages that do not depend on a user, answered from memory for a bounded time; every write
//! through it invalidates at once here and, through a cluster event, on the other replicas.
//!
//! # Why
//!
//! Every authenticated request reads its caller's user record, and the hot endpoints load an
//! item or a listing page: with PostgreSQL each is a round trip, and they were most of what
//! `GET /Items/{id}` and a listing page cost with replicas (docs/BENCHMARKS.md, "The HA
//! request path"). Users and items change rarely (an administrator's edit, a library scan); a
//! client reads them many times a second. Jellyfin itself keeps every user in memory for the
//! life of the process; this cache keeps one for at most `fresh_for`.
//!
//! # What it promises (the staleness bound)
//!
//! * **Users (rights, existence) change at once through any replica:** `create_user`,
//!   `update_user` and `delete_user` through this wrapper (every API that changes a user) drop
//!   the user here and announce it; the caller's record (`auth.rs`) is then read from the
//!   store on the next request on every replica that received the event. A change made behind
//!   the servers' backs (SQL) takes effect within `fresh_for`, the same bound as a session
//!   deleted behind their backs (`ha_core::session_cache`). Sign-in (`get_user_by_name`, the
//!   password check) and user lists always read the store.
//! * **Never another user's data:** the user's own marks (`UserItemData`: played, position,
//!   favourite) are never cached, nor any listing whose query carries a user filter
//!   (`IsPlayed`, resume rows). What is cached is the same for every caller: items and
//!   user-independent pages.
//! * **Misses are never cached:** a new item is visible at once everywhere.
//! * **A change through this wrapper** (a user's, or `upsert_item`, `delete_item`: the library
//!   scan) takes effect at once on this replica and, by the [`METADATA_CHANGED`] event, on the others as
//!   soon as they receive it; a replica told it may have missed events (a gap or resync) drops
//!   everything.
//! * **If an event is lost unreported**, or the store is changed behind the servers' backs, a
//!   replica answers the old user, item or page for at most `fresh_for` (`--metadata-cache`, default
//!   2 s, the same bound as the session cache).
//! * A read racing an invalidation is not kept (an epoch, as in `ha_core::session_cache`).
//! * **Bounded memory** whatever clients ask: at most [`MAX_ENTRIES`] users, as many items,
//!   and [`MAX_PAGES`] pages, and only pages of at most [`MAX_PAGE_ITEMS`] items are kept (a
//!   client's page of 20 is; `Limit=10000` is not).
//!
//! The tables are in `state.rs` (pure, clock passed in); this file does the I/O.

mod state;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use media_ha::core::sync::lock;
use media_ha::core::{
    Activity, BusMessage, Device, DisplayPreferences, EventPublisher, Item, ItemQuery,
    MetadataRepo, NewActivity, Page, Result, Subscription, User, UserConfiguration, UserItemData,
};
use serde_json::json;

use crate::timefmt::now_ms;
use state::{Fetched, Tables};

/// The topic of the event a change publishes: `{"item": id}` or `{"user": id}` (anything else
/// is read as "everything may have changed").
pub const METADATA_CHANGED: &str = "metadata.changed";

/// Most users, and most items, kept (a table starts over when full).
pub const MAX_ENTRIES: usize = 50_000;
/// Most listing pages kept.
pub const MAX_PAGES: usize = 256;
/// Largest page kept (larger ones are read from the store every time): 256 pages of at most
/// this many items bound what listings hold.
pub const MAX_PAGE_ITEMS: usize = 100;

/// A [`MetadataRepo`] that answers users, items and user-independent pages from memory for a
/// bounded time (see the module docs).
#[derive(Debug)]
pub struct CachedMetadata {
    inner: Arc<dyn MetadataRepo>,
    tables: Mutex<Tables>,
    publisher: Option<EventPublisher>,
}

impl CachedMetadata {
    /// `inner` behind a cache whose entries live `fresh_for` (zero: nothing is cached).
    pub fn new(inner: Arc<dyn MetadataRepo>, fresh_for: Duration) -> Self {
        let fresh_ms = u64::try_from(fresh_for.as_millis()).unwrap_or(u64::MAX);
        Self {
            inner,
            tables: Mutex::new(Tables::new(fresh_ms, MAX_ENTRIES, MAX_PAGES)),
            publisher: None,
        }
    }

    /// Announces every change on the cluster's bus with `publisher`.
    pub fn with_publisher(mut self, publisher: EventPublisher) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// Applies one bus message: drops what changed elsewhere, or everything after a gap.
    pub fn apply(&self, message: &BusMessage) {
        match message {
            BusMessage::Event(event) if event.topic == METADATA_CHANGED => {
                let payload = &event.payload;
                let mut tables = lock(&self.tables);
                let id = |key: &str| payload.get(key).and_then(|v| v.as_str());
                match (id("item"), id("user")) {
                    (Some(item), None) => tables.item_changed(item),
                    (None, Some(user)) => tables.user_changed(user),
                    // Malformed: safer to forget everything.
                    _ => tables.clear(),
                }
            }
            BusMessage::Event(_) => {}
            BusMessage::Gap { .. } | BusMessage::Resync { .. } => lock(&self.tables).clear(),
        }
    }

    /// Applies `subscription` until it ends (subscribe before serving requests).
    pub async fn follow(&self, subscription: &mut Subscription) {
        while let Some(message) = subscription.next().await {
            self.apply(&message);
        }
        // The bus is gone: from now on only `fresh_for` bounds what other replicas change.
        lock(&self.tables).clear();
    }

    async fn item_changed(&self, id: &str) {
        lock(&self.tables).item_changed(id);
        self.announce(json!({ "item": id })).await;
    }

    async fn user_changed(&self, id: &str) {
        lock(&self.tables).user_changed(id);
        self.announce(json!({ "user": id })).await;
    }

    async fn announce(&self, payload: serde_json::Value) {
        if let Some(publisher) = &self.publisher {
            if let Err(err) = publisher.publish(METADATA_CHANGED, payload).await {
                tracing::warn!(error = %err, "could not announce a metadata change; other replicas see it within the cache's bound");
            }
        }
    }

    /// [`MetadataRepo::get_item`] without a copy of a cached item (the item page's route reads
    /// it in place).
    pub async fn shared_item(&self, id: &str) -> Result<Option<Arc<Item>>> {
        if let Some(item) = lock(&self.tables).items.get(id, now_ms()) {
            return Ok(Some(item));
        }
        let epoch = self.epoch();
        let found = self.inner.get_item(id).await?.map(Arc::new);
        if let Some(item) = &found {
            self.keep(Fetched::Item(item.clone()), epoch);
        }
        Ok(found)
    }

    /// [`MetadataRepo::query_items`] without a copy of a cached page (listings build their DTOs
    /// from it in place; a page of 20 items was 20 deep copies per request before).
    pub async fn shared_page(&self, query: &ItemQuery) -> Result<Arc<Page<Item>>> {
        // A user filter makes the page the user's own: never cached.
        if query.user.is_some() {
            return Ok(Arc::new(self.inner.query_items(query).await?));
        }
        let key = format!("{query:?}");
        if let Some(page) = lock(&self.tables).pages.get(&key, now_ms()) {
            return Ok(page);
        }
        let epoch = self.epoch();
        let page = Arc::new(self.inner.query_items(query).await?);
        if page.items.len() <= MAX_PAGE_ITEMS {
            self.keep(Fetched::Page(key, page.clone()), epoch);
        }
        Ok(page)
    }

    fn epoch(&self) -> u64 {
        lock(&self.tables).epoch()
    }

    fn keep(&self, value: Fetched, epoch: u64) {
        lock(&self.tables).fetched(value, epoch, now_ms());
    }
}

#[async_trait]
impl MetadataRepo for CachedMetadata {
    async fn create_user(&self, user: &User) -> Result<()> {
        let result = self.inner.create_user(user).await;
        self.user_changed(&user.id).await;
        result
    }

    async fn update_user(&self, user: &User) -> Result<()> {
        let result = self.inner.update_user(user).await;
        self.user_changed(&user.id).await;
        result
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>> {
        if let Some(user) = lock(&self.tables).users.get(id, now_ms()) {
            return Ok(Some(user));
        }
        let epoch = self.epoch();
        let found = self.inner.get_user(id).await?;
        if let Some(user) = &found {
            self.keep(Fetched::User(user.clone()), epoch);
        }
        Ok(found)
    }

    async fn get_user_by_name(&self, name: &str) -> Result<Option<User>> {
        self.inner.get_user_by_name(name).await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.inner.list_users().await
    }

    async fn delete_user(&self, id: &str) -> Result<bool> {
        let result = self.inner.delete_user(id).await;
        self.user_changed(id).await;
        result
    }

    async fn upsert_item(&self, item: &Item) -> Result<()> {
        let result = self.inner.upsert_item(item).await;
        self.item_changed(&item.id).await;
        result
    }

    async fn get_item(&self, id: &str) -> Result<Option<Item>> {
        Ok(self.shared_item(id).await?.map(Arc::unwrap_or_clone))
    }

    async fn get_item_by_path(&self, path: &str) -> Result<Option<Item>> {
        self.inner.get_item_by_path(path).await
    }

    async fn query_items(&self, query: &ItemQuery) -> Result<Page<Item>> {
        Ok(Arc::unwrap_or_clone(self.shared_page(query).await?))
    }

    async fn delete_item(&self, id: &str) -> Result<bool> {
        let result = self.inner.delete_item(id).await;
        self.item_changed(id).await;
        result
    }

    async fn get_user_data(&self, user_id: &str, item_id: &str) -> Result<Option<UserItemData>> {
        self.inner.get_user_data(user_id, item_id).await
    }

    async fn put_user_data(&self, data: &UserItemData) -> Result<()> {
        self.inner.put_user_data(data).await
    }

    async fn list_user_data(
        &self,
        user_id: &str,
        item_ids: &[String],
    ) -> Result<Vec<UserItemData>> {
        self.inner.list_user_data(user_id, item_ids).await
    }

    async fn get_display_preferences(
        &self,
        user_id: &str,
        id: &str,
        client: &str,
    ) -> Result<Option<DisplayPreferences>> {
        self.inner
            .get_display_preferences(user_id, id, client)
            .await
    }

    async fn put_display_preferences(&self, prefs: &DisplayPreferences) -> Result<()> {
        self.inner.put_display_preferences(prefs).await
    }

    async fn get_user_configuration(&self, user_id: &str) -> Result<Option<UserConfiguration>> {
        self.inner.get_user_configuration(user_id).await
    }

    async fn put_user_configuration(&self, config: &UserConfiguration) -> Result<()> {
        self.inner.put_user_configuration(config).await
    }

    async fn upsert_device(&self, device: &Device) -> Result<()> {
        self.inner.upsert_device(device).await
    }

    async fn list_devices(&self, user_id: Option<&str>) -> Result<Vec<Device>> {
        self.inner.list_devices(user_id).await
    }

    async fn append_activity(&self, entry: &NewActivity) -> Result<u64> {
        self.inner.append_activity(entry).await
    }

    async fn recent_activity(&self, limit: u32) -> Result<Vec<Activity>> {
        self.inner.recent_activity(limit).await
    }
}
