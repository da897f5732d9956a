//! The tables of the metadata cache: users and items by id, listing pages by query, each entry
//! answered for a bounded time. Pure: the clock is a parameter (ms).

use std::collections::HashMap;
use std::sync::Arc;

use media_ha::core::{Item, Page, User};

#[derive(Debug)]
struct Slot<V> {
    value: V,
    fetched_ms: u64,
}

/// One table: entries younger than `fresh_for_ms`, at most `max_entries` of them.
#[derive(Debug)]
pub struct Table<V> {
    fresh_for_ms: u64,
    max_entries: usize,
    map: HashMap<String, Slot<V>>,
}

impl<V: Clone> Table<V> {
    fn new(fresh_for_ms: u64, max_entries: usize) -> Self {
        Self {
            fresh_for_ms,
            max_entries: max_entries.max(1),
            map: HashMap::new(),
        }
    }

    /// The entry, if still fresh at `now_ms`.
    pub fn get(&self, key: &str, now_ms: u64) -> Option<V> {
        self.map
            .get(key)
            .filter(|s| now_ms < s.fetched_ms.saturating_add(self.fresh_for_ms))
            .map(|s| s.value.clone())
    }

    fn insert(&mut self, key: &str, value: V, now_ms: u64) {
        if self.fresh_for_ms == 0 {
            return;
        }
        if self.map.len() >= self.max_entries && !self.map.contains_key(key) {
            // Full: start over rather than keep an unbounded map (a client can name as many
            // ids and queries as it likes).
            self.map.clear();
        }
        self.map.insert(
            key.to_owned(),
            Slot {
                value,
                fetched_ms: now_ms,
            },
        );
    }

    fn remove(&mut self, key: &str) {
        self.map.remove(key);
    }

    fn clear(&mut self) {
        self.map.clear();
    }

    /// Entries held (fresh or not).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

/// Users, items and listing pages, and the invalidation epoch that keeps a read racing an
/// invalidation from being cached.
#[derive(Debug)]
pub struct Tables {
    /// Users by id.
    pub users: Table<User>,
    /// Items by id (shared: a hit costs a reference count, not a copy).
    pub items: Table<Arc<Item>>,
    /// Listing pages (queries without a user filter) by the query's text (shared).
    pub pages: Table<Arc<Page<Item>>>,
    epoch: u64,
}

/// Which table a fetched value goes to.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// A user.
    User(User),
    /// An item.
    Item(Arc<Item>),
    /// A listing page, under its query's key.
    Page(String, Arc<Page<Item>>),
}

impl Tables {
    /// Tables whose entries are answered for `fresh_for_ms` (0: nothing is kept), with at
    /// most `max_entries` users, as many items, and `max_pages` listing pages.
    pub fn new(fresh_for_ms: u64, max_entries: usize, max_pages: usize) -> Self {
        Self {
            users: Table::new(fresh_for_ms, max_entries),
            items: Table::new(fresh_for_ms, max_entries),
            pages: Table::new(fresh_for_ms, max_pages),
            epoch: 0,
        }
    }

    /// The epoch to pass to [`fetched`](Self::fetched) for a store read starting now.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Keeps what a store read that started at `epoch` returned, unless an invalidation came
    /// in between (then the read may predate the change, and nothing is kept).
    pub fn fetched(&mut self, value: Fetched, epoch: u64, now_ms: u64) {
        if epoch != self.epoch {
            return;
        }
        match value {
            Fetched::User(u) => {
                let id = u.id.clone();
                self.users.insert(&id, u, now_ms);
            }
            Fetched::Item(i) => {
                let id = i.id.clone();
                self.items.insert(&id, i, now_ms);
            }
            Fetched::Page(key, page) => self.pages.insert(&key, page, now_ms),
        }
    }

    /// An item changed or went: it, and every listing page.
    pub fn item_changed(&mut self, id: &str) {
        self.epoch += 1;
        self.items.remove(id);
        self.pages.clear();
    }

    /// A user changed or went (rights, password, name): that user only; pages hold no user.
    pub fn user_changed(&mut self, id: &str) {
        self.epoch += 1;
        self.users.remove(id);
    }

    /// Anything may have changed (missed events).
    pub fn clear(&mut self) {
        self.epoch += 1;
        self.users.clear();
        self.items.clear();
        self.pages.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_ha::core::ItemKind;

    fn item(id: &str, name: &str) -> Item {
        Item {
            id: id.into(),
            parent_id: None,
            path: format!("/m/{id}"),
            kind: ItemKind::Movie,
            name: name.into(),
            date_added_ms: 0,
            size_bytes: None,
            runtime_ticks: None,
            container: None,
            probe_json: None,
            images: Vec::new(),
        }
    }

    #[test]
    fn entries_expire_after_the_bound() {
        let mut t = Tables::new(1_000, 10, 10);
        let e = t.epoch();
        t.fetched(Fetched::Item(Arc::new(item("i", "old"))), e, 0);
        assert!(t.items.get("i", 999).is_some_and(|i| i.name == "old"));
        assert!(t.items.get("i", 1_000).is_none());
    }

    #[test]
    fn an_invalidation_wins_over_a_racing_read() {
        let mut t = Tables::new(1_000, 10, 10);
        let e = t.epoch();
        t.item_changed("i"); // the change lands while the read is in flight
        t.fetched(Fetched::Item(Arc::new(item("i", "old"))), e, 0);
        assert!(t.items.get("i", 1).is_none(), "the old read is not kept");
        t.fetched(Fetched::Item(Arc::new(item("i", "new"))), t.epoch(), 1);
        assert!(t.items.get("i", 2).is_some_and(|i| i.name == "new"));
        t.item_changed("i");
        assert!(t.items.get("i", 2).is_none(), "dropped at once");
    }

    #[test]
    fn an_item_change_drops_every_page_and_a_gap_everything() {
        let mut t = Tables::new(1_000, 10, 10);
        let e = t.epoch();
        let page = Page {
            items: vec![item("a", "a")],
            total: 1,
        };
        t.fetched(Fetched::Page("q".into(), Arc::new(page.clone())), e, 0);
        t.fetched(Fetched::Item(Arc::new(item("b", "b"))), e, 0);
        t.item_changed("a");
        assert!(t.pages.get("q", 1).is_none());
        assert!(t.items.get("b", 1).is_some(), "other items stay");
        t.fetched(Fetched::Page("q".into(), Arc::new(page)), t.epoch(), 1);
        t.clear();
        assert!(t.pages.get("q", 2).is_none());
        assert!(t.items.get("b", 2).is_none());
    }

    fn user(id: &str, is_admin: bool) -> User {
        User {
            id: id.into(),
            name: id.into(),
            password_hash: "hash".into(),
            is_admin,
            created_ms: 0,
        }
    }

    #[test]
    fn a_user_change_drops_that_user_only_and_wins_over_a_racing_read() {
        let mut t = Tables::new(1_000, 10, 10);
        let e = t.epoch();
        t.fetched(Fetched::User(user("u", true)), e, 0);
        t.fetched(Fetched::User(user("v", true)), e, 0);
        t.fetched(Fetched::Item(Arc::new(item("i", "i"))), e, 0);
        let before = t.epoch();
        t.user_changed("u"); // rights removed while a read of the old record is in flight
        t.fetched(Fetched::User(user("u", true)), before, 1);
        assert!(
            t.users.get("u", 1).is_none(),
            "neither kept nor the old read"
        );
        assert!(
            t.users.get("v", 1).is_some_and(|u| u.is_admin),
            "others stay"
        );
        assert!(t.items.get("i", 1).is_some(), "items stay");
        t.fetched(Fetched::User(user("u", false)), t.epoch(), 1);
        assert!(t.users.get("u", 2).is_some_and(|u| !u.is_admin));
        assert!(t.users.get("u", 1_001).is_none(), "expires after the bound");
        t.clear();
        assert!(t.users.get("v", 2).is_none(), "a gap drops users too");
    }

    #[test]
    fn tables_are_bounded_and_zero_keeps_nothing() {
        let mut t = Tables::new(1_000, 2, 2);
        for id in ["a", "b", "c"] {
            let e = t.epoch();
            t.fetched(Fetched::Item(Arc::new(item(id, id))), e, 0);
        }
        assert!(t.items.len() <= 2);
        let mut off = Tables::new(0, 10, 10);
        let e = off.epoch();
        off.fetched(Fetched::Item(Arc::new(item("i", "i"))), e, 0);
        assert_eq!(off.items.len(), 0);
    }
}
