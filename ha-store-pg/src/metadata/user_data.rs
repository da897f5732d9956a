//! The `user_item_data` table: one row per (user, item) a user touched.

use std::collections::HashMap;

use ha_core::UserItemData;
use tokio_postgres::Row;

use crate::convert::{col, opt_to_i64, opt_to_u64, to_u32};
use crate::error::{PgError, PgResult};
use crate::store::Conn;
use crate::PgStore;

const COLUMNS: &str =
    "user_id, item_id, played, play_count, position_ticks, last_played_ms, is_favorite";

pub(crate) const UPSERT: &str = "\
INSERT INTO user_item_data (user_id, item_id, played, play_count, position_ticks,
                            last_played_ms, is_favorite)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (user_id, item_id) DO UPDATE SET
    played = EXCLUDED.played, play_count = EXCLUDED.play_count,
    position_ticks = EXCLUDED.position_ticks, last_played_ms = EXCLUDED.last_played_ms,
    is_favorite = EXCLUDED.is_favorite";

/// [`UPSERT`] for many rows at once, one array per column. The rows must name distinct
/// (user, item) pairs: one statement cannot update a row twice.
const UPSERT_MANY: &str = "\
INSERT INTO user_item_data (user_id, item_id, played, play_count, position_ticks,
                            last_played_ms, is_favorite)
SELECT * FROM unnest($1::text[], $2::text[], $3::boolean[], $4::bigint[], $5::bigint[],
                     $6::bigint[], $7::boolean[])
ON CONFLICT (user_id, item_id) DO UPDATE SET
    played = EXCLUDED.played, play_count = EXCLUDED.play_count,
    position_ticks = EXCLUDED.position_ticks, last_played_ms = EXCLUDED.last_played_ms,
    is_favorite = EXCLUDED.is_favorite";

pub(super) async fn get(
    store: &PgStore,
    user_id: &str,
    item_id: &str,
) -> PgResult<Option<UserItemData>> {
    let conn = store.conn("get user data").await?;
    let sql = format!("SELECT {COLUMNS} FROM user_item_data WHERE user_id = $1 AND item_id = $2");
    conn.query_opt(&sql, &[&user_id, &item_id])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// [`UserItemData`] as its row's parameters, checked before any round trip.
#[derive(Debug, Clone)]
pub(crate) struct UserDataRow {
    user_id: String,
    item_id: String,
    played: bool,
    play_count: i64,
    position_ticks: i64,
    last_played_ms: Option<i64>,
    is_favorite: bool,
}

impl UserDataRow {
    pub(crate) fn new(data: &UserItemData) -> PgResult<Self> {
        Ok(Self {
            user_id: data.user_id.clone(),
            item_id: data.item_id.clone(),
            played: data.played,
            play_count: i64::from(data.play_count),
            position_ticks: data.position_ticks,
            last_played_ms: opt_to_i64("last_played_ms", data.last_played_ms)?,
            is_favorite: data.is_favorite,
        })
    }

    /// The position written (for tests of the batch).
    #[cfg(test)]
    pub(crate) fn position_ticks(&self) -> i64 {
        self.position_ticks
    }

    /// The error for a missing user or item, which the foreign keys report.
    fn missing(&self, e: PgError) -> PgError {
        match e.constraint() {
            Some("user_item_data_user_id_fkey") => {
                PgError::NotFound(format!("user {}", self.user_id))
            }
            Some("user_item_data_item_id_fkey") => {
                PgError::NotFound(format!("item {}", self.item_id))
            }
            _ => e,
        }
    }
}

/// Writes `data`, in one statement with the writes issued concurrently through this store
/// (see `user_data_batch`).
pub(super) async fn put(store: &PgStore, data: &UserItemData) -> PgResult<()> {
    super::user_data_batch::put(store, UserDataRow::new(data)?).await
}

/// Writes one row on `conn`.
pub(super) async fn put_one(conn: &Conn, row: &UserDataRow) -> PgResult<()> {
    conn.execute(
        UPSERT,
        &[
            &row.user_id,
            &row.item_id,
            &row.played,
            &row.play_count,
            &row.position_ticks,
            &row.last_played_ms,
            &row.is_favorite,
        ],
    )
    .await
    .map_err(|e| row.missing(e))?;
    Ok(())
}

/// Writes `rows`, all distinct (user, item) pairs, as one statement on `conn`: one
/// transaction, one commit.
pub(super) async fn put_many(conn: &Conn, rows: &[&UserDataRow]) -> PgResult<()> {
    fn column<'a, T>(rows: &[&'a UserDataRow], f: impl Fn(&'a UserDataRow) -> T) -> Vec<T> {
        rows.iter().map(|r| f(r)).collect()
    }
    conn.execute(
        UPSERT_MANY,
        &[
            &column(rows, |r| r.user_id.as_str()),
            &column(rows, |r| r.item_id.as_str()),
            &column(rows, |r| r.played),
            &column(rows, |r| r.play_count),
            &column(rows, |r| r.position_ticks),
            &column(rows, |r| r.last_played_ms),
            &column(rows, |r| r.is_favorite),
        ],
    )
    .await?;
    Ok(())
}

/// The key a row is upserted under.
pub(super) fn key(row: &UserDataRow) -> (&str, &str) {
    (&row.user_id, &row.item_id)
}

pub(super) async fn list(
    store: &PgStore,
    user_id: &str,
    item_ids: &[String],
) -> PgResult<Vec<UserItemData>> {
    if item_ids.is_empty() {
        return Ok(Vec::new());
    }
    let conn = store.conn("list user data").await?;
    let sql = format!(
        "SELECT {COLUMNS} FROM user_item_data WHERE user_id = $1 AND item_id = ANY($2::text[])"
    );
    let rows = conn.query(&sql, &[&user_id, &item_ids]).await?;
    let found: HashMap<String, UserItemData> = rows
        .iter()
        .map(|row| decode(row).map(|d| (d.item_id.clone(), d)))
        .collect::<PgResult<_>>()?;
    // In the order asked for (as the reference backend), duplicates included.
    Ok(item_ids
        .iter()
        .filter_map(|id| found.get(id).cloned())
        .collect())
}

fn decode(row: &Row) -> PgResult<UserItemData> {
    Ok(UserItemData {
        user_id: col(row, "user_id")?,
        item_id: col(row, "item_id")?,
        played: col(row, "played")?,
        play_count: to_u32("play_count", col(row, "play_count")?)?,
        position_ticks: col(row, "position_ticks")?,
        last_played_ms: opt_to_u64("last_played_ms", col(row, "last_played_ms")?)?,
        is_favorite: col(row, "is_favorite")?,
    })
}
