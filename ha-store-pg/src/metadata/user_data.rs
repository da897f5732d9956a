//! The `user_item_data` table: one row per (user, item) a user touched.

use std::collections::HashMap;

use ha_core::UserItemData;
use tokio_postgres::Row;

use crate::convert::{col, opt_to_i64, opt_to_u64, to_u32};
use crate::error::{PgError, PgResult};
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

pub(super) async fn put(store: &PgStore, data: &UserItemData) -> PgResult<()> {
    let play_count = i64::from(data.play_count);
    let last_played = opt_to_i64("last_played_ms", data.last_played_ms)?;
    let conn = store.conn("put user data").await?;
    conn.execute(
        UPSERT,
        &[
            &data.user_id,
            &data.item_id,
            &data.played,
            &play_count,
            &data.position_ticks,
            &last_played,
            &data.is_favorite,
        ],
    )
    .await
    .map_err(|e| match e.constraint() {
        Some("user_item_data_user_id_fkey") => PgError::NotFound(format!("user {}", data.user_id)),
        Some("user_item_data_item_id_fkey") => PgError::NotFound(format!("item {}", data.item_id)),
        _ => e,
    })?;
    Ok(())
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
