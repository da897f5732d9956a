//! Concurrent user-data writes as one statement (group commit).
//!
//! # Why
//!
//! Every viewer's client reports its position every few seconds, and marks items played or
//! favourite; each write is one `INSERT … ON CONFLICT` transaction. PostgreSQL's cost per
//! statement (bind, snapshot, commit, the WAL flush) dwarfs its cost per row, and so does the
//! client's (a pooled connection, a round trip, a wake-up). So writes that arrive while none
//! has been sent yet go together ([`ha_core::batch::Batcher`]) as one `unnest` statement: one
//! transaction, one commit for the batch.
//!
//! # Semantics
//!
//! Each caller's write is applied as if the writes ran one after the other in queue order:
//! of two writes of one (user, item) in a batch the later is kept (the earlier one would have
//! been overwritten at once, which no reader could tell apart). Every caller gets the answer
//! about its own row: when the statement fails for a reason that belongs to a row (a missing
//! user or item, a value PostgreSQL refuses, such as a NUL byte a hostile client sent), the
//! batch is re-run one row at a time on the same connection, so only that caller sees the
//! error and the other writes land; when it fails for the store's sake (unreachable, timed
//! out), every caller gets that error, shared. A caller that gives up (its deadline passed)
//! may still have its write applied, as when one statement's reply is lost.
//!
//! Rows are written in key order, so two batches in flight at once lock shared rows in the
//! same order and cannot deadlock each other.

use std::collections::HashMap;
use std::sync::Arc;

use ha_core::batch::Batcher;

use super::user_data::{self, UserDataRow};
use crate::error::{PgError, PgResult};
use crate::PgStore;

/// At most this many writes per statement: a bound keeps one statement short, and under a
/// storm of writes lets several statements be in flight on several server backends. On the
/// 2-core harness a cap of 4 and of 16 measured the same (docs/BENCHMARKS.md, item 4).
pub(crate) const MAX_BATCH: usize = 16;

/// What a batch is reported as in its errors.
const WHAT: &str = "put user data";

/// The queue of writes not sent yet, one per store.
pub(crate) type UserDataQueue = Batcher<UserDataRow, PgResult<()>>;

/// The queue a store starts with.
pub(crate) fn queue() -> Arc<UserDataQueue> {
    Arc::new(Batcher::new(MAX_BATCH))
}

/// Writes `row` together with the writes issued concurrently through `store`.
pub(super) async fn put(store: &PgStore, row: UserDataRow) -> PgResult<()> {
    let batch_store = store.clone();
    store
        .user_data_queue()
        .submit(
            row,
            move |rows| async move { write(&batch_store, rows).await },
        )
        .await
        .unwrap_or_else(|| {
            Err(PgError::Unavailable {
                what: WHAT.to_owned(),
                source: "the write batch's task ended (the runtime is shutting down)".into(),
            })
        })
}

/// Writes a batch on one connection: an answer per row, in order.
async fn write(store: &PgStore, rows: Vec<UserDataRow>) -> Vec<PgResult<()>> {
    let n = rows.len();
    let conn = match store.conn(WHAT).await {
        Ok(conn) => conn,
        Err(e) => return shared(e, n),
    };
    if n == 1 {
        return vec![user_data::put_one(&conn, &rows[0]).await];
    }
    match user_data::put_many(&conn, &last_write_per_key(&rows)).await {
        Ok(()) => (0..n).map(|_| Ok(())).collect(),
        // A row's own fault: each row alone, so the error reaches its caller only.
        Err(e) if e.failure().is_none() => {
            let mut answers = Vec::with_capacity(n);
            for row in &rows {
                answers.push(user_data::put_one(&conn, row).await);
            }
            answers
        }
        Err(e) => shared(e, n),
    }
}

/// The last write of each (user, item) in `rows`, in key order.
fn last_write_per_key(rows: &[UserDataRow]) -> Vec<&UserDataRow> {
    let mut last: HashMap<(&str, &str), &UserDataRow> = HashMap::with_capacity(rows.len());
    for row in rows {
        last.insert(user_data::key(row), row);
    }
    let mut distinct: Vec<_> = last.into_iter().collect();
    distinct.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    distinct.into_iter().map(|(_, row)| row).collect()
}

/// One error for `n` callers, its source shared.
fn shared(e: PgError, n: usize) -> Vec<PgResult<()>> {
    let e = Arc::new(e);
    (0..n)
        .map(|_| {
            Err(PgError::Batched {
                what: WHAT,
                source: e.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ha_core::UserItemData;

    fn row(user: &str, item: &str, position_ticks: i64) -> UserDataRow {
        UserDataRow::new(&UserItemData {
            user_id: user.into(),
            item_id: item.into(),
            played: false,
            play_count: 0,
            position_ticks,
            last_played_ms: None,
            is_favorite: false,
        })
        .expect("valid row")
    }

    #[test]
    fn the_later_write_of_a_key_wins_and_keys_come_sorted() {
        let rows = [
            row("u2", "a", 1),
            row("u1", "b", 2),
            row("u2", "a", 3),
            row("u1", "a", 4),
        ];
        let kept: Vec<_> = last_write_per_key(&rows)
            .into_iter()
            .map(|r| (user_data::key(r), r.position_ticks()))
            .collect();
        assert_eq!(
            kept,
            [(("u1", "a"), 4), (("u1", "b"), 2), (("u2", "a"), 3)],
            "one row per key, the later write, in key order"
        );
    }
}
