//! One-shot import of the in-process repo's directory into PostgreSQL.
//!
//! A single node that outgrows [`ha_core::memory::MemoryMetadataRepo`] moves to a cluster by
//! loading its directory with [`MetadataSnapshot::load_dir`] (snapshot plus journal) and
//! calling [`import_snapshot`]. Everything is written in one transaction, so a failed import
//! leaves nothing behind, and every row is an upsert by its key, so running it again changes
//! nothing (activity entries keep their ids; the id sequence is moved past them).

use ha_core::memory::MetadataSnapshot;
use ha_core::Result;

use crate::convert::{opt_to_i64, to_i64};
use crate::error::{PgError, PgResult};
use crate::metadata::{devices, display_prefs, items, user_config, user_data, users};
use crate::PgMetadataRepo;

/// How many rows of each kind an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportReport {
    /// Users inserted or updated.
    pub users: u64,
    /// Items inserted or updated.
    pub items: u64,
    /// User-data rows inserted or updated.
    pub user_data: u64,
    /// Devices inserted or updated.
    pub devices: u64,
    /// Activity entries inserted (already present ids are skipped).
    pub activity: u64,
    /// Display-preference documents inserted or updated.
    pub display_preferences: u64,
    /// User configurations inserted or updated.
    pub user_configurations: u64,
}

const UPSERT_USER: &str = "\
INSERT INTO users (id, name, name_key, password_hash, is_admin, created_ms)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET
    name = EXCLUDED.name, name_key = EXCLUDED.name_key, password_hash = EXCLUDED.password_hash,
    is_admin = EXCLUDED.is_admin, created_ms = EXCLUDED.created_ms";

const INSERT_ACTIVITY: &str = "\
INSERT INTO activity (id, at_ms, user_id, kind, message) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO NOTHING";

/// Moves the identity sequence past the imported ids so new entries keep increasing.
const BUMP_ACTIVITY_IDS: &str = "\
SELECT setval(pg_get_serial_sequence('activity', 'id'),
              GREATEST((SELECT max(id) FROM activity), 1))";

/// Writes everything in `snapshot` to `repo`'s database in one transaction. Idempotent.
///
/// # Errors
/// [`ha_core::Error::Conflict`] when a snapshot user's name or item's path collides with a
/// *different* row already in PostgreSQL; transient errors as usual. Nothing is written then.
pub async fn import_snapshot(
    repo: &PgMetadataRepo,
    snapshot: &MetadataSnapshot,
) -> Result<ImportReport> {
    let store = repo.store();
    // No client-side deadline: a large library takes as long as it takes (each statement is
    // still bounded by the server's statement_timeout).
    Ok(import(store, snapshot).await?)
}

async fn import(store: &crate::PgStore, snap: &MetadataSnapshot) -> PgResult<ImportReport> {
    let mut conn = store.conn("import snapshot").await?;
    let client = conn.client_mut();
    let tx = client
        .transaction()
        .await
        .map_err(|e| store.db_error("import snapshot", e))?;
    let db = |e| store.db_error("import snapshot", e);
    let mut report = ImportReport::default();

    let stmt = tx.prepare_cached(UPSERT_USER).await.map_err(db)?;
    for u in &snap.users {
        let created = to_i64("created_ms", u.created_ms)?;
        report.users += tx
            .execute(
                &stmt,
                &[
                    &u.id,
                    &u.name,
                    &users::name_key(&u.name),
                    &u.password_hash,
                    &u.is_admin,
                    &created,
                ],
            )
            .await
            .map_err(|e| conflict(store, e, format!("user {:?}", u.name)))?;
    }

    let stmt = tx.prepare_cached(items::UPSERT_SQL).await.map_err(db)?;
    for item in &snap.items {
        let encoded = items::Encoded::new(item)?;
        report.items += tx
            .execute(&stmt, &encoded.params())
            .await
            .map_err(|e| conflict(store, e, format!("item path {:?}", item.path)))?;
    }

    let stmt = tx.prepare_cached(user_data::UPSERT).await.map_err(db)?;
    for d in &snap.user_data {
        let play_count = i64::from(d.play_count);
        let last_played = opt_to_i64("last_played_ms", d.last_played_ms)?;
        report.user_data += tx
            .execute(
                &stmt,
                &[
                    &d.user_id,
                    &d.item_id,
                    &d.played,
                    &play_count,
                    &d.position_ticks,
                    &last_played,
                    &d.is_favorite,
                ],
            )
            .await
            .map_err(db)?;
    }

    let stmt = tx.prepare_cached(devices::UPSERT).await.map_err(db)?;
    for d in &snap.devices {
        let last_seen = to_i64("last_seen_ms", d.last_seen_ms)?;
        report.devices += tx
            .execute(
                &stmt,
                &[
                    &d.id,
                    &d.user_id,
                    &d.name,
                    &d.app_name,
                    &d.app_version,
                    &last_seen,
                ],
            )
            .await
            .map_err(db)?;
    }

    let stmt = tx.prepare_cached(display_prefs::UPSERT).await.map_err(db)?;
    for p in &snap.display_preferences {
        let updated = to_i64("updated_ms", p.updated_ms)?;
        report.display_preferences += tx
            .execute(&stmt, &[&p.user_id, &p.id, &p.client, &p.json, &updated])
            .await
            .map_err(db)?;
    }

    let stmt = tx.prepare_cached(user_config::UPSERT).await.map_err(db)?;
    for c in &snap.user_configurations {
        let updated = to_i64("updated_ms", c.updated_ms)?;
        report.user_configurations += tx
            .execute(&stmt, &[&c.user_id, &c.json, &updated])
            .await
            .map_err(db)?;
    }

    let stmt = tx.prepare_cached(INSERT_ACTIVITY).await.map_err(db)?;
    for a in &snap.activity {
        let id = to_i64("activity id", a.id)?;
        let at = to_i64("at_ms", a.entry.at_ms)?;
        report.activity += tx
            .execute(
                &stmt,
                &[&id, &at, &a.entry.user_id, &a.entry.kind, &a.entry.message],
            )
            .await
            .map_err(db)?;
    }
    if !snap.activity.is_empty() {
        tx.execute(BUMP_ACTIVITY_IDS, &[]).await.map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(report)
}

fn conflict(store: &crate::PgStore, e: tokio_postgres::Error, what: String) -> PgError {
    match store.db_error("import snapshot", e) {
        e @ PgError::Unique { .. } => {
            tracing::debug!(error = ?e, "import conflict");
            PgError::Conflict(format!(
                "{what} already belongs to another row in PostgreSQL"
            ))
        }
        e => e,
    }
}
