//! Opening the stores at start-up: waiting for them with backoff, and errors that say which
//! store, where, and what to check.
//!
//! Why wait: in a cluster the server and its stores start together (a node reboot, a
//! `kubectl apply` of everything). A server that exits on the first refused connection goes into
//! a crash loop whose back-off delays it long after the stores are up; `--wait-for-stores 90s`
//! keeps retrying (0.5 s doubling to 10 s between attempts) instead, and says once per attempt
//! what is still missing. A configuration error (a malformed URL, a feature this build lacks) is
//! never retried: waiting cannot fix it.
//!
//! Why name the host: "connect timed out after 2s" does not tell an operator whether Redis or
//! PostgreSQL is missing, or which of three Sentinel addresses the URL held. The error names the
//! store, its hosts (never the password), the flag that set it, and what usually is wrong.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::config::Config;
use crate::stores::{StoreError, Stores};

/// First pause between attempts; doubled after each failure up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A store that could not be opened, with where it was and what to check.
#[derive(Debug)]
pub struct StoreUnreachable {
    /// `PostgreSQL`, `Redis`, or `a store` when the error does not tell.
    pub store: &'static str,
    /// The hosts of its URL (`host:port`, comma-separated), without credentials.
    pub hosts: String,
    /// The flag (and variable) that gave the URL.
    pub flag: &'static str,
    /// How long start-up waited for it.
    pub waited: Duration,
    /// What usually is wrong.
    pub hint: &'static str,
    source: StoreError,
}

impl fmt::Display for StoreUnreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot open {} at {} ({})",
            self.store, self.hosts, self.flag
        )?;
        if !self.waited.is_zero() {
            write!(f, " after waiting {:?}", self.waited)?;
        }
        write!(f, "; check {}", self.hint)
    }
}

impl std::error::Error for StoreUnreachable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

/// Opens the stores `config` asks for, retrying for up to `config.wait_for_stores`.
///
/// # Errors
/// [`StoreUnreachable`] (boxed) when a store still fails after the wait, or at once for an
/// error that waiting cannot fix.
pub async fn open_stores(config: &Config) -> Result<Stores, StoreError> {
    let started = tokio::time::Instant::now();
    retry_with_backoff(
        config.wait_for_stores,
        || Stores::open(config),
        |err| !is_permanent(err.as_ref()),
        |attempt, err, pause| {
            let at = Context::of(config, err.as_ref());
            tracing::warn!(
                attempt,
                retry_in = ?pause,
                store = at.store,
                hosts = %at.hosts,
                error = %crate::error::chain(err.as_ref()),
                "a store is not reachable yet; waiting (--wait-for-stores)"
            )
        },
    )
    .await
    .map_err(|err| {
        let waited = if config.wait_for_stores.is_zero() {
            Duration::ZERO
        } else {
            started.elapsed()
        };
        describe(config, err, waited)
    })
}

/// Runs `attempt` until it succeeds, `retryable` says no, or `limit` has passed; between
/// attempts it sleeps `FIRST_BACKOFF`, doubling up to `MAX_BACKOFF` (never past `limit`).
/// `on_retry(attempt number, error, pause)` is told about each failure that is retried.
/// A zero `limit` makes exactly one attempt.
pub async fn retry_with_backoff<T, E, F, Fut>(
    limit: Duration,
    mut attempt: F,
    retryable: impl Fn(&E) -> bool,
    mut on_retry: impl FnMut(u32, &E, Duration),
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    let mut pause = FIRST_BACKOFF;
    let mut n = 1;
    loop {
        let err = match attempt().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() || !retryable(&err) {
            return Err(err);
        }
        let sleep = pause.min(left);
        on_retry(n, &err, sleep);
        tokio::time::sleep(sleep).await;
        pause = (pause * 2).min(MAX_BACKOFF);
        n += 1;
    }
}

/// Errors waiting cannot fix: a malformed URL or option, a feature this build lacks.
fn is_permanent(err: &(dyn std::error::Error + 'static)) -> bool {
    #[cfg(feature = "postgres")]
    if let Some(media_ha::postgres::PgError::Config(_)) = err.downcast_ref() {
        return true;
    }
    #[cfg(feature = "redis")]
    if let Some(media_ha::redis::RedisStoreError::Config(_)) = err.downcast_ref() {
        return true;
    }
    // `Stores::open` reports a missing feature as a plain message naming the feature.
    err.to_string().contains("needs a build with")
}

/// Wraps `err` with the store it came from, that store's hosts and what to check.
fn describe(config: &Config, err: StoreError, waited: Duration) -> StoreError {
    let at = Context::of(config, err.as_ref());
    Box::new(StoreUnreachable {
        store: at.store,
        hosts: at.hosts,
        flag: at.flag,
        waited,
        hint: at.hint,
        source: err,
    })
}

/// Which store an error came from, where it is, and what to check.
struct Context {
    store: &'static str,
    flag: &'static str,
    hosts: String,
    hint: &'static str,
}

impl Context {
    fn of(config: &Config, err: &(dyn std::error::Error + 'static)) -> Self {
        let (store, flag, url, hint) = match store_of(err, config) {
            Which::Postgres => (
                "PostgreSQL",
                "--postgres / MEDIA_HA_POSTGRES",
                config.stores.postgres.as_deref(),
                "that PostgreSQL runs and accepts TCP connections from this host \
                 (listen_addresses, pg_hba.conf, firewalls and NetworkPolicies), that the user, \
                 password and database in the URL exist, and sslmode if the server requires TLS",
            ),
            Which::Redis => (
                "Redis",
                "--redis / MEDIA_HA_REDIS",
                config.stores.redis.as_deref(),
                "that Redis (or its Sentinels) runs and is reachable from this host, the \
                 password in the URL (requirepass, Sentinel auth-pass), and rediss:// if the \
                 server requires TLS",
            ),
            Which::Unknown => (
                "a store",
                "--redis / --postgres",
                config
                    .stores
                    .postgres
                    .as_deref()
                    .or(config.stores.redis.as_deref()),
                "the store URLs and that the stores are reachable from this host",
            ),
        };
        Self {
            store,
            flag,
            hosts: url.map_or_else(|| "(no URL)".to_owned(), hosts_of),
            hint,
        }
    }
}

enum Which {
    Postgres,
    Redis,
    Unknown,
}

fn store_of(err: &(dyn std::error::Error + 'static), config: &Config) -> Which {
    #[cfg(feature = "postgres")]
    if err.downcast_ref::<media_ha::postgres::PgError>().is_some() {
        return Which::Postgres;
    }
    #[cfg(feature = "redis")]
    if err
        .downcast_ref::<media_ha::redis::RedisStoreError>()
        .is_some()
    {
        return Which::Redis;
    }
    let _ = err;
    match (&config.stores.redis, &config.stores.postgres) {
        (Some(_), None) => Which::Redis,
        (None, Some(_)) => Which::Postgres,
        _ => Which::Unknown,
    }
}

/// The hosts of a store URL (`host:port`, comma-separated; what follows `@` and precedes the
/// path), or the `host=`/`port=` of a PostgreSQL key-value string. Never the credentials.
pub fn hosts_of(url: &str) -> String {
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        return if hosts.is_empty() {
            "(default host)".to_owned()
        } else {
            hosts.to_owned()
        };
    }
    // key=value form: host=a,b port=5432
    let field = |key: &str| {
        url.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key).map(str::to_owned))
    };
    match (field("host="), field("port=")) {
        (Some(h), Some(p)) => format!("{h} port {p}"),
        (Some(h), None) => h,
        _ => "(default host)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn hosts_never_show_credentials() {
        assert_eq!(
            hosts_of(
                "postgres://media:secret@db1:5432,db2:5433/media?target_session_attrs=read-write"
            ),
            "db1:5432,db2:5433"
        );
        assert_eq!(
            hosts_of("redis://:pw@redis.db.svc:6379/0"),
            "redis.db.svc:6379"
        );
        assert_eq!(
            hosts_of("redis+sentinel://:pw@s1:26379,s2:26379/mymaster"),
            "s1:26379,s2:26379"
        );
        assert_eq!(hosts_of("redis://127.0.0.1"), "127.0.0.1");
        assert_eq!(
            hosts_of("host=db port=5432 user=media password=secret"),
            "db port 5432"
        );
        assert_eq!(hosts_of("postgres:///media"), "(default host)");
    }

    #[tokio::test(start_paused = true)]
    async fn retries_with_doubling_pauses_until_success() {
        let calls = AtomicU32::new(0);
        let mut pauses = Vec::new();
        let started = tokio::time::Instant::now();
        let out: Result<u32, String> = retry_with_backoff(
            Duration::from_secs(60),
            || async {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                if n < 5 {
                    Err(format!("down {n}"))
                } else {
                    Ok(n)
                }
            },
            |_| true,
            |_, _, pause| pauses.push(pause),
        )
        .await;
        assert_eq!(out, Ok(5));
        assert_eq!(
            pauses,
            [500, 1000, 2000, 4000].map(Duration::from_millis).to_vec()
        );
        assert_eq!(started.elapsed(), Duration::from_millis(7500));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_limit_with_the_last_error() {
        let calls = AtomicU32::new(0);
        let started = tokio::time::Instant::now();
        let out: Result<(), String> = retry_with_backoff(
            Duration::from_secs(30),
            || async { Err(format!("down {}", calls.fetch_add(1, Ordering::SeqCst) + 1)) },
            |_| true,
            |_, _, _| {},
        )
        .await;
        // 0.5 + 1 + 2 + 4 + 8 + 10 = 25.5 s, then the last pause is cut to the 4.5 s left.
        assert_eq!(out, Err("down 8".to_owned()));
        assert_eq!(started.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn no_wait_and_permanent_errors_make_one_attempt() {
        for (limit, retryable) in [(Duration::ZERO, true), (Duration::from_secs(60), false)] {
            let calls = AtomicU32::new(0);
            let out: Result<(), &str> = retry_with_backoff(
                limit,
                || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err("bad url")
                },
                |_| retryable,
                |_, _, _| {},
            )
            .await;
            assert_eq!(out, Err("bad url"));
            assert_eq!(calls.load(Ordering::SeqCst), 1);
        }
    }
}
