//! The `items` table: upserts, lookups and paged listings. A recursive listing from a library
//! (or from an id no longer stored) reads the items whose parent chain ends there, one index
//! range (`top_parent_id`, kept by the triggers of migration V8); from any other folder, the
//! descendants come from a recursive CTE over its subtree.

use ha_core::metadata::MAX_PAGE;
use ha_core::{Item, ItemKind, ItemQuery, ItemSort, Page};
use sha2::{Digest, Sha256};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::validate;
use crate::convert::{col, opt_to_i64, opt_to_u64, to_i64, to_u64};
use crate::error::{PgError, PgResult};
use crate::PgStore;

const COLUMNS: &str = "items.id, items.parent_id, items.path, items.kind, items.name, \
                       items.date_added_ms, items.size_bytes, items.runtime_ticks, \
                       items.container, items.probe_json, items.images";

const UPSERT: &str = "\
INSERT INTO items (id, parent_id, path, path_sha256, kind, name, name_key, date_added_ms,
                   size_bytes, runtime_ticks, container, probe_json, images)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (id) DO UPDATE SET
    parent_id = EXCLUDED.parent_id, path = EXCLUDED.path, path_sha256 = EXCLUDED.path_sha256,
    kind = EXCLUDED.kind, name = EXCLUDED.name, name_key = EXCLUDED.name_key,
    date_added_ms = EXCLUDED.date_added_ms, size_bytes = EXCLUDED.size_bytes,
    runtime_ticks = EXCLUDED.runtime_ticks, container = EXCLUDED.container,
    probe_json = EXCLUDED.probe_json, images = EXCLUDED.images";

const DELETE: &str = "DELETE FROM items WHERE id = $1";

/// Descendants of `$1`. `UNION` (not `UNION ALL`) drops rows already seen, so a parent cycle in
/// bad data ends the recursion instead of looping.
const DESCENDANTS: &str = "\
WITH RECURSIVE tree (id) AS (
    SELECT id FROM items WHERE parent_id = $1
    UNION
    SELECT i.id FROM items i JOIN tree t ON i.parent_id = t.id
)";

/// The unique key of a path (see the migration: paths of any length stay unique).
pub(crate) fn path_key(path: &str) -> Vec<u8> {
    Sha256::digest(path.as_bytes()).to_vec()
}

pub(super) async fn upsert(store: &PgStore, item: &Item) -> PgResult<()> {
    validate("item id", &item.id)?;
    if item.path.is_empty() {
        return Err(PgError::Invalid("item path must not be empty".into()));
    }
    let conn = store.conn("upsert item").await?;
    let row = Encoded::new(item)?;
    conn.execute(UPSERT, &row.params())
        .await
        .map_err(|e| match e {
            PgError::Unique { .. } => {
                tracing::debug!(error = ?e, "item path conflict");
                PgError::Conflict(format!(
                    "path {:?} already belongs to another item",
                    item.path
                ))
            }
            e => e,
        })?;
    Ok(())
}

/// An item's bind parameters (owned, so they outlive the call).
pub(crate) struct Encoded<'a> {
    item: &'a Item,
    path_sha256: Vec<u8>,
    kind: &'static str,
    name_key: String,
    date_added_ms: i64,
    size_bytes: Option<i64>,
    images: String,
}

impl<'a> Encoded<'a> {
    pub(crate) fn new(item: &'a Item) -> PgResult<Self> {
        Ok(Self {
            item,
            path_sha256: path_key(&item.path),
            kind: item.kind.as_str(),
            name_key: item.name.to_lowercase(),
            date_added_ms: to_i64("date_added_ms", item.date_added_ms)?,
            size_bytes: opt_to_i64("size_bytes", item.size_bytes)?,
            images: serde_json::to_string(&item.images)
                .map_err(|e| PgError::Invalid(format!("item images cannot be encoded: {e}")))?,
        })
    }

    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.item.id,
            &self.item.parent_id,
            &self.item.path,
            &self.path_sha256,
            &self.kind,
            &self.item.name,
            &self.name_key,
            &self.date_added_ms,
            &self.size_bytes,
            &self.item.runtime_ticks,
            &self.item.container,
            &self.item.probe_json,
            &self.images,
        ]
    }
}

pub(crate) const UPSERT_SQL: &str = UPSERT;

pub(super) async fn get(store: &PgStore, id: &str) -> PgResult<Option<Item>> {
    let conn = store.conn("get item").await?;
    let sql = format!("SELECT {COLUMNS} FROM items WHERE id = $1");
    conn.query_opt(&sql, &[&id])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

pub(super) async fn get_by_path(store: &PgStore, path: &str) -> PgResult<Option<Item>> {
    let conn = store.conn("get item by path").await?;
    let sql = format!("SELECT {COLUMNS} FROM items WHERE path_sha256 = $1 AND path = $2");
    conn.query_opt(&sql, &[&path_key(path), &path])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

pub(super) async fn delete(store: &PgStore, id: &str) -> PgResult<bool> {
    let conn = store.conn("delete item").await?;
    Ok(conn.execute(DELETE, &[&id]).await? > 0)
}

/// Whether `id` ends the parent chains of its descendants (a root, or an id not stored), so
/// that they are exactly the items whose `top_parent_id` is `id`.
async fn ends_its_chains(conn: &crate::store::Conn, id: &str) -> PgResult<bool> {
    let row = conn
        .query_opt(
            "SELECT top_parent_id IS NULL AS is_end FROM items WHERE id = $1",
            &[&id],
        )
        .await?;
    match row {
        Some(row) => col(&row, "is_end"),
        None => Ok(true),
    }
}

/// How a recursive listing finds the items under its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Descendants {
    /// The parent ends its descendants' chains: `top_parent_id = parent`.
    ByChainEnd,
    /// A folder inside a library: the recursive CTE.
    ByTree,
}

/// One listing, as SQL text built only from the constant fragments above (never from input)
/// and its parameters.
struct Listing<'q> {
    with: &'static str,
    from: String,
    filter: String,
    params: Vec<&'q (dyn ToSql + Sync)>,
}

impl<'q> Listing<'q> {
    fn new(
        query: &'q ItemQuery,
        descendants: Descendants,
        kinds: &'q Vec<&'static str>,
        search: &'q Option<String>,
    ) -> Self {
        let mut params: Vec<&'q (dyn ToSql + Sync)> = Vec::new();
        let (with, mut from, mut filter) = match (&query.parent_id, query.recursive) {
            (None, false) => (
                "",
                "FROM items".to_owned(),
                "items.parent_id IS NULL".to_owned(),
            ),
            (None, true) => ("", "FROM items".to_owned(), "TRUE".to_owned()),
            (Some(parent), false) => {
                params.push(parent);
                (
                    "",
                    "FROM items".to_owned(),
                    "items.parent_id = $1".to_owned(),
                )
            }
            (Some(parent), true) => {
                params.push(parent);
                match descendants {
                    Descendants::ByChainEnd => (
                        "",
                        "FROM items".to_owned(),
                        "items.top_parent_id = $1".to_owned(),
                    ),
                    Descendants::ByTree => (
                        DESCENDANTS,
                        "FROM items JOIN tree USING (id)".to_owned(),
                        "TRUE".to_owned(),
                    ),
                }
            }
        };
        if let Some(user) = &query.user {
            // An item the user never touched has no row: unplayed, no favourite, not started.
            // When a filter needs a mark (played, favourite, resumable) only items with a row
            // can match, and an inner join lets the planner start from the user's rows (the
            // resume row reads a few dozen, not the library); otherwise a left join.
            params.push(&user.user_id);
            from.push_str(&format!(
                " {} JOIN user_item_data d ON d.item_id = items.id AND d.user_id = ${}",
                if user.needs_marks() { "INNER" } else { "LEFT" },
                params.len()
            ));
            let marks = [
                (user.played, "COALESCE(d.played, false)"),
                (user.favorite, "COALESCE(d.is_favorite, false)"),
                (
                    user.resumable,
                    "(COALESCE(d.position_ticks, 0) > 0 AND NOT COALESCE(d.played, false))",
                ),
            ];
            for (wanted, mark) in marks {
                match wanted {
                    Some(true) => filter.push_str(&format!(" AND {mark}")),
                    Some(false) => filter.push_str(&format!(" AND NOT {mark}")),
                    None => {}
                }
            }
        }
        if !kinds.is_empty() {
            params.push(kinds);
            filter.push_str(&format!(" AND items.kind = ANY(${}::text[])", params.len()));
        }
        if let Some(term) = search {
            params.push(term);
            filter.push_str(&format!(
                " AND strpos(items.name_key, ${}::text) > 0",
                params.len()
            ));
        }
        Self {
            with,
            from,
            filter,
            params,
        }
    }

    /// `[WITH …] SELECT <columns> FROM … WHERE …`.
    fn select(&self, columns: &str) -> String {
        format!(
            "{} SELECT {columns} {} WHERE {}",
            self.with, self.from, self.filter
        )
    }
}

pub(super) async fn query(store: &PgStore, query: &ItemQuery) -> PgResult<Page<Item>> {
    query
        .validate()
        .map_err(|e| PgError::Invalid(e.to_string()))?;
    let kinds: Vec<&'static str> = query.kinds.iter().map(|k| k.as_str()).collect();
    let search = query.search_term.as_ref().map(|s| s.to_lowercase());
    let conn = store.conn("query items").await?;
    let descendants = match (&query.parent_id, query.recursive) {
        (Some(parent), true) if !ends_its_chains(&conn, parent).await? => Descendants::ByTree,
        _ => Descendants::ByChainEnd,
    };
    let listing = Listing::new(query, descendants, &kinds, &search);
    let dir = if query.descending { "DESC" } else { "ASC" };
    let order = match query.sort {
        // The prefix is what the name indexes hold (migration V9; same order as the full key).
        ItemSort::Name => {
            format!("left(items.name_key, 200) {dir}, items.name_key {dir}, items.id {dir}")
        }
        ItemSort::DateAdded => format!("items.date_added_ms {dir}, items.id {dir}"),
        // Never played first, as the in-process backend orders `None` before any time.
        ItemSort::DatePlayed => {
            let nulls = if query.descending { "LAST" } else { "FIRST" };
            format!("d.last_played_ms {dir} NULLS {nulls}, items.id {dir}")
        }
    };
    let limit = i64::from(query.limit.unwrap_or(MAX_PAGE).min(MAX_PAGE));
    let offset = i64::from(query.start_index);
    let mut params = listing.params.clone();
    params.push(&offset);
    params.push(&limit);
    let count_sql = listing.select("count(*) AS total");
    let (rows, total) = if descendants == Descendants::ByTree {
        // The descendants' recursive CTE is the costly part: compute it once, with the total
        // as a window over it (an empty page past the end counts separately).
        let sql = format!(
            "{} ORDER BY {order} OFFSET ${} LIMIT ${}",
            listing.select(&format!("{COLUMNS}, count(*) OVER () AS total")),
            params.len() - 1,
            params.len()
        );
        let rows = conn.query(&sql, &params).await?;
        let total = match rows.first() {
            Some(row) => col(row, "total")?,
            None => col(&conn.query_one(&count_sql, &listing.params).await?, "total")?,
        };
        (rows, total)
    } else {
        // The page and the total as two statements pipelined on one connection (one round
        // trip): the page alone follows an index in order and stops after `offset + limit`
        // rows, where a window count in it would read and sort every match.
        //
        // The page's ids are chosen first, ordered on the sort keys alone, and only then are
        // its rows read: where the planner sorts the matches (a deep offset), it sorts ids and
        // keys instead of whole rows with their probe JSON, which spilled a films page of
        // 20,000 to disk (benches/library-plans.md). `ARRAY(…)` keeps its query's order and
        // `WITH ORDINALITY` numbers it.
        let page_sql = format!(
            "SELECT {COLUMNS} FROM unnest(ARRAY({} ORDER BY {order} OFFSET ${} LIMIT ${})) \
             WITH ORDINALITY AS page (id, position) JOIN items ON items.id = page.id \
             ORDER BY page.position",
            listing.select("items.id"),
            params.len() - 1,
            params.len()
        );
        let (rows, total) = tokio::try_join!(
            conn.query(&page_sql, &params),
            conn.query_one(&count_sql, &listing.params)
        )?;
        (rows, col(&total, "total")?)
    };
    let total = to_u64("total", total)?;
    let items = rows.iter().map(decode).collect::<PgResult<_>>()?;
    Ok(Page { items, total })
}

pub(crate) fn decode(row: &Row) -> PgResult<Item> {
    let kind: String = col(row, "kind")?;
    Ok(Item {
        id: col(row, "id")?,
        parent_id: col(row, "parent_id")?,
        path: col(row, "path")?,
        kind: ItemKind::parse(&kind).map_err(|e| PgError::Decode {
            what: "item kind".into(),
            source: Box::new(e),
        })?,
        name: col(row, "name")?,
        date_added_ms: to_u64("date_added_ms", col(row, "date_added_ms")?)?,
        size_bytes: opt_to_u64("size_bytes", col(row, "size_bytes")?)?,
        runtime_ticks: col(row, "runtime_ticks")?,
        container: col(row, "container")?,
        probe_json: col(row, "probe_json")?,
        images: serde_json::from_str(&col::<String>(row, "images")?).map_err(|e| {
            PgError::Decode {
                what: "item images".into(),
                source: Box::new(e),
            }
        })?,
    })
}
