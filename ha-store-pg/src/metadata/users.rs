//! The `users` table.

use ha_core::User;
use tokio_postgres::Row;

use super::validate;
use crate::convert::{col, to_i64, to_u64};
use crate::error::{PgError, PgResult};
use crate::PgStore;

const COLUMNS: &str = "id, name, password_hash, is_admin, created_ms";

const INSERT: &str = "INSERT INTO users (id, name, name_key, password_hash, is_admin, created_ms) \
                      VALUES ($1, $2, $3, $4, $5, $6)";

const UPDATE: &str = "UPDATE users \
                      SET name = $2, name_key = $3, password_hash = $4, is_admin = $5, created_ms = $6 \
                      WHERE id = $1";

const DELETE: &str = "DELETE FROM users WHERE id = $1";

/// The key names are unique and looked up by: Unicode lower-casing, done here rather than by
/// `lower()` (see the migration).
pub(crate) fn name_key(name: &str) -> String {
    name.to_lowercase()
}

pub(super) async fn create(store: &PgStore, user: &User) -> PgResult<()> {
    validate("user id", &user.id)?;
    validate("user name", &user.name)?;
    let created = to_i64("created_ms", user.created_ms)?;
    let conn = store.conn("create user").await?;
    conn.execute(
        INSERT,
        &[
            &user.id,
            &user.name,
            &name_key(&user.name),
            &user.password_hash,
            &user.is_admin,
            &created,
        ],
    )
    .await
    .map_err(|e| match e {
        PgError::Unique { .. } => conflict(&user.name, &e),
        e => e,
    })?;
    Ok(())
}

pub(super) async fn update(store: &PgStore, user: &User) -> PgResult<()> {
    validate("user name", &user.name)?;
    let created = to_i64("created_ms", user.created_ms)?;
    let conn = store.conn("update user").await?;
    let changed = conn
        .execute(
            UPDATE,
            &[
                &user.id,
                &user.name,
                &name_key(&user.name),
                &user.password_hash,
                &user.is_admin,
                &created,
            ],
        )
        .await
        .map_err(|e| match e {
            PgError::Unique { .. } => conflict(&user.name, &e),
            e => e,
        })?;
    if changed == 0 {
        return Err(PgError::NotFound(format!("user {}", user.id)));
    }
    Ok(())
}

fn conflict(name: &str, e: &PgError) -> PgError {
    tracing::debug!(error = ?e, "user conflict");
    let what = if e.constraint() == Some("users_pkey") {
        "id"
    } else {
        "name"
    };
    PgError::Conflict(format!("user {name:?} exists (same {what})"))
}

pub(super) async fn get(store: &PgStore, id: &str) -> PgResult<Option<User>> {
    let conn = store.conn("get user").await?;
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    conn.query_opt(&sql, &[&id])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

pub(super) async fn get_by_name(store: &PgStore, name: &str) -> PgResult<Option<User>> {
    let conn = store.conn("get user by name").await?;
    let sql = format!("SELECT {COLUMNS} FROM users WHERE name_key = $1");
    conn.query_opt(&sql, &[&name_key(name)])
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

pub(super) async fn list(store: &PgStore) -> PgResult<Vec<User>> {
    let conn = store.conn("list users").await?;
    let sql = format!("SELECT {COLUMNS} FROM users ORDER BY name_key, id");
    conn.query(&sql, &[]).await?.iter().map(decode).collect()
}

pub(super) async fn delete(store: &PgStore, id: &str) -> PgResult<bool> {
    let conn = store.conn("delete user").await?;
    Ok(conn.execute(DELETE, &[&id]).await? > 0)
}

fn decode(row: &Row) -> PgResult<User> {
    Ok(User {
        id: col(row, "id")?,
        name: col(row, "name")?,
        password_hash: col(row, "password_hash")?,
        is_admin: col(row, "is_admin")?,
        created_ms: to_u64("created_ms", col(row, "created_ms")?)?,
    })
}
