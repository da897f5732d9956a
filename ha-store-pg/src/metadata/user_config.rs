//! The `user_configuration` table: one JSON document per user.
//!
//! One statement writes it: the insert names the user by foreign key, so an unknown user (or
//! one deleted at the same moment) fails as a foreign-key violation, which is `NotFound`
//! (`error.rs`), instead of leaving an orphan row.

use ha_core::metadata::validate_user_configuration;
use ha_core::UserConfiguration;

use crate::convert::{col, to_i64, to_u64};
use crate::error::{PgError, PgResult};
use crate::PgStore;

const GET: &str = "SELECT user_id, config_json, updated_ms FROM user_configuration \
                   WHERE user_id = $1";

pub(crate) const UPSERT: &str = "\
INSERT INTO user_configuration (user_id, config_json, updated_ms)
VALUES ($1, $2, $3)
ON CONFLICT (user_id) DO UPDATE SET
    config_json = EXCLUDED.config_json, updated_ms = EXCLUDED.updated_ms";

pub(super) async fn get(store: &PgStore, user_id: &str) -> PgResult<Option<UserConfiguration>> {
    let conn = store.conn("get user configuration").await?;
    let Some(row) = conn.query_opt(GET, &[&user_id]).await? else {
        return Ok(None);
    };
    Ok(Some(UserConfiguration {
        user_id: col(&row, "user_id")?,
        json: col(&row, "config_json")?,
        updated_ms: to_u64("updated_ms", col(&row, "updated_ms")?)?,
    }))
}

pub(super) async fn put(store: &PgStore, config: &UserConfiguration) -> PgResult<()> {
    validate_user_configuration(config).map_err(|e| PgError::Invalid(e.to_string()))?;
    let updated = to_i64("updated_ms", config.updated_ms)?;
    let conn = store.conn("put user configuration").await?;
    conn.execute(UPSERT, &[&config.user_id, &config.json, &updated])
        .await?;
    Ok(())
}
