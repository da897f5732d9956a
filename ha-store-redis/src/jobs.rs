//! [`RedisJobStore`]: transcode job records as hashes that outlive their lease.
//!
//! # Design
//!
//! A record is the hash `{P:job:K}`; every write (claim, progress, state) is one script that
//! checks the fencing token, changes the fields, stamps `updated_ms` with the server clock and
//! refreshes `PEXPIRE retention`, so a record disappears `retention` after its last write.
//! `list` needs an index: the sorted set `{P:jobs}` of job keys scored by claim time. It lives
//! in another slot than the records (on Cluster a script cannot touch both), so it is written
//! after the claim and read *loosely*: `list` keeps only members whose record still exists and
//! prunes the rest with `lua/index_prune.lua` (which spares members re-added meanwhile). Each
//! claim also trims entries older than the retention plus a day, so the index stays bounded.

use std::time::Duration;

use async_trait::async_trait;
use ha_core::{Error, FencingToken, JobClaim, JobRecord, JobState, Result, TranscodeJobStore};
use redis::Value;

use crate::lease::ttl_ms;
use crate::reply::{self, JobReply};
use crate::RedisStore;

/// How long past the retention a claim stays indexed without being claimed again (one day): a
/// job written continuously for longer than that drops out of `list` (it stays readable).
const INDEX_HORIZON_MS: u64 = 86_400_000;

/// Fenced, forward-only job records on Redis. Made by [`RedisStore::jobs`].
#[derive(Debug, Clone)]
pub struct RedisJobStore {
    store: RedisStore,
    retention: Duration,
}

impl RedisJobStore {
    pub(crate) fn new(store: RedisStore) -> Self {
        let retention = store.config().job_retention;
        Self { store, retention }
    }

    fn outcome(&self, key: &str, presented: FencingToken, reply: JobReply) -> Result<JobRecord> {
        match reply {
            JobReply::Ok(record) => Ok(record),
            JobReply::Fenced(current) => Err(Error::Fenced {
                key: key.to_owned(),
                presented,
                current,
            }),
            JobReply::Missing => Err(Error::NotFound(format!("transcode job {key}"))),
        }
    }
}

#[async_trait]
impl TranscodeJobStore for RedisJobStore {
    async fn claim(&self, claim: &JobClaim) -> Result<JobRecord> {
        ha_core::lease::validate_name("job key", &claim.key)?;
        let mut invocation = self.store.scripts().job_claim.prepare_invoke();
        invocation
            .key(self.store.keys().job(&claim.key))
            .arg(&claim.key)
            .arg(&claim.source)
            .arg(&claim.profile)
            .arg(&claim.owner_node)
            .arg(if claim.owner_addr.is_some() { "1" } else { "0" })
            .arg(claim.owner_addr.as_deref().unwrap_or(""))
            .arg(claim.token.get().to_string())
            .arg(claim.start_segment)
            .arg(ttl_ms(self.retention));
        let mut conn = self.store.conn();
        let value: Value = self
            .store
            .call("job claim", invocation.invoke_async(&mut conn))
            .await?;
        let record = self.outcome(
            &claim.key,
            claim.token,
            reply::job_reply("job claim", value)?,
        )?;
        // Index it, and trim entries claimed long ago (their records expired unless written for
        // a whole day since) so the index stays bounded even if nobody calls `list`.
        let index = self.store.keys().job_index();
        let score = record.updated_ms;
        let horizon = score.saturating_sub(ttl_ms(self.retention) + INDEX_HORIZON_MS);
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(&index)
            .arg(score)
            .arg(&claim.key)
            .ignore()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&index)
            .arg("-inf")
            .arg(format!("({horizon}"))
            .ignore();
        self.store
            .call("job index", pipe.query_async::<()>(&mut conn))
            .await?;
        Ok(record)
    }

    async fn get(&self, key: &str) -> Result<Option<JobRecord>> {
        let mut conn = self.store.conn();
        let flat: Vec<Value> = self
            .store
            .call(
                "job get",
                redis::cmd("HGETALL")
                    .arg(self.store.keys().job(key))
                    .query_async(&mut conn),
            )
            .await?;
        if flat.is_empty() {
            return Ok(None);
        }
        Ok(Some(reply::job_record("job get", &flat)?))
    }

    async fn record_progress(
        &self,
        key: &str,
        token: FencingToken,
        segment: u32,
    ) -> Result<JobRecord> {
        let mut invocation = self.store.scripts().job_progress.prepare_invoke();
        invocation
            .key(self.store.keys().job(key))
            .arg(token.get().to_string())
            .arg(segment)
            .arg(ttl_ms(self.retention));
        let mut conn = self.store.conn();
        let value: Value = self
            .store
            .call("job progress", invocation.invoke_async(&mut conn))
            .await?;
        self.outcome(key, token, reply::job_reply("job progress", value)?)
    }

    async fn set_state(
        &self,
        key: &str,
        token: FencingToken,
        state: JobState,
        failure: Option<&str>,
    ) -> Result<JobRecord> {
        let mut invocation = self.store.scripts().job_state.prepare_invoke();
        invocation
            .key(self.store.keys().job(key))
            .arg(token.get().to_string())
            .arg(state.as_str())
            .arg(if failure.is_some() { "1" } else { "0" })
            .arg(failure.unwrap_or(""))
            .arg(ttl_ms(self.retention));
        let mut conn = self.store.conn();
        let value: Value = self
            .store
            .call("job state", invocation.invoke_async(&mut conn))
            .await?;
        self.outcome(key, token, reply::job_reply("job state", value)?)
    }

    async fn list(&self) -> Result<Vec<JobRecord>> {
        let keys = self.store.keys();
        let mut records = crate::index::list(
            &self.store,
            ("job list", "job index prune"),
            &keys.job_index(),
            |member| {
                let mut cmd = redis::cmd("HGETALL");
                cmd.arg(keys.job(member));
                cmd
            },
            |flat| {
                if flat.is_empty() {
                    return Ok(None);
                }
                Ok(Some(reply::job_record("job list", &flat)?))
            },
        )
        .await?;
        records.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(records)
    }

    async fn remove(&self, key: &str) -> Result<bool> {
        let keys = self.store.keys();
        Ok(crate::index::remove(
            &self.store,
            ("job remove", "job index"),
            &keys.job(key),
            &keys.job_index(),
            key,
        )
        .await?)
    }
}
