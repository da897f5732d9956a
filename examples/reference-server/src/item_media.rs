//! The media part of an item's DTO (`MediaSources` and `MediaStreams`), built once per version
//! of the item and kept as finished JSON.
//!
//! # Why
//!
//! An item's page (`GET /Items/{id}`, the hottest request after `/health`) carries both, and
//! building them means parsing the item's stored probe JSON, composing each stream's
//! `DisplayTitle` and writing it all through `serde_json::Value` maps. Profiled on the HA item
//! row (docs/BENCHMARKS.md, "The HA request path"), that was most of the replica's CPU beyond
//! HTTP and the one store call, and the answer is the same for every caller until the item
//! changes.
//!
//! # Why it can never be stale
//!
//! An entry remembers the item fields it was built from ([`MediaInputs`]: id, name, container,
//! size, runtime, probe) and is used only for an item equal to them in every one; anything else
//! is built afresh and replaces it. So it needs no invalidation, and holds whatever the item's
//! source (the metadata cache or the store) says: this memo saves CPU, never a round trip.
//!
//! # Bounded
//!
//! At most [`MAX_BYTES`] of inputs and JSON are kept (the table starts over when full), so a
//! client walking a 50,000-item library with `Fields=MediaSources` costs memory once, not per
//! item. The JSON of one item is as large as what the library scan stored for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use media_ha::core::sync::lock;
use media_ha::core::Item;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

/// Most bytes of inputs and finished JSON kept.
pub const MAX_BYTES: usize = 16 << 20;

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
#[derive(Debug)]
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

/// The item fields the media JSON is made from: an entry serves an item only if equal.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MediaInputs {
    id: String,
    name: String,
    container: Option<String>,
    size_bytes: Option<u64>,
    runtime_ticks: Option<i64>,
    probe_json: Option<String>,
}

impl MediaInputs {
    fn of(item: &Item) -> Self {
        Self {
            id: item.id.clone(),
            name: item.name.clone(),
            container: item.container.clone(),
            size_bytes: item.size_bytes,
            runtime_ticks: item.runtime_ticks,
            probe_json: item.probe_json.clone(),
        }
    }

    fn matches(&self, item: &Item) -> bool {
        self.id == item.id
            && self.name == item.name
            && self.container == item.container
            && self.size_bytes == item.size_bytes
            && self.runtime_ticks == item.runtime_ticks
            && self.probe_json == item.probe_json
    }

    fn size(&self) -> usize {
        self.id.len()
            + self.name.len()
            + self.container.as_ref().map_or(0, String::len)
            + self.probe_json.as_ref().map_or(0, String::len)
    }
}

#[derive(Debug)]
struct Entry {
    inputs: MediaInputs,
    media: Arc<ItemMedia>,
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<String, Entry>,
    bytes: usize,
}

/// Finished media JSON by item (see the module docs).
#[derive(Debug, Default)]
pub struct MediaMemo {
    table: Mutex<Table>,
}

impl MediaMemo {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }

    /// The media JSON of `item`: remembered if built from an equal item, else `build()` (run
    /// outside the lock) and remembered.
    pub fn get_or_build(&self, item: &Item, build: impl FnOnce() -> ItemMedia) -> Arc<ItemMedia> {
        if let Some(entry) = lock(&self.table).entries.get(&item.id) {
            if entry.inputs.matches(item) {
                return entry.media.clone();
            }
        }
        let media = Arc::new(build());
        let inputs = MediaInputs::of(item);
        let size = inputs.size() + media.size();
        if size > MAX_BYTES {
            return media;
        }
        let mut table = lock(&self.table);
        if table.bytes + size > MAX_BYTES {
            table.entries.clear();
            table.bytes = 0;
        }
        let replaced = table.entries.insert(
            item.id.clone(),
            Entry {
                inputs,
                media: media.clone(),
            },
        );
        let freed = replaced.map_or(0, |e| e.inputs.size() + e.media.size());
        table.bytes = table.bytes + size - freed;
        media
    }

    /// Bytes held now (inputs and JSON).
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
        let memo = MediaMemo::new();
        let builds = Cell::new(0);
        let get = |item: &Item, tag: &str| {
            memo.get_or_build(item, || {
                builds.set(builds.get() + 1);
                media(tag)
            })
        };
        let first = get(&item("{}"), "one");
        assert_eq!(first.sources.get(), r#"[{"Id":"one"}]"#);
        assert_eq!(
            get(&item("{}"), "two").streams.get(),
            r#"[{"Codec":"one"}]"#
        );
        assert_eq!(builds.get(), 1);

        // Every input counts: the probe, the name, the container.
        assert_eq!(
            get(&item("{\"x\":1}"), "probe").sources.get(),
            r#"[{"Id":"probe"}]"#
        );
        let mut renamed = item("{\"x\":1}");
        renamed.name = "Beta".into();
        assert_eq!(get(&renamed, "name").sources.get(), r#"[{"Id":"name"}]"#);
        let mut remuxed = renamed.clone();
        remuxed.container = Some("mkv".into());
        assert_eq!(get(&remuxed, "mkv").sources.get(), r#"[{"Id":"mkv"}]"#);
        assert_eq!(builds.get(), 4);
        // One entry per item: replacing frees the old one's bytes.
        let one = MediaInputs::of(&remuxed).size() + media("mkv").size();
        assert_eq!(memo.bytes(), one);
    }

    #[test]
    fn the_table_is_bounded() {
        let memo = MediaMemo::new();
        let probe = "x".repeat(MAX_BYTES / 8);
        for n in 0..64 {
            let mut item = item(&probe);
            item.id = format!("{n:032x}");
            memo.get_or_build(&item, || media("m"));
            assert!(memo.bytes() <= MAX_BYTES);
        }
        // An item too large for the table is built and served, never kept.
        let huge = item(&"y".repeat(MAX_BYTES));
        let before = memo.bytes();
        assert_eq!(
            memo.get_or_build(&huge, || media("h")).sources.get(),
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
