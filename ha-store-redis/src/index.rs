//! Loose secondary indexes (sorted sets of member names) for `list` operations.
//!
//! # Why loose
//!
//! Records and their index live in different Cluster slots, so no script can update both
//! atomically. Writers add the member after writing the record; readers trust only members
//! whose record exists and prune the others, sparing any member re-added meanwhile (its score
//! changed). A crash between the two writes leaves at most an unlisted record, which still
//! expires on its own TTL.
//!
//! [`list`] is that read, shared by every store with a `list`: the index, then every record it
//! names in one pipeline (on Cluster, where a pipeline must stay in one slot, one call per
//! record), then the prune of the members whose record is gone. [`remove`] is the
//! other side: the record, then its member.

use redis::{Cmd, Value};

use crate::error::StoreResult;
use crate::RedisStore;

/// The records `index` names, in index order, pruning members whose record is gone.
///
/// `fetch` builds the command that reads one member's record; `decode` turns its reply into
/// the record, or `None` when the record no longer exists. `what` names the read in errors,
/// `prune_what` the prune.
pub(crate) async fn list<T>(
    store: &RedisStore,
    (what, prune_what): (&'static str, &'static str),
    index: &str,
    fetch: impl Fn(&str) -> Cmd,
    mut decode: impl FnMut(Vec<Value>) -> ha_core::Result<Option<T>>,
) -> ha_core::Result<Vec<T>> {
    let mut conn = store.conn();
    let members: Vec<(String, f64)> = store
        .call(
            what,
            redis::cmd("ZRANGE")
                .arg(index)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(&mut conn),
        )
        .await?;
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let replies: Vec<Vec<Value>> = if store.is_cluster() {
        // The records are in many slots and a Cluster pipeline must stay in one
        // (`CROSSSLOT`): one call per record instead, in order.
        let mut replies = Vec::with_capacity(members.len());
        for (member, _) in &members {
            let cmd = fetch(member);
            replies.push(store.call(what, cmd.query_async(&mut conn)).await?);
        }
        replies
    } else {
        let mut pipe = redis::pipe();
        for (member, _) in &members {
            pipe.add_command(fetch(member));
        }
        store.call(what, pipe.query_async(&mut conn)).await?
    };
    let mut records = Vec::with_capacity(members.len());
    let mut gone = Vec::new();
    for ((member, score), reply) in members.into_iter().zip(replies) {
        match decode(reply)? {
            Some(record) => records.push(record),
            None => gone.push((member, score)),
        }
    }
    if !gone.is_empty() {
        prune(store, prune_what, index, &gone).await?;
    }
    Ok(records)
}

/// Deletes `record` and then takes `member` out of `index`. Returns whether the record existed.
/// `what` names the delete in errors, `index_what` the index update.
pub(crate) async fn remove(
    store: &RedisStore,
    (what, index_what): (&'static str, &'static str),
    record: &str,
    index: &str,
    member: &str,
) -> StoreResult<bool> {
    let mut conn = store.conn();
    let removed: i64 = store
        .call(what, redis::cmd("DEL").arg(record).query_async(&mut conn))
        .await?;
    store
        .call(
            index_what,
            redis::cmd("ZREM")
                .arg(index)
                .arg(member)
                .query_async::<i64>(&mut conn),
        )
        .await?;
    Ok(removed == 1)
}

/// Removes `gone` (member, score seen) from `index` unless re-added since.
pub(crate) async fn prune(
    store: &RedisStore,
    what: &'static str,
    index: &str,
    gone: &[(String, f64)],
) -> StoreResult<()> {
    let mut invocation = store.scripts().index_prune.prepare_invoke();
    invocation.key(index);
    for (member, score) in gone {
        invocation.arg(member).arg(*score);
    }
    let mut conn = store.conn();
    store
        .call(what, invocation.invoke_async::<i64>(&mut conn))
        .await?;
    Ok(())
}
