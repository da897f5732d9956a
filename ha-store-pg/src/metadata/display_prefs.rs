//! The `display_preferences` table: one JSON document per (user, id, client).
//!
//! The per-user cap is checked and the row written in one transaction holding the user's row
//! lock (`FOR UPDATE`), so two replicas writing new documents for the same user at once cannot
//! both pass the check and overshoot it.

use ha_core::metadata::{validate_display_preferences, DISPLAY_PREFERENCES_PER_USER};
use ha_core::DisplayPreferences;
use tokio_postgres::Row;

use crate::convert::{col, to_i64, to_u64};
use crate::error::{PgError, PgResult};
use crate::PgStore;

const GET: &str = "SELECT user_id, prefs_id, client, prefs_json, updated_ms \
                   FROM display_preferences WHERE user_id = $1 AND prefs_id = $2 AND client = $3";

const LOCK_USER: &str = "SELECT 1 FROM users WHERE id = $1 FOR UPDATE";

const HELD: &str = "SELECT count(*) AS held, \
                    coalesce(bool_or(prefs_id = $2 AND client = $3), false) AS present \
                    FROM display_preferences WHERE user_id = $1";

pub(crate) const UPSERT: &str = "\
INSERT INTO display_preferences (user_id, prefs_id, client, prefs_json, updated_ms)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (user_id, prefs_id, client) DO UPDATE SET
    prefs_json = EXCLUDED.prefs_json, updated_ms = EXCLUDED.updated_ms";

pub(super) async fn get(
    store: &PgStore,
    user_id: &str,
    id: &str,
    client: &str,
) -> PgResult<Option<DisplayPreferences>> {
    let conn = store.conn("get display preferences").await?;
    conn.query_opt(GET, &[&user_id, &id, &client])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

pub(super) async fn put(store: &PgStore, prefs: &DisplayPreferences) -> PgResult<()> {
    const WHAT: &str = "put display preferences";
    validate_display_preferences(prefs).map_err(|e| PgError::Invalid(e.to_string()))?;
    let updated = to_i64("updated_ms", prefs.updated_ms)?;
    let mut conn = store.conn(WHAT).await?;
    let db = |e| store.db_error(WHAT, e);
    let tx = conn.client_mut().transaction().await.map_err(db)?;
    let lock = tx.prepare_cached(LOCK_USER).await.map_err(db)?;
    if tx
        .query_opt(&lock, &[&prefs.user_id])
        .await
        .map_err(db)?
        .is_none()
    {
        return Err(PgError::NotFound(format!("user {}", prefs.user_id)));
    }
    let held = tx.prepare_cached(HELD).await.map_err(db)?;
    let row = tx
        .query_one(&held, &[&prefs.user_id, &prefs.id, &prefs.client])
        .await
        .map_err(db)?;
    let count: i64 = col(&row, "held")?;
    let present: bool = col(&row, "present")?;
    if !present && count >= DISPLAY_PREFERENCES_PER_USER as i64 {
        return Err(PgError::Conflict(format!(
            "user {} already keeps {count} display preferences",
            prefs.user_id
        )));
    }
    let upsert = tx.prepare_cached(UPSERT).await.map_err(db)?;
    tx.execute(
        &upsert,
        &[
            &prefs.user_id,
            &prefs.id,
            &prefs.client,
            &prefs.json,
            &updated,
        ],
    )
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(())
}

fn decode(row: &Row) -> PgResult<DisplayPreferences> {
    Ok(DisplayPreferences {
        user_id: col(row, "user_id")?,
        id: col(row, "prefs_id")?,
        client: col(row, "client")?,
        json: col(row, "prefs_json")?,
        updated_ms: to_u64("updated_ms", col(row, "updated_ms")?)?,
    })
}
