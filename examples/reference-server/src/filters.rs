//! Jellyfin's `Filters` on item listings (`IsPlayed`, `IsUnplayed`, `IsFavorite`, `IsResumable`,
//! `IsFolder`, `IsNotFolder`).
//!
//! A listing's filters go into the store's query ([`ItemFilters::narrow`]): the marks as a
//! [`UserFilter`] the store joins, `IsFolder` as item kinds. Filtering after the store had
//! answered would cut at its page cap (a 50,000-item library lists only 10,000, and an
//! unplayed film past them never shows) and read every item's marks on each request. Only a
//! listing by `Ids` (at most 1,000 items, read one by one) is matched afterwards
//! ([`ItemFilters::matches`]). Clients lean on these filters: "Continue watching" is
//! `Filters=IsResumable&SortBy=DatePlayed` in `jellyfin-apiclient-python`, and an ignored
//! filter silently lists the whole library instead. Filter names this server cannot judge
//! (`Likes`, `Dislikes`) are ignored, as unknown parameters are elsewhere. The boolean
//! parameters `IsPlayed`, `IsFavorite`, `IsResumable` and `IsFolder` set the same fields
//! (`listing.rs`), `false` included.

use media_ha::core::{ItemKind, ItemQuery, ItemSort, UserFilter};

use crate::dto::BaseItemDto;

/// The filters of one request; the default filters nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemFilters {
    /// `IsPlayed` (`Some(true)`) / `IsUnplayed` (`Some(false)`).
    pub played: Option<bool>,
    /// `IsFavorite` (`Some(true)`; `IsFavorite=false`: `Some(false)`).
    pub favorite: Option<bool>,
    /// `IsResumable`: started and not finished (`Some(false)`: anything else).
    pub resumable: Option<bool>,
    /// `IsFolder` (`Some(true)`) / `IsNotFolder` (`Some(false)`).
    pub folder: Option<bool>,
}

impl ItemFilters {
    /// Parses the names of a `Filters` list (any case).
    pub fn parse(names: &[&str]) -> Self {
        let mut f = Self::default();
        for name in names {
            match name.trim().to_ascii_lowercase().as_str() {
                "isplayed" => f.played = Some(true),
                "isunplayed" => f.played = Some(false),
                "isfavorite" | "isfavoriteorlikes" => f.favorite = Some(true),
                "isresumable" => f.resumable = Some(true),
                "isfolder" => f.folder = Some(true),
                "isnotfolder" => f.folder = Some(false),
                _ => {}
            }
        }
        f
    }

    /// Filters nothing?
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `query` narrowed to these filters on `user_id`'s marks, ordered by when that user
    /// played when `by_date_played`; `None` when nothing can match (`IsFolder` with only
    /// kinds that are not folders asked for, or the reverse).
    pub fn narrow(
        &self,
        mut query: ItemQuery,
        user_id: &str,
        by_date_played: bool,
    ) -> Option<ItemQuery> {
        if let Some(folder) = self.folder {
            let asked = if query.kinds.is_empty() {
                ItemKind::ALL.to_vec()
            } else {
                query.kinds
            };
            query.kinds = asked
                .into_iter()
                .filter(|k| k.is_folder() == folder)
                .collect();
            if query.kinds.is_empty() {
                return None;
            }
        }
        let marks = UserFilter {
            played: self.played,
            favorite: self.favorite,
            resumable: self.resumable,
            ..UserFilter::new(user_id)
        };
        if marks != UserFilter::new(user_id) || by_date_played {
            query.user = Some(marks);
        }
        if by_date_played {
            query.sort = ItemSort::DatePlayed;
        }
        Some(query)
    }

    /// Does `item` (with its user data) pass every filter?
    pub fn matches(&self, item: &BaseItemDto) -> bool {
        let data = &item.user_data;
        self.played.is_none_or(|played| data.played == played)
            && self.favorite.is_none_or(|f| data.is_favorite == f)
            && self
                .resumable
                .is_none_or(|r| (data.playback_position_ticks > 0 && !data.played) == r)
            && self.folder.is_none_or(|folder| item.is_folder() == folder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_ha::core::{Item, ItemKind, UserItemData};

    fn dto(kind: ItemKind, data: impl FnOnce(&mut UserItemData)) -> BaseItemDto {
        let item = Item {
            id: "0123456789abcdef0123456789abcdef".into(),
            parent_id: None,
            path: "/m/a.mp4".into(),
            kind,
            name: "A".into(),
            date_added_ms: 0,
            size_bytes: None,
            runtime_ticks: Some(100),
            container: None,
            probe_json: None,
            images: Vec::new(),
        };
        let mut d = UserItemData::empty("u", &item.id);
        data(&mut d);
        BaseItemDto::new(&item, "server", &d)
    }

    #[test]
    fn parses_names_in_any_case_and_ignores_unknown_ones() {
        assert!(ItemFilters::parse(&[]).is_empty());
        assert!(ItemFilters::parse(&["Likes", "Dislikes"]).is_empty());
        let f = ItemFilters::parse(&["isunplayed", "IsFavorite", "ISRESUMABLE", "IsNotFolder"]);
        assert_eq!(
            f,
            ItemFilters {
                played: Some(false),
                favorite: Some(true),
                resumable: Some(true),
                folder: Some(false),
            }
        );
    }

    #[test]
    fn matches_on_the_users_marks_and_the_kind() {
        let untouched = dto(ItemKind::Movie, |_| {});
        let started = dto(ItemKind::Movie, |d| d.position_ticks = 40);
        let played = dto(ItemKind::Movie, |d| {
            d.played = true;
            d.is_favorite = true;
        });
        let folder = dto(ItemKind::Folder, |_| {});
        let only = |filters: &str| {
            let names: Vec<&str> = filters.split(',').collect();
            let f = ItemFilters::parse(&names);
            [&untouched, &started, &played, &folder].map(|i| f.matches(i))
        };
        assert_eq!(only("IsPlayed"), [false, false, true, false]);
        assert_eq!(only("IsUnplayed"), [true, true, false, true]);
        assert_eq!(only("IsFavorite"), [false, false, true, false]);
        assert_eq!(only("IsResumable"), [false, true, false, false]);
        assert_eq!(only("IsFolder"), [false, false, false, true]);
        assert_eq!(only("IsUnplayed,IsNotFolder"), [true, true, false, false]);
        let not_favorite = ItemFilters {
            favorite: Some(false),
            ..ItemFilters::default()
        };
        assert_eq!(
            [&untouched, &started, &played, &folder].map(|i| not_favorite.matches(i)),
            [true, true, false, true]
        );
    }

    #[test]
    fn narrowing_puts_marks_and_folders_into_the_store_query() {
        let filters = ItemFilters::parse(&["IsUnplayed", "IsNotFolder"]);
        let query = filters
            .narrow(ItemQuery::default(), "u1", false)
            .expect("not empty");
        assert_eq!(
            query.user,
            Some(UserFilter {
                played: Some(false),
                ..UserFilter::new("u1")
            })
        );
        assert!(query.kinds.iter().all(|k| !k.is_folder()));
        assert_eq!(query.kinds.len(), ItemKind::ALL.len() - 2);

        let nothing = ItemFilters::default();
        let plain = nothing.narrow(ItemQuery::default(), "u1", false).unwrap();
        assert_eq!(plain, ItemQuery::default(), "no filter, no join");
        let by_plays = nothing.narrow(ItemQuery::default(), "u1", true).unwrap();
        assert_eq!(by_plays.sort, ItemSort::DatePlayed);
        assert_eq!(by_plays.user, Some(UserFilter::new("u1")));

        let films = ItemQuery {
            kinds: vec![ItemKind::Movie],
            ..ItemQuery::default()
        };
        let folders_among_films = ItemFilters::parse(&["IsFolder"]);
        assert_eq!(folders_among_films.narrow(films, "u1", false), None);
    }
}
