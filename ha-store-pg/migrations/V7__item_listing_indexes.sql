-- Item listings by date added within one folder (the home page's "latest" rows, a folder sorted
-- newest first): with this index a page follows it in order and stops after `offset + limit`
-- rows instead of reading and sorting the whole folder (benches/harness/library.rs measures
-- it; library-plans.md shows the plans).
--
-- No such index by name: a B-tree entry must fit in a third of a page, and names of any length
-- are storable here (a megabyte name round-trips, ha-store-pg/tests/metadata.rs); a listing by
-- name sorts the folder's matches (a top-N heap sort for a page).
CREATE INDEX items_parent_added ON items (parent_id, date_added_ms, id);
