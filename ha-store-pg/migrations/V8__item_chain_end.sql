-- Every item's library: recursive listings from a library without walking the folder tree.
--
-- Why: a recursive listing (`/Items?ParentId=<library>&Recursive=true`, every screen of the web
-- client) found its items with a recursive CTE over the tree under the parent, on every call:
-- about 32,000 rows for "every episode" of a 50,000-item library, 104 ms p50 / 162 ms p99
-- (benches/library-plans.md). Jellyfin keeps a TopParentId per item for the same reason.
--
-- `top_parent_id` is where the item's parent chain ends: NULL for an item without a parent;
-- otherwise the last id reached by following `parent_id` upwards, which is a root (a library)
-- or an item not (or no longer) stored. So when a listing's parent is itself such an end (a
-- root, or a missing id), its descendants are exactly the items whose `top_parent_id` is that
-- parent: one index range. Any other parent (a series, a season) still uses the CTE, over a
-- small subtree. A parent chain that loops (bad data) has no end: the items of the cycle and
-- those under it share the id of one of its members, which is never a root, so listings from
-- them also take the CTE, which handles cycles.
--
-- Kept right by the triggers below, whatever writes the table (the store, the import, a
-- person with psql): an item's end is computed by walking up from its parent when it is
-- written or moved; when it appears, moves or goes away, its descendants' ends follow. One
-- writer of the tree at a time (a transaction-level advisory lock per schema), so a parent and
-- its child written at once by two replicas cannot each miss the other: the second waits,
-- then reads the first's committed row (each statement of a PL/pgSQL function takes a fresh
-- snapshot under READ COMMITTED).

ALTER TABLE items ADD COLUMN top_parent_id text COLLATE "C";

CREATE INDEX items_top_added ON items (top_parent_id, date_added_ms, id);

CREATE FUNCTION items_tree_lock() RETURNS void LANGUAGE sql AS
$$ SELECT pg_advisory_xact_lock(hashtextextended('media-ha items tree ' || current_schema(), 0)) $$;

-- Before an item is written with a (possibly new) parent: its parent's chain end (or the
-- parent itself, when that is an end or not stored), unless the parent chain comes back to this
-- item: then a cycle, marked with the item's own id (the AFTER trigger gives the same mark to
-- the rest of the cycle and what hangs from it). The walk up is a few index lookups in a
-- library; bounded, in case the chain runs into a cycle elsewhere.
CREATE FUNCTION items_chain_end() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    cur text := NEW.parent_id;
    hops int := 0;
BEGIN
    PERFORM items_tree_lock();
    IF NEW.parent_id IS NULL THEN
        NEW.top_parent_id := NULL;
        RETURN NEW;
    END IF;
    WHILE cur IS NOT NULL AND hops < 256 LOOP
        IF cur = NEW.id THEN
            NEW.top_parent_id := NEW.id;
            RETURN NEW;
        END IF;
        SELECT parent_id INTO cur FROM items WHERE id = cur;
        hops := hops + 1;
    END LOOP;
    SELECT COALESCE(p.top_parent_id, p.id) INTO NEW.top_parent_id
    FROM items p WHERE p.id = NEW.parent_id;
    IF NOT FOUND THEN
        NEW.top_parent_id := NEW.parent_id;
    END IF;
    RETURN NEW;
END
$$;

-- After an item appears, moves or goes away: its descendants' chain ends follow.
CREATE FUNCTION items_descendants_follow() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    item_id text;
    old_end text;  -- what the item's descendants hold now
    new_end text;  -- what they must hold
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM items_tree_lock();
        item_id := OLD.id;
        old_end := COALESCE(OLD.top_parent_id, OLD.id);
        new_end := OLD.id;
    ELSIF TG_OP = 'INSERT' THEN
        -- Written before it, its descendants end at its id (it was missing).
        item_id := NEW.id;
        old_end := NEW.id;
        new_end := COALESCE(NEW.top_parent_id, NEW.id);
    ELSE
        item_id := NEW.id;
        old_end := COALESCE(OLD.top_parent_id, OLD.id);
        new_end := COALESCE(NEW.top_parent_id, NEW.id);
    END IF;
    IF old_end = new_end THEN
        RETURN NULL;
    END IF;
    IF old_end = item_id THEN
        -- The item was an end: its descendants are the rows that name it.
        UPDATE items SET top_parent_id = new_end
        WHERE top_parent_id = item_id AND id <> item_id;
    ELSE
        -- Its descendants share their end with the rest of a library: walk its subtree.
        WITH RECURSIVE tree (id) AS (
            SELECT i.id FROM items i WHERE i.parent_id = item_id
            UNION
            SELECT i.id FROM items i JOIN tree t ON i.parent_id = t.id
        )
        UPDATE items SET top_parent_id = new_end
        WHERE id IN (SELECT tree.id FROM tree) AND id <> item_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER items_chain_end BEFORE INSERT OR UPDATE OF parent_id ON items
FOR EACH ROW EXECUTE FUNCTION items_chain_end();

CREATE TRIGGER items_descendants_follow_write AFTER INSERT OR UPDATE OF parent_id ON items
FOR EACH ROW EXECUTE FUNCTION items_descendants_follow();

CREATE TRIGGER items_descendants_follow_delete AFTER DELETE ON items
FOR EACH ROW EXECUTE FUNCTION items_descendants_follow();

-- Existing rows, through the same triggers: one statement per row that has a parent, in any
-- order (a row written before its parent points at the parent's id until the parent's own
-- update moves it on, exactly as when a scan writes a child first). One statement each,
-- because AFTER ROW triggers fire at the end of their statement: one UPDATE of every row
-- would run every BEFORE trigger before any descendant had followed.
DO $$
DECLARE
    row record;
BEGIN
    FOR row IN SELECT id FROM items WHERE parent_id IS NOT NULL LOOP
        UPDATE items SET parent_id = parent_id WHERE id = row.id;
    END LOOP;
END
$$;
