//! Jellyfin's `Filters` on item listings (`IsPlayed`, `IsUnplayed`, `IsFavorite`, `IsResumable`,
//! `IsFolder`, `IsNotFolder`).
//!
//! Why apart from the metadata query: most of these are about one user's marks, which the
//! store's [`ItemQuery`](media_ha::core::ItemQuery) does not join. A filtered listing is
//! therefore matched after the user's data is attached, and its page is cut afterwards, so
//! `TotalRecordCount` counts what matches. Clients lean on them: "Continue watching" is
//! `Filters=IsResumable&SortBy=DatePlayed` in `jellyfin-apiclient-python`, and an ignored
//! filter silently lists the whole library instead. Filter names this server cannot judge
//! (`Likes`, `Dislikes`) are ignored, as unknown parameters are elsewhere. The boolean
//! parameters `IsPlayed`, `IsFavorite`, `IsResumable` and `IsFolder` set the same fields
//! (`listing.rs`), `false` included.

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

    /// Does `item` (with its user data) pass every filter?
    pub fn matches(&self, item: &BaseItemDto) -> bool {
        let data = &item.user_data;
        self.played.is_none_or(|played| data.played == played)
            && self.favorite.is_none_or(|f| data.is_favorite == f)
            && self
                .resumable
                .is_none_or(|r| (data.playback_position_ticks > 0 && !data.played) == r)
            && self.folder.is_none_or(|folder| item.is_folder == folder)
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
}
