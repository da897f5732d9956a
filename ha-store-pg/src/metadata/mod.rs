//! [`MetadataRepo`] on PostgreSQL: users, library items, per-user item data, display
//! preferences, user configurations, devices and the activity log.
//!
//! One submodule per table, each holding its SQL as constants next to the code that binds it.
//! Every statement is parameterised and prepared once per connection. Semantics follow the
//! in-process reference backend ([`ha_core::memory::MemoryMetadataRepo`]): names compare
//! case-insensitively with Unicode lower-casing, listings order ties by id, pages cap at
//! [`ha_core::metadata::MAX_PAGE`].
//!
//! Like the in-process backend, the activity log keeps the newest
//! [`ha_core::metadata::ACTIVITY_KEEP`] entries (each append trims; every entry a client's
//! request causes must not grow the database without bound).

pub(crate) mod activity;
pub(crate) mod devices;
pub(crate) mod display_prefs;
pub(crate) mod items;
pub(crate) mod user_config;
pub(crate) mod user_data;
pub(crate) mod user_data_batch;
pub(crate) mod users;

use async_trait::async_trait;
use ha_core::{
    Activity, Device, DisplayPreferences, Item, ItemQuery, MetadataRepo, NewActivity, Page, Result,
    User, UserConfiguration, UserItemData,
};

use crate::PgStore;

/// The PostgreSQL [`MetadataRepo`]. Make one with [`PgStore::metadata`].
#[derive(Debug, Clone)]
pub struct PgMetadataRepo {
    store: PgStore,
}

impl PgMetadataRepo {
    pub(crate) fn new(store: PgStore) -> Self {
        Self { store }
    }

    /// The store this repo runs on.
    pub fn store(&self) -> &PgStore {
        &self.store
    }
}

#[async_trait]
impl MetadataRepo for PgMetadataRepo {
    async fn create_user(&self, user: &User) -> Result<()> {
        self.store
            .call("create user", users::create(&self.store, user))
            .await
    }

    async fn update_user(&self, user: &User) -> Result<()> {
        self.store
            .call("update user", users::update(&self.store, user))
            .await
    }

    async fn get_user(&self, id: &str) -> Result<Option<User>> {
        self.store
            .call("get user", users::get(&self.store, id))
            .await
    }

    async fn get_user_by_name(&self, name: &str) -> Result<Option<User>> {
        self.store
            .call("get user by name", users::get_by_name(&self.store, name))
            .await
    }

    async fn list_users(&self) -> Result<Vec<User>> {
        self.store
            .call("list users", users::list(&self.store))
            .await
    }

    async fn delete_user(&self, id: &str) -> Result<bool> {
        self.store
            .call("delete user", users::delete(&self.store, id))
            .await
    }

    async fn upsert_item(&self, item: &Item) -> Result<()> {
        self.store
            .call("upsert item", items::upsert(&self.store, item))
            .await
    }

    async fn get_item(&self, id: &str) -> Result<Option<Item>> {
        self.store
            .call("get item", items::get(&self.store, id))
            .await
    }

    async fn get_item_by_path(&self, path: &str) -> Result<Option<Item>> {
        self.store
            .call("get item by path", items::get_by_path(&self.store, path))
            .await
    }

    async fn query_items(&self, query: &ItemQuery) -> Result<Page<Item>> {
        self.store
            .call("query items", items::query(&self.store, query))
            .await
    }

    async fn delete_item(&self, id: &str) -> Result<bool> {
        self.store
            .call("delete item", items::delete(&self.store, id))
            .await
    }

    async fn get_user_data(&self, user_id: &str, item_id: &str) -> Result<Option<UserItemData>> {
        self.store
            .call(
                "get user data",
                user_data::get(&self.store, user_id, item_id),
            )
            .await
    }

    async fn put_user_data(&self, data: &UserItemData) -> Result<()> {
        self.store
            .call("put user data", user_data::put(&self.store, data))
            .await
    }

    async fn list_user_data(
        &self,
        user_id: &str,
        item_ids: &[String],
    ) -> Result<Vec<UserItemData>> {
        self.store
            .call(
                "list user data",
                user_data::list(&self.store, user_id, item_ids),
            )
            .await
    }

    async fn get_display_preferences(
        &self,
        user_id: &str,
        id: &str,
        client: &str,
    ) -> Result<Option<DisplayPreferences>> {
        self.store
            .call(
                "get display preferences",
                display_prefs::get(&self.store, user_id, id, client),
            )
            .await
    }

    async fn put_display_preferences(&self, prefs: &DisplayPreferences) -> Result<()> {
        self.store
            .call(
                "put display preferences",
                display_prefs::put(&self.store, prefs),
            )
            .await
    }

    async fn get_user_configuration(&self, user_id: &str) -> Result<Option<UserConfiguration>> {
        self.store
            .call(
                "get user configuration",
                user_config::get(&self.store, user_id),
            )
            .await
    }

    async fn put_user_configuration(&self, config: &UserConfiguration) -> Result<()> {
        self.store
            .call(
                "put user configuration",
                user_config::put(&self.store, config),
            )
            .await
    }

    async fn upsert_device(&self, device: &Device) -> Result<()> {
        self.store
            .call("upsert device", devices::upsert(&self.store, device))
            .await
    }

    async fn list_devices(&self, user_id: Option<&str>) -> Result<Vec<Device>> {
        self.store
            .call("list devices", devices::list(&self.store, user_id))
            .await
    }

    async fn append_activity(&self, entry: &NewActivity) -> Result<u64> {
        self.store
            .call("append activity", activity::append(&self.store, entry))
            .await
    }

    async fn recent_activity(&self, limit: u32) -> Result<Vec<Activity>> {
        self.store
            .call("recent activity", activity::recent(&self.store, limit))
            .await
    }
}

/// Checks a name the way the reference backend does (non-empty, ≤ 512 bytes, no control
/// characters), as a crate error.
fn validate(kind: &str, value: &str) -> crate::error::PgResult<()> {
    ha_core::lease::validate_name(kind, value).map_err(|e| match e {
        ha_core::Error::Invalid(msg) => crate::error::PgError::Invalid(msg),
        other => crate::error::PgError::Invalid(other.to_string()),
    })
}
