//! An item's JSON, built once per version of the item: the fields of its DTO that do not depend
//! on the caller ([`ItemFields`](crate::dto::ItemFields)) and, when asked for, its
//! `MediaSources` and `MediaStreams` ([`ItemMedia`]).
//!
//! # Why
//!
//! An item page (`GET /Items/{id}`) and a page of a listing are the hottest requests after
//! `/health`, and most of what they send is the same for every caller until the item changes:
//! names, dates, artwork tags, and on an item page the streams, made from the item's stored
//! probe JSON. Profiled on the HA rows (docs/BENCHMARKS.md, "The HA request path"), rebuilding
//! that per request (parsing the probe twice, composing `DisplayTitle`s, `serde_json::Value`
//! maps, a dozen small strings per item, escaping them all again) was most of the replica's
//! CPU beyond HTTP and the one store call. Only the caller's `UserData` is built per request.
//!
//! # Why it can never be stale
//!
//! An entry remembers the item it was built from and serves only an item equal to it in every
//! field; anything else is built afresh and replaces it. So it needs no invalidation and shows
//! whatever the item's source (the metadata cache or the store) returned: this memo saves CPU,
//! never a store round trip, and changes nothing about staleness.
//!
//! # Bounded
//!
//! At most [`MAX_BYTES`] of items and JSON are kept (the table starts over when full), so a
//! client walking a 50,000-item library costs memory once, not per item.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use media_ha::core::sync::lock;
use media_ha::core::Item;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::dto::ItemFields;

/// Most bytes of items and finished JSON kept.
pub const MAX_BYTES: usize = 32 << 20;

/// JSON written once, serialized as it is (cheap to clone).
#[derive(Debug, Clone)]
pub struct RawJson(Arc<RawValue>);

impl RawJson {
    /// `value` as finished JSON.
    pub fn new(value: &impl Serialize) -> Self {
        // Serializing a `Value`, or a struct of strings and numbers, cannot fail; the fallback
        // (JSON `null`) is there only so that no request can panic on it.
        let raw = serde_json::value::to_raw_value(value)
            .or_else(|_| RawValue::from_string("null".to_owned()))
            .expect("`null` is valid JSON");
        Self(Arc::from(raw))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl Serialize for RawJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// An item's `MediaSources` and `MediaStreams`, finished.
#[derive(Debug, Clone)]
pub struct ItemMedia {
    /// `MediaSources`: the one file, offered for direct play (`routes/playback.rs`).
    pub sources: RawJson,
    /// `MediaStreams`.
    pub streams: RawJson,
}

impl ItemMedia {
    fn size(&self) -> usize {
        self.sources.get().len() + self.streams.get().len()
    }
}

/// The finished JSON of one version of an item.
#[derive(Debug)]
pub struct ItemJson {
    /// What it was built from.
    item: Item,
    /// The DTO's fields that depend only on the item.
    pub fields: ItemFields,
    media: OnceLock<ItemMedia>,
}

impl ItemJson {
    /// The JSON of `item`, its `fields` built.
    pub fn new(item: &Item, fields: ItemFields) -> Self {
        Self {
            item: item.clone(),
            fields,
            media: OnceLock::new(),
        }
    }

    /// `MediaSources` and `MediaStreams`: built by `build` the first time they are asked for.
    pub fn media(&self, build: impl FnOnce() -> ItemMedia) -> &ItemMedia {
        self.media.get_or_init(build)
    }
}

fn item_size(item: &Item) -> usize {
    item.id.len()
        + item.path.len()
        + item.name.len()
        + item.parent_id.as_ref().map_or(0, String::len)
        + item.container.as_ref().map_or(0, String::len)
        + item.probe_json.as_ref().map_or(0, String::len)
        + item
            .images
            .iter()
            .map(|i| i.path.len() + i.tag.len())
            .sum::<usize>()
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<String, Arc<ItemJson>>,
    bytes: usize,
}

impl Table {
    fn make_room(&mut self, size: usize) {
        if self.bytes + size > MAX_BYTES {
            self.entries.clear();
            self.bytes = 0;
        }
    }
}

/// Finished item JSON by item id (see the module docs).
#[derive(Debug, Default)]
pub struct ItemJsonMemo {
    table: Mutex<Table>,
}

impl ItemJsonMemo {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }

    /// The JSON of `item`: remembered if built from an equal item, else built (`fields()`, run
    /// outside the lock) and remembered.
    pub fn get(&self, item: &Item, fields: impl FnOnce() -> ItemFields) -> Arc<ItemJson> {
        if let Some(json) = lock(&self.table).entries.get(&item.id) {
            if json.item == *item {
                return json.clone();
            }
        }
        let json = Arc::new(ItemJson::new(item, fields()));
        let size = item_size(item) + json.fields.size();
        if size > MAX_BYTES {
            return json;
        }
        let mut table = lock(&self.table);
        table.make_room(size);
        let replaced = table.entries.insert(item.id.clone(), json.clone());
        let freed = replaced.map_or(0, |old| {
            item_size(&old.item) + old.fields.size() + old.media.get().map_or(0, ItemMedia::size)
        });
        table.bytes = (table.bytes + size).saturating_sub(freed);
        json
    }

    /// [`ItemJson::media`] of `json`, counting what it adds against [`MAX_BYTES`].
    pub fn media<'a>(
        &self,
        json: &'a ItemJson,
        build: impl FnOnce() -> ItemMedia,
    ) -> &'a ItemMedia {
        let mut built = false;
        let media = json.media(|| {
            built = true;
            build()
        });
        if built {
            let mut table = lock(&self.table);
            if table
                .entries
                .get(&json.item.id)
                .is_some_and(|kept| std::ptr::eq(&**kept, json))
            {
                table.bytes += media.size();
                if table.bytes > MAX_BYTES {
                    table.entries.clear();
                    table.bytes = 0;
                }
            }
        }
        media
    }

    /// Bytes held now (items and JSON).
    pub fn bytes(&self) -> usize {
        lock(&self.table).bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_ha::core::ItemKind;
    use serde_json::json;
    use std::cell::Cell;

    fn item(probe: &str) -> Item {
        Item {
            id: "a1".into(),
            parent_id: None,
            path: "/media/Alpha.mp4".into(),
            kind: ItemKind::Movie,
            name: "Alpha".into(),
            date_added_ms: 0,
            size_bytes: Some(1),
            runtime_ticks: Some(10),
            container: Some("mp4".into()),
            probe_json: Some(probe.into()),
            images: Vec::new(),
        }
    }

    fn media(tag: &str) -> ItemMedia {
        ItemMedia {
            sources: RawJson::new(&[json!({ "Id": tag })]),
            streams: RawJson::new(&[json!({ "Codec": tag })]),
        }
    }

    #[test]
    fn an_equal_item_is_served_from_memory_and_a_changed_one_rebuilt() {
        let memo = ItemJsonMemo::new();
        let builds = Cell::new(0);
        let get = |item: &Item| {
            memo.get(item, || {
                builds.set(builds.get() + 1);
                ItemFields::new(item, "server")
            })
        };
        let first = get(&item("{}"));
        assert!(Arc::ptr_eq(&first, &get(&item("{}"))));
        assert_eq!(builds.get(), 1);

        // Any field counts: the probe, the name, the artwork.
        let probed = get(&item("{\"x\":1}"));
        assert!(!Arc::ptr_eq(&first, &probed));
        let mut renamed = item("{\"x\":1}");
        renamed.name = "Beta".into();
        let renamed_json = get(&renamed);
        let text = serde_json::to_string(&crate::dto::BaseItemDto::with_item(
            renamed_json,
            &renamed,
            &media_ha::core::UserItemData::empty("u", "a1"),
        ))
        .unwrap();
        assert!(text.contains(r#""Name":"Beta""#), "{text}");
        assert_eq!(builds.get(), 3);
        // One entry per item: replacing frees the old one's bytes.
        let fields = ItemFields::new(&renamed, "server");
        assert_eq!(memo.bytes(), item_size(&renamed) + fields.size());
    }

    #[test]
    fn media_is_built_once_per_version_and_counted() {
        let memo = ItemJsonMemo::new();
        let it = item("{}");
        let json = memo.get(&it, || ItemFields::new(&it, "server"));
        let before = memo.bytes();
        let built = Cell::new(0);
        for _ in 0..3 {
            let m = memo.media(&json, || {
                built.set(built.get() + 1);
                media("m")
            });
            assert_eq!(m.sources.get(), r#"[{"Id":"m"}]"#);
        }
        assert_eq!(built.get(), 1);
        assert_eq!(memo.bytes(), before + media("m").size());
    }

    #[test]
    fn the_table_is_bounded() {
        let memo = ItemJsonMemo::new();
        let probe = "x".repeat(MAX_BYTES / 8);
        for n in 0..64 {
            let mut it = item(&probe);
            it.id = format!("{n:032x}");
            let json = memo.get(&it, || ItemFields::new(&it, "server"));
            memo.media(&json, || media("m"));
            assert!(memo.bytes() <= MAX_BYTES);
        }
        // An item too large for the table is built and served, never kept.
        let huge = item(&"y".repeat(MAX_BYTES));
        let before = memo.bytes();
        let json = memo.get(&huge, || ItemFields::new(&huge, "server"));
        assert_eq!(
            memo.media(&json, || media("h")).sources.get(),
            r#"[{"Id":"h"}]"#
        );
        assert_eq!(memo.bytes(), before);
    }

    #[test]
    fn raw_json_serializes_as_itself_inside_a_value_too() {
        let raw = RawJson::new(&json!([{ "A": 1 }]));
        let outer = json!({ "Sources": raw });
        assert_eq!(outer, json!({ "Sources": [{ "A": 1 }] }));
        assert_eq!(
            serde_json::to_string(&json!({ "S": RawJson::new(&json!("é\"")) })).unwrap(),
            r#"{"S":"é\""}"#
        );
    }
}
