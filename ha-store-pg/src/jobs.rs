//! [`TranscodeJobStore`] on PostgreSQL: one row per job.
//!
//! # How
//!
//! * **Fencing** is in the `WHERE` clause of every write (`token = $n`, or `token <= $n` for a
//!   claim), so a stale owner's write changes nothing and comes back empty; only then is the
//!   current token read to build [`ha_core::Error::Fenced`].
//! * **Progress only moves forward**: `last_segment = GREATEST(last_segment, $n)` (`GREATEST`
//!   ignores NULL).
//! * **Retention**: every write sets `expires_at = clock_timestamp() + retention`; reads filter
//!   on it, and expired rows are purged opportunistically (on `list`, and every so many
//!   claims). Times are the server's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ha_core::{FencingToken, JobClaim, JobRecord, JobState, Result, TranscodeJobStore};
use tokio_postgres::Row;

use crate::convert::{col, micros_ceil, to_u32, to_u64};
use crate::error::{PgError, PgResult};
use crate::PgStore;

/// The columns every read returns, listed rather than `*`: a cached prepared statement must not
/// change shape when a later migration adds a column.
macro_rules! job_columns {
    () => {
        "key, source, profile, owner_node, owner_addr, token, start_segment, last_segment, \
         state, attempts, failure, created_ms, updated_ms"
    };
}

const CLAIM: &str = concat!(include_str!("../sql/job_claim.sql"), job_columns!());

const PROGRESS: &str = concat!(
    "UPDATE transcode_jobs
   SET last_segment = GREATEST(last_segment, $3),
       updated_ms = (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
       expires_at = clock_timestamp() + $4::bigint * interval '1 microsecond'
 WHERE key = $1 AND token = $2 AND expires_at > clock_timestamp()
RETURNING ",
    job_columns!()
);

const SET_STATE: &str = concat!(
    "UPDATE transcode_jobs
   SET state = $3, failure = $4,
       updated_ms = (extract(epoch FROM clock_timestamp()) * 1000)::bigint,
       expires_at = clock_timestamp() + $5::bigint * interval '1 microsecond'
 WHERE key = $1 AND token = $2 AND expires_at > clock_timestamp()
RETURNING ",
    job_columns!()
);

const GET: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM transcode_jobs WHERE key = $1 AND expires_at > clock_timestamp()"
);

const CURRENT_TOKEN: &str =
    "SELECT token FROM transcode_jobs WHERE key = $1 AND expires_at > clock_timestamp()";

const LIST: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM transcode_jobs WHERE expires_at > clock_timestamp() ORDER BY key"
);

const REMOVE: &str =
    "DELETE FROM transcode_jobs WHERE key = $1 RETURNING expires_at > clock_timestamp() AS live";

const PURGE: &str = "DELETE FROM transcode_jobs WHERE expires_at <= clock_timestamp()";

/// Purge expired rows once every this many claims (and on every `list`).
const PURGE_EVERY: u64 = 256;

/// The PostgreSQL [`TranscodeJobStore`]. Make one with [`PgStore::jobs`].
#[derive(Debug)]
pub struct PgJobStore {
    store: PgStore,
    retention: Duration,
    retention_us: i64,
    claims: AtomicU64,
}

impl PgJobStore {
    pub(crate) fn new(store: PgStore, retention: Duration) -> Self {
        Self {
            store,
            retention,
            retention_us: micros_ceil(retention),
            claims: AtomicU64::new(0),
        }
    }

    /// How long a record outlives its last write.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    async fn claim_job(&self, claim: &JobClaim) -> PgResult<JobRecord> {
        let token = token_param(claim.token)?;
        let start = i64::from(claim.start_segment);
        let conn = self.store.conn("claim job").await?;
        if self.claims.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            if let Err(e) = conn.execute(PURGE, &[]).await {
                tracing::warn!(error = %e, "purging expired transcode jobs failed");
            }
        }
        let row = conn
            .query_opt(
                CLAIM,
                &[
                    &claim.key,
                    &claim.source,
                    &claim.profile,
                    &claim.owner_node,
                    &claim.owner_addr,
                    &token,
                    &start,
                    &self.retention_us,
                ],
            )
            .await?;
        match row {
            Some(row) => decode(&row),
            None => Err(self.fenced(&conn, &claim.key, claim.token).await),
        }
    }

    /// Why a fenced write came back empty: a newer token, or no live record at all.
    async fn fenced(
        &self,
        conn: &crate::store::Conn,
        key: &str,
        presented: FencingToken,
    ) -> PgError {
        match conn.query_opt(CURRENT_TOKEN, &[&key]).await {
            Ok(Some(row)) => match col::<i64>(&row, "token").and_then(|t| to_u64("token", t)) {
                Ok(current) => PgError::Fenced {
                    key: key.to_owned(),
                    presented,
                    current: FencingToken(current),
                },
                Err(e) => e,
            },
            Ok(None) => PgError::NotFound(format!("transcode job {key}")),
            Err(e) => e,
        }
    }

    async fn update(
        &self,
        what: &'static str,
        sql: &str,
        key: &str,
        token: FencingToken,
        extra: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> PgResult<JobRecord> {
        let conn = self.store.conn(what).await?;
        let Ok(token_value) = token_param(token) else {
            return Err(self.fenced(&conn, key, token).await);
        };
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&key, &token_value];
        params.extend_from_slice(extra);
        params.push(&self.retention_us);
        match conn.query_opt(sql, &params).await? {
            Some(row) => decode(&row),
            None => Err(self.fenced(&conn, key, token).await),
        }
    }

    async fn list_jobs(&self) -> PgResult<Vec<JobRecord>> {
        let conn = self.store.conn("list jobs").await?;
        if let Err(e) = conn.execute(PURGE, &[]).await {
            tracing::warn!(error = %e, "purging expired transcode jobs failed");
        }
        conn.query(LIST, &[]).await?.iter().map(decode).collect()
    }
}

fn token_param(token: FencingToken) -> PgResult<i64> {
    i64::try_from(token.get())
        .map_err(|_| PgError::Invalid(format!("fencing token {token} out of range")))
}

fn decode(row: &Row) -> PgResult<JobRecord> {
    let state: String = col(row, "state")?;
    Ok(JobRecord {
        key: col(row, "key")?,
        source: col(row, "source")?,
        profile: col(row, "profile")?,
        owner_node: col(row, "owner_node")?,
        owner_addr: col(row, "owner_addr")?,
        token: FencingToken(to_u64("token", col(row, "token")?)?),
        start_segment: to_u32("start_segment", col(row, "start_segment")?)?,
        last_segment: col::<Option<i64>>(row, "last_segment")?
            .map(|s| to_u32("last_segment", s))
            .transpose()?,
        state: JobState::parse(&state).map_err(|e| PgError::Decode {
            what: "job state".into(),
            source: Box::new(e),
        })?,
        attempts: to_u32("attempts", col(row, "attempts")?)?,
        failure: col(row, "failure")?,
        created_ms: to_u64("created_ms", col(row, "created_ms")?)?,
        updated_ms: to_u64("updated_ms", col(row, "updated_ms")?)?,
    })
}

#[async_trait]
impl TranscodeJobStore for PgJobStore {
    async fn claim(&self, claim: &JobClaim) -> Result<JobRecord> {
        ha_core::lease::validate_name("job key", &claim.key)?;
        self.store.call("claim job", self.claim_job(claim)).await
    }

    async fn get(&self, key: &str) -> Result<Option<JobRecord>> {
        self.store
            .call("get job", async {
                let conn = self.store.conn("get job").await?;
                conn.query_opt(GET, &[&key])
                    .await?
                    .as_ref()
                    .map(decode)
                    .transpose()
            })
            .await
    }

    async fn record_progress(
        &self,
        key: &str,
        token: FencingToken,
        segment: u32,
    ) -> Result<JobRecord> {
        let segment = i64::from(segment);
        self.store
            .call(
                "record job progress",
                self.update("record job progress", PROGRESS, key, token, &[&segment]),
            )
            .await
    }

    async fn set_state(
        &self,
        key: &str,
        token: FencingToken,
        state: JobState,
        failure: Option<&str>,
    ) -> Result<JobRecord> {
        let state = state.as_str();
        self.store
            .call(
                "set job state",
                self.update("set job state", SET_STATE, key, token, &[&state, &failure]),
            )
            .await
    }

    async fn list(&self) -> Result<Vec<JobRecord>> {
        self.store.call("list jobs", self.list_jobs()).await
    }

    async fn remove(&self, key: &str) -> Result<bool> {
        self.store
            .call("remove job", async {
                let conn = self.store.conn("remove job").await?;
                match conn.query_opt(REMOVE, &[&key]).await? {
                    Some(row) => col(&row, "live"),
                    None => Ok(false),
                }
            })
            .await
    }
}
