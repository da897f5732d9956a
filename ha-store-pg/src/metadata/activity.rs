//! The `activity` table: an append-only log with increasing ids, the newest
//! [`ACTIVITY_KEEP`] kept.

use ha_core::metadata::{ACTIVITY_KEEP, MAX_PAGE};
use ha_core::{Activity, NewActivity};
use tokio_postgres::Row;

use crate::convert::{col, to_i64, to_u64};
use crate::error::PgResult;
use crate::PgStore;

/// Appends, and drops what falls more than [`ACTIVITY_KEEP`] ids behind the new entry, in one
/// statement (one indexed range delete, usually of one row: the log stays bounded without a
/// separate job).
const APPEND: &str = "\
WITH new AS (
    INSERT INTO activity (at_ms, user_id, kind, message) VALUES ($1, $2, $3, $4) RETURNING id
), trimmed AS (
    DELETE FROM activity WHERE id <= (SELECT id FROM new) - $5
)
SELECT id FROM new";

const RECENT: &str = "SELECT id, at_ms, user_id, kind, message FROM activity \
                      ORDER BY id DESC LIMIT $1";

pub(super) async fn append(store: &PgStore, entry: &NewActivity) -> PgResult<u64> {
    let at = to_i64("at_ms", entry.at_ms)?;
    let keep = ACTIVITY_KEEP as i64;
    let conn = store.conn("append activity").await?;
    let row = conn
        .query_one(
            APPEND,
            &[&at, &entry.user_id, &entry.kind, &entry.message, &keep],
        )
        .await?;
    to_u64("activity id", col(&row, "id")?)
}

pub(super) async fn recent(store: &PgStore, limit: u32) -> PgResult<Vec<Activity>> {
    let limit = i64::from(limit.min(MAX_PAGE));
    let conn = store.conn("recent activity").await?;
    conn.query(RECENT, &[&limit])
        .await?
        .iter()
        .map(decode)
        .collect()
}

fn decode(row: &Row) -> PgResult<Activity> {
    Ok(Activity {
        id: to_u64("activity id", col(row, "id")?)?,
        entry: NewActivity {
            at_ms: to_u64("at_ms", col(row, "at_ms")?)?,
            user_id: col(row, "user_id")?,
            kind: col(row, "kind")?,
            message: col(row, "message")?,
        },
    })
}
