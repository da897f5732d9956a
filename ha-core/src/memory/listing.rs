//! Item listings for the in-process [`MetadataRepo`](crate::MetadataRepo): match, order, page.
//!
//! # Why this shape
//!
//! A library of 50,000 items is a normal home library, and a listing runs on every page a
//! client opens, so: the repo's lock is held only to collect the matches (reference counts,
//! not copies); a listing that needs a user's marks starts from that user's marks, not from
//! the library; names are compared case-insensitively without allocating (ASCII byte-wise,
//! otherwise char by char: the order of `str::to_lowercase` keys except for a word-final
//! Greek sigma); and only the part of the order a page needs is sorted
//! (`select_nth_unstable`). Most listings do not come here at all after the first call: their
//! whole order is kept until the library changes (`ordered.rs`); searches and listings by play
//! date (different for every term and user) do.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::metadata::MAX_PAGE;
use crate::{Item, ItemQuery, ItemSort, Page};

/// One match, with what ordering it may need.
pub(super) struct Match {
    item: Arc<Item>,
    /// When the query's user last played it.
    played_ms: Option<u64>,
}

impl Match {
    /// `item`, last played by the query's user at `played_ms`.
    pub(super) fn new(item: &Arc<Item>, played_ms: Option<u64>) -> Self {
        Self {
            item: Arc::clone(item),
            played_ms,
        }
    }

    /// `sort`'s order, ties broken by id so paging is stable.
    fn cmp(&self, other: &Self, sort: ItemSort) -> Ordering {
        let primary = match sort {
            ItemSort::Name => cmp_ignoring_case(&self.item.name, &other.item.name),
            ItemSort::DateAdded => self.item.date_added_ms.cmp(&other.item.date_added_ms),
            ItemSort::DatePlayed => self.played_ms.cmp(&other.played_ms),
        };
        primary.then_with(|| self.item.id.cmp(&other.item.id))
    }
}

/// Orders `a` and `b` as their lower-cased forms order, without building them.
fn cmp_ignoring_case(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
    } else {
        a.chars()
            .flat_map(char::to_lowercase)
            .cmp(b.chars().flat_map(char::to_lowercase))
    }
}

/// Does `name` contain `needle` (already lower-cased), ignoring case?
pub(super) fn contains_ignoring_case(name: &str, needle: &str) -> bool {
    if name.is_ascii() && needle.is_ascii() {
        needle.is_empty()
            || name
                .as_bytes()
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    } else {
        name.to_lowercase().contains(needle)
    }
}

/// Every match in `sort`'s ascending order (ties by id).
pub(super) fn ascending(sort: ItemSort, mut matched: Vec<Match>) -> Vec<Arc<Item>> {
    matched.sort_unstable_by(|a, b| a.cmp(b, sort));
    matched.into_iter().map(|m| m.item).collect()
}

/// The page `query` asks for out of every match, and how many matched.
pub(super) fn page(query: &ItemQuery, mut matched: Vec<Match>) -> Page<Item> {
    let total = matched.len() as u64;
    let order = |a: &Match, b: &Match| {
        let ordering = a.cmp(b, query.sort);
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
        page(query, items.iter().map(|i| Match::new(i, None)).collect())
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
    fn case_is_ignored_in_order_and_search_without_allocating() {
        assert_eq!(cmp_ignoring_case("abc", "ABD"), Ordering::Less);
        assert_eq!(cmp_ignoring_case("Zeta", "alpha"), Ordering::Greater);
        assert_eq!(cmp_ignoring_case("ÉTÉ", "été"), Ordering::Equal);
        assert_eq!(cmp_ignoring_case("Ab", "abc"), Ordering::Less);
        assert!(contains_ignoring_case("The Night Storm", "storm"));
        assert!(contains_ignoring_case("Anything", ""));
        assert!(!contains_ignoring_case("Rain", "storm"));
        assert!(contains_ignoring_case("L'ÉTÉ Indien", "été"));
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
