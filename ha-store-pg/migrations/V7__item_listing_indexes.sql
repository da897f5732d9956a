-- Item listings in the order clients ask for (by name, by date added) within one folder: with
-- these a page of a 20,000-film folder follows the index and stops after `offset + limit`
-- rows instead of reading and sorting the whole folder (benches/harness/library.rs measures
-- it; library-plans.md shows the plans). `items_parent` stays for the recursive listings'
-- joins on parent_id, which these would also serve, but a narrower index keeps those scans
-- small.
CREATE INDEX items_parent_name ON items (parent_id, name_key, id);
CREATE INDEX items_parent_added ON items (parent_id, date_added_ms, id);
