//! In-process [`TranscodeJobStore`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use super::lock;
use crate::{
    Error, FencingToken, JobClaim, JobRecord, JobState, Result, SharedClock, SystemClock,
    TranscodeJobStore,
};

/// The default time a job record outlives its last write.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(300);

/// Job records in a map; a record expires `retention` after its last write.
#[derive(Debug)]
pub struct MemoryJobStore {
    clock: SharedClock,
    retention: Duration,
    jobs: Mutex<HashMap<String, JobRecord>>,
}

impl MemoryJobStore {
    /// A store on the system clock with the default retention (five minutes).
    pub fn new() -> Self {
        Self::with_clock(SystemClock::shared(), DEFAULT_RETENTION)
    }

    /// A store on `clock` keeping records `retention` after their last write.
    pub fn with_clock(clock: SharedClock, retention: Duration) -> Self {
        Self {
            clock,
            retention,
            jobs: Mutex::new(HashMap::new()),
        }
    }

    fn live<'a>(
        &self,
        jobs: &'a mut HashMap<String, JobRecord>,
        key: &str,
        now_ms: u64,
    ) -> Option<&'a mut JobRecord> {
        let retention_ms = self.retention.as_millis() as u64;
        if jobs
            .get(key)
            .is_some_and(|r| now_ms.saturating_sub(r.updated_ms) >= retention_ms)
        {
            jobs.remove(key);
        }
        jobs.get_mut(key)
    }

    fn fenced_update(
        &self,
        key: &str,
        token: FencingToken,
        update: impl FnOnce(&mut JobRecord),
    ) -> Result<JobRecord> {
        let now_ms = self.clock.unix_millis();
        let mut jobs = lock(&self.jobs);
        let record = self
            .live(&mut jobs, key, now_ms)
            .ok_or_else(|| Error::NotFound(format!("transcode job {key}")))?;
        if record.token != token {
            return Err(Error::Fenced {
                key: key.to_owned(),
                presented: token,
                current: record.token,
            });
        }
        update(record);
        record.updated_ms = now_ms;
        Ok(record.clone())
    }
}

impl Default for MemoryJobStore {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl TranscodeJobStore for MemoryJobStore {
    async fn claim(&self, claim: &JobClaim) -> Result<JobRecord> {
        crate::lease::validate_name("job key", &claim.key)?;
        let now_ms = self.clock.unix_millis();
        let mut jobs = lock(&self.jobs);
        let (attempts, created_ms) = match self.live(&mut jobs, &claim.key, now_ms) {
            Some(existing) if existing.token > claim.token => {
                return Err(Error::Fenced {
                    key: claim.key.clone(),
                    presented: claim.token,
                    current: existing.token,
                })
            }
            Some(existing) if existing.token == claim.token => {
                (existing.attempts, existing.created_ms)
            }
            Some(existing) => (existing.attempts + 1, existing.created_ms),
            None => (1, now_ms),
        };
        let record = JobRecord {
            key: claim.key.clone(),
            source: claim.source.clone(),
            profile: claim.profile.clone(),
            owner_node: claim.owner_node.clone(),
            owner_addr: claim.owner_addr.clone(),
            token: claim.token,
            start_segment: claim.start_segment,
            last_segment: None,
            state: JobState::Running,
            attempts,
            failure: None,
            created_ms,
            updated_ms: now_ms,
        };
        jobs.insert(claim.key.clone(), record.clone());
        Ok(record)
    }

    async fn get(&self, key: &str) -> Result<Option<JobRecord>> {
        let now_ms = self.clock.unix_millis();
        let mut jobs = lock(&self.jobs);
        Ok(self.live(&mut jobs, key, now_ms).map(|r| r.clone()))
    }

    async fn record_progress(
        &self,
        key: &str,
        token: FencingToken,
        segment: u32,
    ) -> Result<JobRecord> {
        self.fenced_update(key, token, |r| {
            r.last_segment = Some(r.last_segment.map_or(segment, |last| last.max(segment)));
        })
    }

    async fn set_state(
        &self,
        key: &str,
        token: FencingToken,
        state: JobState,
        failure: Option<&str>,
    ) -> Result<JobRecord> {
        self.fenced_update(key, token, |r| {
            r.state = state;
            r.failure = failure.map(str::to_owned);
        })
    }

    async fn list(&self) -> Result<Vec<JobRecord>> {
        let now_ms = self.clock.unix_millis();
        let retention_ms = self.retention.as_millis() as u64;
        let mut jobs = lock(&self.jobs);
        jobs.retain(|_, r| now_ms.saturating_sub(r.updated_ms) < retention_ms);
        let mut all: Vec<_> = jobs.values().cloned().collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(all)
    }

    async fn remove(&self, key: &str) -> Result<bool> {
        let now_ms = self.clock.unix_millis();
        let mut jobs = lock(&self.jobs);
        let existed = self.live(&mut jobs, key, now_ms).is_some();
        jobs.remove(key);
        Ok(existed)
    }
}
