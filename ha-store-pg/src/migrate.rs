//! Schema migrations, run once even when several replicas start together.
//!
//! # Why an advisory lock on a dedicated connection
//!
//! refinery takes no lock: two replicas starting at once would both see version 0 and both
//! try to create the tables. So the migrator opens its *own* connection (not a pooled one),
//! takes `pg_advisory_lock` on a key derived from the schema name, creates the schema, runs
//! refinery, unlocks explicitly and closes the connection. The others wait on the lock, then
//! find every migration applied and do nothing. A session-level advisory lock on a pooled
//! connection would be a trap: if an error skipped the unlock, the lock would live on in the
//! pool. Here closing the connection releases it whatever happened.
//!
//! The migrations are the `.sql` files under `migrations/`, embedded at compile time.

use crate::config::PgStoreConfig;
use crate::error::{PgError, PgResult};

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MigrationReport {
    /// The migrations applied by this run, as `(version, name)`; empty when the schema was
    /// already current.
    pub applied: Vec<(u32, String)>,
}

/// Takes the migration lock for one schema: `media-ha migrate <schema>` hashed to a bigint.
const LOCK: &str = "SELECT pg_advisory_lock(hashtextextended('media-ha migrate ' || $1, 0))";
const UNLOCK: &str = "SELECT pg_advisory_unlock(hashtextextended('media-ha migrate ' || $1, 0))";

/// Brings `config`'s schema up to date.
pub(crate) async fn run(config: &PgStoreConfig) -> PgResult<MigrationReport> {
    config.validate()?;
    let what = "schema migration";
    let (mut client, _notifications) = crate::connect::open(config, what, "migrate").await?;
    let result = locked(&mut client, config).await;
    // Dropping the client closes the connection, which releases the lock in any case.
    drop(client);
    result
}

async fn locked(
    client: &mut tokio_postgres::Client,
    config: &PgStoreConfig,
) -> PgResult<MigrationReport> {
    let what = "schema migration";
    let timeout = config.statement_timeout;
    let db = |e| PgError::from_db(what, e, timeout);
    // DDL on a large table may take longer than a request should; waiting for another
    // replica's migration too.
    client
        .batch_execute("SET statement_timeout = 0")
        .await
        .map_err(db)?;
    client.execute(LOCK, &[&config.schema]).await.map_err(db)?;
    let result = migrate_locked(client, config).await;
    let unlocked = client.execute(UNLOCK, &[&config.schema]).await.map_err(db);
    let report = result?;
    unlocked?;
    Ok(report)
}

async fn migrate_locked(
    client: &mut tokio_postgres::Client,
    config: &PgStoreConfig,
) -> PgResult<MigrationReport> {
    // The schema name was validated as a plain lower-case identifier: safe to splice.
    client
        .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", config.schema))
        .await
        .map_err(|e| PgError::from_db("create schema", e, config.statement_timeout))?;
    let report = embedded::migrations::runner()
        .run_async(client)
        .await
        .map_err(PgError::Migration)?;
    Ok(MigrationReport {
        applied: report
            .applied_migrations()
            .iter()
            .map(|m| (m.version(), m.name().to_owned()))
            .collect(),
    })
}
