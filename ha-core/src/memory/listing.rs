//! Item listings for the in-process [`MetadataRepo`](crate::MetadataRepo): match, order, page.
//!
//! # Why this shape
//!
//! A library of 50,000 items is a normal home library, and a listing runs on every page a
//! client opens, so two things matter: the repo's lock is held only to collect the matches
//! (reference counts, not copies), and ordering computes each item's sort key once and
//! partially sorts only the part of the order a page needs (`select_nth_unstable`), instead of
//! lower-casing two names per comparison of a full sort.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::metadata::MAX_PAGE;
use crate::{Item, ItemQuery, ItemSort, Page, UserItemData};

/// What an item is ordered by, computed once per listed item.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Text(String),
    Number(Option<u64>),
}

/// One match: its sort key, then its id (ties are broken by id so paging is stable).
pub(super) struct Match {
    key: SortKey,
    item: Arc<Item>,
}

impl Match {
    /// `item` (with `data`, its marks by the query's user, if any) as `query` orders it.
    pub(super) fn new(query: &ItemQuery, item: &Arc<Item>, data: Option<&UserItemData>) -> Self {
        let key = match query.sort {
            ItemSort::Name => SortKey::Text(item.name.to_lowercase()),
            ItemSort::DateAdded => SortKey::Number(Some(item.date_added_ms)),
            ItemSort::DatePlayed => SortKey::Number(data.and_then(|d| d.last_played_ms)),
        };
        Self {
            key,
            item: Arc::clone(item),
        }
    }

    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .cmp(&other.key)
            .then_with(|| self.item.id.cmp(&other.item.id))
    }
}

/// The page `query` asks for out of every match, and how many matched.
pub(super) fn page(query: &ItemQuery, mut matched: Vec<Match>) -> Page<Item> {
    let total = matched.len() as u64;
    let order = |a: &Match, b: &Match| {
        let ordering = a.cmp(b);
        if query.descending {
            ordering.reverse()
        } else {
            ordering
        }
    };
    let start = query.start_index as usize;
    let limit = query.limit.unwrap_or(MAX_PAGE).min(MAX_PAGE) as usize;
    let end = start.saturating_add(limit).min(matched.len());
    if start >= end {
        return Page {
            items: Vec::new(),
            total,
        };
    }
    // Only the first `end` in order matter: put them first, then order just those.
    if end < matched.len() {
        matched.select_nth_unstable_by(end - 1, order);
        matched.truncate(end);
    }
    matched.sort_unstable_by(order);
    let items = matched
        .drain(start..)
        .map(|m| Arc::unwrap_or_clone(m.item))
        .collect();
    Page { items, total }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ItemKind;

    fn item(id: &str, name: &str, added: u64) -> Arc<Item> {
        Arc::new(Item {
            id: id.into(),
            parent_id: None,
            path: format!("/m/{id}"),
            kind: ItemKind::Movie,
            name: name.into(),
            date_added_ms: added,
            size_bytes: None,
            runtime_ticks: None,
            container: None,
            probe_json: None,
            images: Vec::new(),
        })
    }

    fn ids(page: &Page<Item>) -> Vec<&str> {
        page.items.iter().map(|i| i.id.as_str()).collect()
    }

    fn list(query: &ItemQuery, items: &[Arc<Item>]) -> Page<Item> {
        page(
            query,
            items.iter().map(|i| Match::new(query, i, None)).collect(),
        )
    }

    #[test]
    fn pages_agree_with_a_full_sort_in_both_directions() {
        let items: Vec<_> = (0..50)
            .map(|n| item(&format!("{n:02}"), &format!("N{}", n % 7), n))
            .collect();
        for descending in [false, true] {
            let everything = list(
                &ItemQuery {
                    descending,
                    ..ItemQuery::default()
                },
                &items,
            );
            assert_eq!(everything.total, 50);
            let mut paged = Vec::new();
            for start in (0..50).step_by(7) {
                let query = ItemQuery {
                    descending,
                    start_index: start,
                    limit: Some(7),
                    ..ItemQuery::default()
                };
                let page = list(&query, &items);
                assert_eq!(page.total, 50);
                paged.extend(ids(&page).into_iter().map(String::from));
            }
            assert_eq!(paged, ids(&everything), "descending: {descending}");
        }
    }

    #[test]
    fn names_order_case_insensitively_with_ids_breaking_ties() {
        let items = [
            item("b", "alpha", 0),
            item("a", "Alpha", 0),
            item("c", "Beta", 0),
        ];
        assert_eq!(ids(&list(&ItemQuery::default(), &items)), ["a", "b", "c"]);
    }

    #[test]
    fn a_page_past_the_end_is_empty_but_counts() {
        let items = [item("a", "A", 0)];
        let query = ItemQuery {
            start_index: 5,
            ..ItemQuery::default()
        };
        let page = list(&query, &items);
        assert!(page.items.is_empty());
        assert_eq!(page.total, 1);
    }
}
