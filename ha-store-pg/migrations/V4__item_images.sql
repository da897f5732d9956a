-- Artwork found beside an item's file (ha_core::ItemImage): a JSON array of
-- {"kind", "path", "tag"}. Text like probe_json: the list is read and written whole, never
-- queried into; '[]' for items scanned before artwork existed.
ALTER TABLE items ADD COLUMN images text NOT NULL DEFAULT '[]';
