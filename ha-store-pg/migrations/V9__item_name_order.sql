-- Listings by name follow an index and stop after `offset + limit` rows, instead of sorting
-- every match (a films page of 100 sorted ~20,000 films per call: 64 ms p99 at 50,000 items).
--
-- A B-tree entry must fit in a third of a page, and names of any length are storable (a
-- megabyte name round-trips, ha-store-pg/tests/metadata.rs), so no index can hold `name_key`
-- itself. These hold its first 200 characters (at most 800 bytes). Listings order by
-- `(left(name_key, 200), name_key, id)`, the same order as `(name_key, id)` because `name_key`
-- compares bytewise (COLLATE "C") and a prefix never sorts after its extensions; the index gives
-- the first key, an incremental sort the rest (only names sharing 200 characters tie on it).
-- One index per way a listing narrows the library: a folder's children, a library's
-- descendants (`top_parent_id`, V8), the whole library.
CREATE INDEX items_parent_name ON items (parent_id, left(name_key, 200), id);
CREATE INDEX items_top_name ON items (top_parent_id, left(name_key, 200), id);
CREATE INDEX items_name ON items (left(name_key, 200), id);
