//! The `devices` table.

use ha_core::Device;
use tokio_postgres::Row;

use super::validate;
use crate::convert::{col, to_i64, to_u64};
use crate::error::PgResult;
use crate::PgStore;

pub(crate) const UPSERT: &str = "\
INSERT INTO devices (id, user_id, name, app_name, app_version, last_seen_ms)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET
    user_id = EXCLUDED.user_id, name = EXCLUDED.name, app_name = EXCLUDED.app_name,
    app_version = EXCLUDED.app_version, last_seen_ms = EXCLUDED.last_seen_ms";

const LIST_ALL: &str = "SELECT id, user_id, name, app_name, app_version, last_seen_ms \
                        FROM devices ORDER BY last_seen_ms DESC, id";

const LIST_FOR_USER: &str = "SELECT id, user_id, name, app_name, app_version, last_seen_ms \
                             FROM devices WHERE user_id = $1 ORDER BY last_seen_ms DESC, id";

pub(super) async fn upsert(store: &PgStore, device: &Device) -> PgResult<()> {
    validate("device id", &device.id)?;
    let last_seen = to_i64("last_seen_ms", device.last_seen_ms)?;
    let conn = store.conn("upsert device").await?;
    conn.execute(
        UPSERT,
        &[
            &device.id,
            &device.user_id,
            &device.name,
            &device.app_name,
            &device.app_version,
            &last_seen,
        ],
    )
    .await?;
    Ok(())
}

pub(super) async fn list(store: &PgStore, user_id: Option<&str>) -> PgResult<Vec<Device>> {
    let conn = store.conn("list devices").await?;
    let rows = match user_id {
        Some(user) => conn.query(LIST_FOR_USER, &[&user]).await?,
        None => conn.query(LIST_ALL, &[]).await?,
    };
    rows.iter().map(decode).collect()
}

fn decode(row: &Row) -> PgResult<Device> {
    Ok(Device {
        id: col(row, "id")?,
        user_id: col(row, "user_id")?,
        name: col(row, "name")?,
        app_name: col(row, "app_name")?,
        app_version: col(row, "app_version")?,
        last_seen_ms: to_u64("last_seen_ms", col(row, "last_seen_ms")?)?,
    })
}
