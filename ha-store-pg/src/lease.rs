//! [`LeaseManager`] on PostgreSQL: one row per key.
//!
//! # How
//!
//! * **Acquire** is one `INSERT … ON CONFLICT (key) DO UPDATE … WHERE expires_at <=
//!   clock_timestamp() RETURNING token` (`sql/lease_acquire.sql`): no row comes back when a
//!   live lease exists, so there is no read-then-write race between replicas.
//! * **Expiry** is judged only by the server's `clock_timestamp()`; the local
//!   [`Lease::expires_at`] is the instant the request was *sent* plus the TTL, never later than
//!   the server's deadline.
//! * **Tokens** are `max(nextval(seq), server time in µs, previous token of the key + 1)`: they
//!   grow per key, and stay ahead of any token issued before the table was lost (the clock moved
//!   on). A released lease keeps its row (expired) so the next token of the key is still above
//!   it; rows expired for a day are purged now and then.
//! * **Take-over** (`sql/lease_take_over.sql`) is the acquire statement whose `WHERE` also
//!   accepts the live row when it is still exactly the tenure the caller saw: compare-and-swap
//!   on the token.
//! * **Batch renew** is one `UPDATE … FROM unnest(keys, holders, tokens, …)`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use ha_core::lease::{validate_name, validate_ttl};
use ha_core::{Error, FencingToken, Lease, LeaseManager, Result};
use tokio::time::Instant;

use crate::convert::{col, micros_ceil, to_u64};
use crate::error::{PgError, PgResult};
use crate::PgStore;

const ACQUIRE: &str = include_str!("../sql/lease_acquire.sql");
const TAKE_OVER: &str = include_str!("../sql/lease_take_over.sql");
const RENEW_MANY: &str = include_str!("../sql/lease_renew_many.sql");

const RENEW: &str = "\
UPDATE leases SET expires_at = clock_timestamp() + $5::bigint * interval '1 microsecond', ttl_ns = $4
 WHERE key = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp()";

/// Expires the lease at once; the row stays so the key's next token is larger.
const RELEASE: &str = "\
UPDATE leases SET expires_at = clock_timestamp()
 WHERE key = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp()";

const CURRENT: &str = "\
SELECT holder, token, ttl_ns,
       (extract(epoch FROM expires_at - clock_timestamp()) * 1000000)::bigint AS remaining_us
  FROM leases WHERE key = $1 AND expires_at > clock_timestamp()";

const PURGE: &str = "DELETE FROM leases WHERE expires_at < clock_timestamp() - interval '1 day'";

/// Purge long-expired rows once every this many acquisitions.
const PURGE_EVERY: u64 = 1024;

/// The PostgreSQL [`LeaseManager`]. Make one with [`PgStore::leases`].
#[derive(Debug)]
pub struct PgLeaseManager {
    store: PgStore,
    acquisitions: AtomicU64,
}

impl PgLeaseManager {
    pub(crate) fn new(store: PgStore) -> Self {
        Self {
            store,
            acquisitions: AtomicU64::new(0),
        }
    }

    /// A plain acquire, or (with `stale`) a take-over of that tenure.
    async fn acquire(
        &self,
        key: &str,
        holder: &str,
        ttl: Duration,
        stale: Option<&Lease>,
    ) -> PgResult<Option<Lease>> {
        let ttl_ns = ttl_ns(ttl)?;
        let ttl_us = micros_ceil(ttl);
        let conn = self.store.conn("acquire lease").await?;
        let sent = Instant::now();
        let row = match stale {
            None => {
                conn.query_opt(ACQUIRE, &[&key, &holder, &ttl_ns, &ttl_us])
                    .await?
            }
            Some(stale) => {
                // A token that cannot be stored matches no row: then only a free key is taken.
                let token = token_param(stale.token).unwrap_or(0);
                conn.query_opt(
                    TAKE_OVER,
                    &[&key, &holder, &ttl_ns, &ttl_us, &stale.holder, &token],
                )
                .await?
            }
        };
        if self.acquisitions.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1 {
            if let Err(e) = conn.execute(PURGE, &[]).await {
                tracing::warn!(error = %e, "purging expired leases failed");
            }
        }
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Lease {
            key: key.to_owned(),
            holder: holder.to_owned(),
            token: FencingToken(to_u64("lease token", col(&row, "token")?)?),
            ttl,
            expires_at: sent + ttl,
        }))
    }

    async fn renew_one(&self, lease: &Lease) -> PgResult<Option<Lease>> {
        let token = token_param(lease.token)?;
        let ttl_ns = ttl_ns(lease.ttl)?;
        let ttl_us = micros_ceil(lease.ttl);
        let conn = self.store.conn("renew lease").await?;
        let sent = Instant::now();
        let changed = conn
            .execute(
                RENEW,
                &[&lease.key, &lease.holder, &token, &ttl_ns, &ttl_us],
            )
            .await?;
        Ok((changed > 0).then(|| Lease {
            expires_at: sent + lease.ttl,
            ..lease.clone()
        }))
    }

    async fn renew_batch(&self, leases: &[Lease]) -> PgResult<Vec<Option<Lease>>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = leases.iter().map(|l| l.key.as_str()).collect();
        let holders: Vec<&str> = leases.iter().map(|l| l.holder.as_str()).collect();
        // A token or TTL that cannot be stored cannot be current: send a value that matches
        // nothing (0) rather than failing the whole batch.
        let tokens: Vec<i64> = leases
            .iter()
            .map(|l| token_param(l.token).unwrap_or(0))
            .collect();
        let ttls_ns: Vec<i64> = leases
            .iter()
            .map(|l| ttl_ns(l.ttl).unwrap_or(i64::MAX))
            .collect();
        let ttls_us: Vec<i64> = leases.iter().map(|l| micros_ceil(l.ttl)).collect();
        let conn = self.store.conn("renew leases").await?;
        let sent = Instant::now();
        let rows = conn
            .query(RENEW_MANY, &[&keys, &holders, &tokens, &ttls_ns, &ttls_us])
            .await?;
        let mut renewed = HashSet::with_capacity(rows.len());
        for row in &rows {
            let key: String = col(row, "key")?;
            let holder: String = col(row, "holder")?;
            let token: i64 = col(row, "token")?;
            renewed.insert((key, holder, token));
        }
        Ok(leases
            .iter()
            .zip(&tokens)
            .map(|(lease, token)| {
                renewed
                    .contains(&(lease.key.clone(), lease.holder.clone(), *token))
                    .then(|| Lease {
                        expires_at: sent + lease.ttl,
                        ..lease.clone()
                    })
            })
            .collect())
    }

    async fn release_one(&self, lease: &Lease) -> PgResult<bool> {
        let Ok(token) = token_param(lease.token) else {
            return Ok(false);
        };
        let conn = self.store.conn("release lease").await?;
        Ok(conn
            .execute(RELEASE, &[&lease.key, &lease.holder, &token])
            .await?
            > 0)
    }

    async fn current_lease(&self, key: &str) -> PgResult<Option<Lease>> {
        let conn = self.store.conn("current lease").await?;
        let sent = Instant::now();
        let Some(row) = conn.query_opt(CURRENT, &[&key]).await? else {
            return Ok(None);
        };
        let remaining_us = to_u64("remaining", col::<i64>(&row, "remaining_us")?.max(0))?;
        let ttl_ns = to_u64("lease ttl", col(&row, "ttl_ns")?)?;
        Ok(Some(Lease {
            key: key.to_owned(),
            holder: col(&row, "holder")?,
            token: FencingToken(to_u64("lease token", col(&row, "token")?)?),
            ttl: Duration::from_nanos(ttl_ns),
            expires_at: sent + Duration::from_micros(remaining_us),
        }))
    }
}

fn ttl_ns(ttl: Duration) -> PgResult<i64> {
    i64::try_from(ttl.as_nanos()).map_err(|_| PgError::Invalid(format!("TTL {ttl:?} too long")))
}

fn token_param(token: FencingToken) -> PgResult<i64> {
    i64::try_from(token.get())
        .map_err(|_| PgError::Invalid(format!("fencing token {token} out of range")))
}

#[async_trait]
impl LeaseManager for PgLeaseManager {
    async fn try_acquire(&self, key: &str, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        validate_name("lease key", key)?;
        validate_name("lease holder", holder)?;
        validate_ttl(ttl)?;
        self.store
            .call("acquire lease", self.acquire(key, holder, ttl, None))
            .await
    }

    async fn take_over(&self, stale: &Lease, holder: &str, ttl: Duration) -> Result<Option<Lease>> {
        validate_name("lease key", &stale.key)?;
        validate_name("lease holder", holder)?;
        validate_ttl(ttl)?;
        self.store
            .call(
                "take over lease",
                self.acquire(&stale.key, holder, ttl, Some(stale)),
            )
            .await
    }

    async fn renew(&self, lease: &Lease) -> Result<Lease> {
        validate_ttl(lease.ttl)?;
        self.store
            .call("renew lease", self.renew_one(lease))
            .await?
            .ok_or_else(|| Error::LeaseLost {
                key: lease.key.clone(),
            })
    }

    async fn renew_many(&self, leases: &[Lease]) -> Result<Vec<Option<Lease>>> {
        self.store
            .call("renew leases", self.renew_batch(leases))
            .await
    }

    async fn release(&self, lease: &Lease) -> Result<bool> {
        self.store
            .call("release lease", self.release_one(lease))
            .await
    }

    async fn current(&self, key: &str) -> Result<Option<Lease>> {
        self.store
            .call("current lease", self.current_lease(key))
            .await
    }
}
