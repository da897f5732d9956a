//! The start-up check that each connection is one PostgreSQL session of its own.
//!
//! # Why
//!
//! This crate relies on session state: the `search_path` and `statement_timeout` set when a
//! connection opens, the migration lock (a session advisory lock, see [`crate::migrate`]),
//! `LISTEN` for events, and prepared statements cached per connection. A pooler that hands a
//! client's consecutive transactions to different server sessions (PgBouncer, pgcat or Odyssey
//! in *transaction* or *statement* mode) breaks every one of them, and at first silently:
//! statements run against another schema or fail with "prepared statement \"s1\" does not
//! exist", events are never delivered, two replicas migrate at once. So
//! [`PgStore::connect`](crate::PgStore::connect) refuses such a set-up with
//! [`PgError::Unsupported`] naming the fix, instead of starting and failing later.
//!
//! # How
//!
//! Two connections, A and B, opened as every connection is (settings applied), and only simple
//! queries (no prepared statements), so the check itself runs through any pooler:
//! 1. A reads its backend pid and its `search_path`;
//! 2. B opens a transaction and reads its backend pid, keeping the transaction open so that
//!    the server session stays B's;
//! 3. A reads its backend pid and `search_path` again, waiting at most the statement timeout.
//!
//! On a direct connection, or through a pooler in session mode, A keeps its session (same pid,
//! our `search_path`) and B has another one. A transaction pooler gives B the session A has
//! just released (PgBouncer reuses the most recently released one first), or gives A another
//! session, or makes A wait for a free one: each of these refuses the start. A round-robin
//! pooler with several idle sessions could still slip through step 2 and 3 by chance; that is
//! the limit of a check from the client side, and why the docs say to use session mode.

use std::time::Duration;

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::config::PgStoreConfig;
use crate::error::{PgError, PgResult};

const WHAT: &str = "start-up check";

const PROBE: &str = "SELECT pg_backend_pid()::text, current_setting('search_path')";

/// What to do instead, in the refusal's message.
const FIX: &str = "media-ha needs one server session per connection (session settings, the \
    migration lock, LISTEN and prepared statements are per session): set pool_mode=session \
    for this database in PgBouncer (or the equivalent in your pooler), or connect to \
    PostgreSQL directly (e.g. CloudNativePG's -rw Service, or a multi-host URL with \
    target_session_attrs=read-write)";

/// Checks that connections made with `config` are sessions of their own (see the module
/// docs).
///
/// # Errors
/// [`PgError::Unsupported`] when they are not; the connection errors otherwise.
pub(crate) async fn run(config: &PgStoreConfig) -> PgResult<()> {
    let (a, _a_notifications) = crate::connect::open(config, WHAT, "check").await?;
    let (first_pid, search_path) = probe(&a, config).await?;
    if search_path != config.schema {
        return Err(refuse(
            config,
            format!(
                "the search_path set when the connection opened did not hold for the next \
                 statement (it is {search_path:?}, expected {:?}): something between us and \
                 the server reset the session or moved us to another one",
                config.schema
            ),
        ));
    }
    let (b, _b_notifications) = crate::connect::open(config, WHAT, "check").await?;
    let b_rows = b
        .simple_query("BEGIN; SELECT pg_backend_pid()::text")
        .await
        .map_err(|e| db(config, e))?;
    let b_pid = first_value(&b_rows).unwrap_or_default();
    let verdict = if b_pid == first_pid {
        Some(format!(
            "a second connection was given the server session (backend pid {first_pid}) of \
             the first one while the first was still open: a pooler shares sessions between \
             connections (transaction or statement pooling)"
        ))
    } else {
        // Bounded: a transaction pooler out of free sessions would make A wait for B's.
        let wait = config.statement_timeout.min(Duration::from_secs(5));
        match tokio::time::timeout(wait, probe(&a, config)).await {
            Err(_) => Some(format!(
                "a connection had to wait more than {wait:?} for a server session while \
                 another connection held a transaction: a pooler shares sessions between \
                 connections (transaction or statement pooling)"
            )),
            Ok(Err(e)) => return Err(e),
            Ok(Ok((pid, _))) if pid != first_pid => Some(format!(
                "one connection's consecutive statements ran on different server sessions \
                 (backend pid {first_pid}, then {pid}): a pooler hands out sessions per \
                 transaction (transaction or statement pooling)"
            )),
            Ok(Ok((_, path))) if path != config.schema => Some(format!(
                "the search_path set when the connection opened did not hold (it is \
                 {path:?}, expected {:?}): a pooler hands out sessions per transaction",
                config.schema
            )),
            Ok(Ok(_)) => None,
        }
    };
    // Ending B's transaction is courtesy: closing the connection ends it anyway.
    let _ = b.simple_query("ROLLBACK").await;
    match verdict {
        Some(problem) => Err(refuse(config, problem)),
        None => Ok(()),
    }
}

/// A's backend pid and `search_path`.
async fn probe(client: &Client, config: &PgStoreConfig) -> PgResult<(String, String)> {
    let rows = client
        .simple_query(PROBE)
        .await
        .map_err(|e| db(config, e))?;
    let row = rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    match row.and_then(|r| Some((r.get(0)?.to_owned(), r.get(1)?.to_owned()))) {
        Some(pair) => Ok(pair),
        None => Err(PgError::Decode {
            what: format!("the answer to {PROBE:?}"),
            source: "no row".into(),
        }),
    }
}

fn first_value(messages: &[SimpleQueryMessage]) -> Option<String> {
    messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
        _ => None,
    })
}

fn db(config: &PgStoreConfig, e: tokio_postgres::Error) -> PgError {
    PgError::from_db(WHAT, e, config.statement_timeout)
}

fn refuse(config: &PgStoreConfig, problem: String) -> PgError {
    PgError::Unsupported {
        target: config.target(),
        problem,
        fix: FIX,
    }
}
