//! Whole listings of the in-process [`MetadataRepo`](crate::MetadataRepo), in order, kept until
//! the library changes.
//!
//! # Why
//!
//! A listing sorted by name or date over a large library (20,000 films in one folder) sorts
//! every match on every call, although the order only changes when the library does (a scan).
//! Measured at 50,000 items (docs/BENCHMARKS.md, "Library scale"), a deep page of the films
//! cost tens of milliseconds, nearly all of it sorting. So the first call after a change
//! orders every match once, and the calls after it page through that order: a slice for a
//! listing without a user filter, one pass with the user's marks (a hash lookup per item, no
//! sort, under the repo's lock as the collection of matches always was) for a filter such as
//! "unplayed". The sort itself runs after the lock is released.
//!
//! # What is kept, and for how long
//!
//! The key is what the order depends on besides the user: parent, recursion, kinds and the
//! sort key (a descending listing walks the same order backwards: ties are broken by id in both
//! directions, so it is exactly the reverse). Listings with a search term (each term its own
//! small result) and listings by the user's play date (a different order per user) are not
//! kept. Every entry belongs to one *library generation*, a counter bumped by every item
//! written or deleted; an entry of an older generation is never served. At most
//! [`MAX_LISTINGS`] orders are kept, each a list of shared references (8 bytes per item).

use std::collections::HashMap;
use std::sync::Arc;

use crate::{Item, ItemKind, ItemQuery, ItemSort};

/// Most orders kept at once (the table starts over when full).
pub(super) const MAX_LISTINGS: usize = 16;

/// What a listing's order depends on, besides the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct OrderKey {
    parent_id: Option<String>,
    recursive: bool,
    kinds: Vec<ItemKind>,
    sort: ItemSort,
}

impl OrderKey {
    /// The key of `query`, or `None` when its order is not kept (a search term; the user's
    /// play date).
    pub(super) fn of(query: &ItemQuery) -> Option<Self> {
        if query.search_term.is_some() || query.sort == ItemSort::DatePlayed {
            return None;
        }
        Some(Self {
            parent_id: query.parent_id.clone(),
            recursive: query.recursive,
            kinds: query.kinds.clone(),
            sort: query.sort,
        })
    }
}

/// Every match of a listing, ascending.
pub(super) type Ordered = Arc<[Arc<Item>]>;

/// The orders of one library generation.
#[derive(Debug, Default)]
pub(super) struct OrderedListings {
    generation: u64,
    orders: HashMap<OrderKey, Ordered>,
}

impl OrderedListings {
    /// The order of `key` if it was built at `generation`.
    pub(super) fn get(&self, key: &OrderKey, generation: u64) -> Option<Ordered> {
        (self.generation == generation)
            .then(|| self.orders.get(key).cloned())
            .flatten()
    }

    /// Keeps `order`, built at `generation` (an older build than what is kept is dropped).
    pub(super) fn keep(&mut self, key: OrderKey, generation: u64, order: Ordered) {
        if generation < self.generation {
            return;
        }
        if generation > self.generation || self.orders.len() >= MAX_LISTINGS {
            self.orders.clear();
            self.generation = generation;
        }
        self.orders.insert(key, order);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(n: usize) -> Ordered {
        (0..n)
            .map(|i| {
                Arc::new(Item {
                    id: format!("{i}"),
                    parent_id: None,
                    path: format!("/m/{i}"),
                    kind: ItemKind::Movie,
                    name: format!("{i}"),
                    date_added_ms: 0,
                    size_bytes: None,
                    runtime_ticks: None,
                    container: None,
                    probe_json: None,
                    images: Vec::new(),
                })
            })
            .collect()
    }

    fn key(parent: &str) -> OrderKey {
        OrderKey::of(&ItemQuery {
            parent_id: Some(parent.into()),
            ..ItemQuery::default()
        })
        .unwrap()
    }

    #[test]
    fn only_the_current_generation_is_served() {
        let mut kept = OrderedListings::default();
        kept.keep(key("a"), 1, order(2));
        assert_eq!(kept.get(&key("a"), 1).map(|o| o.len()), Some(2));
        assert!(kept.get(&key("a"), 2).is_none());
        assert!(kept.get(&key("b"), 1).is_none());
        // A build that started before a newer one was kept is too old to keep.
        kept.keep(key("b"), 3, order(1));
        kept.keep(key("a"), 2, order(5));
        assert!(kept.get(&key("a"), 2).is_none());
        assert!(kept.get(&key("a"), 3).is_none());
        assert_eq!(kept.get(&key("b"), 3).map(|o| o.len()), Some(1));
    }

    #[test]
    fn bounded() {
        let mut kept = OrderedListings::default();
        for n in 0..(MAX_LISTINGS * 3) {
            kept.keep(key(&n.to_string()), 1, order(1));
            assert!(kept.orders.len() <= MAX_LISTINGS);
        }
    }

    #[test]
    fn searches_and_play_dates_are_not_kept_and_direction_is_not_in_the_key() {
        let search = ItemQuery {
            search_term: Some("storm".into()),
            ..ItemQuery::default()
        };
        assert!(OrderKey::of(&search).is_none());
        let played = ItemQuery {
            sort: ItemSort::DatePlayed,
            ..ItemQuery::default()
        };
        assert!(OrderKey::of(&played).is_none());
        let down = ItemQuery {
            descending: true,
            ..ItemQuery::default()
        };
        assert_eq!(OrderKey::of(&down), OrderKey::of(&ItemQuery::default()));
    }
}
