//! Jellyfin's item-listing parameters (`/Items`, `/Users/{id}/Items`), parsed once, as a pure
//! function ([`Listing::parse`]).
//!
//! Why the rules are what they are:
//! - **List parameters** (`IncludeItemTypes`, `ExcludeItemTypes`, `MediaTypes`, `Ids`,
//!   `Fields`, `Filters`, `SortBy`, `SortOrder`) come as a comma list or as repeated keys
//!   (`@jellyfin/sdk`); [`query_map`](crate::auth::query_map) joins repeated keys, so both read
//!   alike. Names match ignoring case.
//! - **Unknown is not malformed.** A well-formed name this server has no use for (an item type
//!   it never has, like `Series`; a field it does not fill; a sort key it does not implement)
//!   is ignored, as Jellyfin ignores list values it cannot convert. A value that is not a name
//!   at all (`Movie;x`, an id that is not a GUID, a non-boolean `IsPlayed`, a negative `Limit`,
//!   a `SortOrder` other than `Ascending`/`Descending`) is a 400 naming the parameter.
//! - A listing restricted to item types none of which this server has is empty (not the whole
//!   library).
//! - `IsPlayed`, `IsFavorite`, `IsResumable`, `IsFolder` are the same filters as the
//!   `Filters` names (see `filters.rs`); both may be given.
//! - Unknown parameters are ignored.

use std::collections::HashMap;

use media_ha::core::{ItemKind, ItemQuery, ItemSort};

use crate::auth::query_list;
use crate::error::{ApiError, ApiResult};
use crate::filters::ItemFilters;
use crate::state::normalize_id;

/// The longest name accepted in a list parameter.
const MAX_NAME: usize = 64;
/// The most ids one `Ids` parameter may name.
pub const MAX_IDS: usize = 1_000;

/// Which optional parts of an item DTO the client asked for with `Fields`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fields {
    /// `MediaSources` (each with its `MediaStreams`).
    pub media_sources: bool,
    /// `MediaStreams` at the top level.
    pub media_streams: bool,
}

impl Fields {
    /// Both (an item's detail page: Jellyfin sends every field there).
    pub fn all() -> Self {
        Self {
            media_sources: true,
            media_streams: true,
        }
    }
}

/// An item listing request, as this server understands it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The store query; `None` when the listing is empty by construction (only item types or
    /// media types this server does not have).
    pub query: Option<ItemQuery>,
    /// Filters on the user's marks and the item kind.
    pub filters: ItemFilters,
    /// `SortBy` starts with `DatePlayed` (ordered after the user's data is attached).
    pub by_date_played: bool,
    /// `Ids`: only these items (normalised ids), in this order.
    pub ids: Option<Vec<String>>,
    /// `Fields`.
    pub fields: Fields,
}

/// Is `s` a name (ASCII letters and digits, not over-long)?
fn is_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The names of a list parameter, each checked to be a name (400 otherwise).
fn names<'a>(params: &'a HashMap<String, String>, key: &str) -> ApiResult<Vec<&'a str>> {
    let names = query_list(params, key);
    if let Some(bad) = names.iter().find(|n| !is_name(n)) {
        return Err(ApiError::bad_request(format!(
            "{key}: {:?} is not a name (letters and digits)",
            bad.chars().take(MAX_NAME).collect::<String>()
        )));
    }
    Ok(names)
}

/// The kinds of a type list (names of kinds this server lacks are dropped).
fn kinds(names: &[&str]) -> Vec<ItemKind> {
    names
        .iter()
        .filter_map(|n| ItemKind::parse(n).ok())
        .collect()
}

/// The kinds of a `MediaTypes` list.
fn media_kinds(names: &[&str]) -> Vec<ItemKind> {
    let mut out = Vec::new();
    for name in names {
        if name.eq_ignore_ascii_case("video") {
            out.extend([ItemKind::Movie, ItemKind::Video, ItemKind::Episode]);
        } else if name.eq_ignore_ascii_case("audio") {
            out.push(ItemKind::Audio);
        }
    }
    out
}

/// The playable kinds a resume row may list, narrowed by `IncludeItemTypes`, `MediaTypes`
/// (jellyfin-web asks for `MediaTypes=Video` and, for "Continue listening", `MediaTypes=Audio`)
/// and `ExcludeItemTypes`. Empty: nothing can match.
pub fn resume_kinds(params: &HashMap<String, String>) -> ApiResult<Vec<ItemKind>> {
    let include = names(params, "includeitemtypes")?;
    let exclude = kinds(&names(params, "excludeitemtypes")?);
    let media = names(params, "mediatypes")?;
    let mut allowed = vec![
        ItemKind::Movie,
        ItemKind::Video,
        ItemKind::Episode,
        ItemKind::Audio,
    ];
    if !include.is_empty() {
        let include = kinds(&include);
        allowed.retain(|k| include.contains(k));
    }
    if !media.is_empty() {
        let media = media_kinds(&media);
        allowed.retain(|k| media.contains(k));
    }
    allowed.retain(|k| !exclude.contains(k));
    Ok(allowed)
}

/// A boolean parameter (`true`/`false`, any case; empty is false).
pub fn parse_bool(params: &HashMap<String, String>, key: &str) -> ApiResult<Option<bool>> {
    match params.get(key).map(|v| v.to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" => Ok(Some(true)),
        Some(v) if v == "false" || v.is_empty() => Ok(Some(false)),
        Some(v) => Err(ApiError::bad_request(format!(
            "{key}={v:?} is not a boolean"
        ))),
    }
}

/// A non-negative integer parameter (empty: absent).
pub fn parse_u32(params: &HashMap<String, String>, key: &str) -> ApiResult<Option<u32>> {
    match params.get(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse::<u32>().map(Some).map_err(|_| {
            ApiError::bad_request(format!("{key}={v:?} is not a non-negative integer"))
        }),
    }
}

impl Listing {
    /// Parses a listing's parameters (keys lower-cased, repeated keys joined: `query_map`).
    pub fn parse(params: &HashMap<String, String>) -> ApiResult<Self> {
        let mut query = ItemQuery::default();
        let mut empty = false;
        if let Some(parent) = params.get("parentid").filter(|p| !p.is_empty()) {
            query.parent_id = Some(
                normalize_id(parent)
                    .ok_or_else(|| ApiError::not_found(format!("item {parent} not found")))?,
            );
        }
        query.recursive = parse_bool(params, "recursive")?.unwrap_or(false);

        let include = names(params, "includeitemtypes")?;
        let exclude = kinds(&names(params, "excludeitemtypes")?);
        let media = names(params, "mediatypes")?;
        let mut allowed: Vec<ItemKind> = if include.is_empty() {
            ItemKind::ALL.to_vec()
        } else {
            kinds(&include)
        };
        if !media.is_empty() {
            let media = media_kinds(&media);
            allowed.retain(|k| media.contains(k));
        }
        allowed.retain(|k| !exclude.contains(k));
        if allowed.is_empty() {
            empty = true;
        } else if allowed.len() < ItemKind::ALL.len() {
            query.kinds = allowed;
        }

        query.search_term = params
            .get("searchterm")
            .filter(|s| !s.trim().is_empty())
            .cloned();
        let mut by_date_played = false;
        for key in names(params, "sortby")? {
            match key.to_ascii_lowercase().as_str() {
                "sortname" | "name" => query.sort = ItemSort::Name,
                "datecreated" | "dateadded" => query.sort = ItemSort::DateAdded,
                "dateplayed" => by_date_played = true,
                _ => continue,
            }
            break;
        }
        let orders = query_list(params, "sortorder");
        for order in &orders {
            if !order.eq_ignore_ascii_case("ascending") && !order.eq_ignore_ascii_case("descending")
            {
                return Err(ApiError::bad_request(format!(
                    "SortOrder {:?} is neither Ascending nor Descending",
                    order.chars().take(MAX_NAME).collect::<String>()
                )));
            }
        }
        query.descending = orders
            .first()
            .is_some_and(|o| o.eq_ignore_ascii_case("descending"));
        query.start_index = parse_u32(params, "startindex")?.unwrap_or(0);
        query.limit = parse_u32(params, "limit")?;

        let mut filters = ItemFilters::parse(&names(params, "filters")?);
        if let Some(played) = parse_bool(params, "isplayed")? {
            filters.played = Some(played);
        }
        if let Some(favorite) = parse_bool(params, "isfavorite")? {
            filters.favorite = Some(favorite);
        }
        if let Some(resumable) = parse_bool(params, "isresumable")? {
            filters.resumable = Some(resumable);
        }
        if let Some(folder) = parse_bool(params, "isfolder")? {
            filters.folder = Some(folder);
        }

        let ids = match query_list(params, "ids") {
            raw if raw.is_empty() => None,
            raw if raw.len() > MAX_IDS => {
                return Err(ApiError::bad_request(format!(
                    "Ids names {} items (at most {MAX_IDS})",
                    raw.len()
                )))
            }
            raw => Some(
                raw.iter()
                    .map(|r| {
                        normalize_id(r).ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "Ids: {:?} is not an item id",
                                r.chars().take(MAX_NAME).collect::<String>()
                            ))
                        })
                    })
                    .collect::<ApiResult<Vec<_>>>()?,
            ),
        };

        let mut fields = Fields::default();
        for field in names(params, "fields")? {
            if field.eq_ignore_ascii_case("mediasources") {
                fields.media_sources = true;
            } else if field.eq_ignore_ascii_case("mediastreams") {
                fields.media_streams = true;
            }
        }

        Ok(Self {
            query: (!empty).then_some(query),
            filters,
            by_date_played,
            ids,
            fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::query_map;
    use axum::http::StatusCode;

    fn parse(q: &str) -> ApiResult<Listing> {
        Listing::parse(&query_map(Some(q)))
    }

    #[test]
    fn parses_a_jellyfin_web_query() {
        let l = parse(
            "SortBy=SortName,ProductionYear&SortOrder=Descending&IncludeItemTypes=Movie,Series&Recursive=true&Fields=PrimaryImageAspectRatio,MediaSources&ImageTypeLimit=1&StartIndex=10&Limit=5&ParentId=0123456789ABCDEF0123456789ABCDEF",
        )
        .unwrap();
        let q = l.query.unwrap();
        assert_eq!(
            q.parent_id.as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert!(q.recursive && q.descending);
        assert_eq!(q.kinds, vec![ItemKind::Movie]);
        assert_eq!(q.sort, ItemSort::Name);
        assert_eq!((q.start_index, q.limit), (10, Some(5)));
        assert!(l.fields.media_sources && !l.fields.media_streams);
    }

    #[test]
    fn repeated_keys_equal_comma_lists() {
        let repeated = parse(
            "includeItemTypes=Movie&includeItemTypes=Video&fields=MediaSources&fields=Overview&sortBy=DateCreated&sortBy=SortName&sortOrder=Descending&filters=IsPlayed&filters=IsFavorite&ids=0123456789abcdef0123456789abcdef&ids=fedcba9876543210fedcba9876543210",
        )
        .unwrap();
        let comma = parse(
            "IncludeItemTypes=Movie,Video&Fields=MediaSources,Overview&SortBy=DateCreated,SortName&SortOrder=Descending&Filters=IsPlayed,IsFavorite&Ids=0123456789abcdef0123456789abcdef,fedcba9876543210fedcba9876543210",
        )
        .unwrap();
        assert_eq!(repeated, comma);
        let q = repeated.query.as_ref().unwrap();
        assert_eq!(q.kinds, vec![ItemKind::Movie, ItemKind::Video]);
        assert_eq!(q.sort, ItemSort::DateAdded);
        assert_eq!(repeated.ids.as_ref().map(Vec::len), Some(2));
        assert_eq!(repeated.filters.played, Some(true));
        assert_eq!(repeated.filters.favorite, Some(true));
    }

    #[test]
    fn type_lists_narrow_and_may_empty_the_listing() {
        assert!(parse("IncludeItemTypes=Series,BoxSet")
            .unwrap()
            .query
            .is_none());
        assert!(parse("IncludeItemTypes=Movie&ExcludeItemTypes=Movie")
            .unwrap()
            .query
            .is_none());
        assert!(parse("MediaTypes=Photo").unwrap().query.is_none());
        let resume = |q: &str| resume_kinds(&query_map(Some(q))).unwrap();
        assert_eq!(resume("MediaTypes=Audio"), [ItemKind::Audio]);
        assert_eq!(
            resume("mediaTypes=Video"),
            [ItemKind::Movie, ItemKind::Video, ItemKind::Episode]
        );
        assert_eq!(resume("").len(), 4);
        assert!(resume("MediaTypes=Book").is_empty());
        assert_eq!(
            resume("IncludeItemTypes=Episode&ExcludeItemTypes=Movie"),
            [ItemKind::Episode]
        );
        let q = parse("MediaTypes=Video&ExcludeItemTypes=Episode")
            .unwrap()
            .query
            .unwrap();
        assert_eq!(q.kinds, vec![ItemKind::Movie, ItemKind::Video]);
        let q = parse("ExcludeItemTypes=Folder,CollectionFolder")
            .unwrap()
            .query
            .unwrap();
        assert!(!q.kinds.contains(&ItemKind::Folder) && q.kinds.contains(&ItemKind::Movie));
        assert!(parse("").unwrap().query.unwrap().kinds.is_empty());
    }

    #[test]
    fn booleans_join_the_filters() {
        let l = parse("isPlayed=false&IsFavorite=true&isResumable=true&IsFolder=false").unwrap();
        assert_eq!(
            l.filters,
            ItemFilters {
                played: Some(false),
                favorite: Some(true),
                resumable: Some(true),
                folder: Some(false),
            }
        );
        assert!(
            parse("Filters=IsResumable&SortBy=DatePlayed")
                .unwrap()
                .by_date_played
        );
    }

    #[test]
    fn malformed_values_are_400_and_unknown_names_ignored() {
        let l = parse("Fields=Overview,Genres&SortBy=Random&Filters=Likes&Foo=bar").unwrap();
        assert_eq!(l.fields, Fields::default());
        assert!(l.filters.is_empty());
        for bad in [
            "Limit=-1",
            "Limit=1&Limit=2",
            "StartIndex=x",
            "Recursive=maybe",
            "SortOrder=Sideways",
            "SortOrder=Ascending,Sideways",
            "IsPlayed=yes",
            "IsFavorite=1",
            "IncludeItemTypes=Movie;Video",
            "ExcludeItemTypes=%3Cscript%3E",
            "Fields=Media Sources",
            "Filters=IsPlayed'",
            "SortBy=Name()",
            "Ids=not-an-id",
            "Ids=0123456789abcdef0123456789abcdef,x",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(!err.message.is_empty());
        }
        let too_many = vec!["0123456789abcdef0123456789abcdef"; MAX_IDS + 1].join(",");
        assert_eq!(
            parse(&format!("Ids={too_many}")).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        let err = parse("ParentId=nope").unwrap_err();
        assert_eq!(err.status, StatusCode::NOT_FOUND);
    }
}
