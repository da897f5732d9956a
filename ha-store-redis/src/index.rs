//! Loose secondary indexes (sorted sets of member names) for `list` operations.
//!
//! # Why loose
//!
//! Records and their index live in different Cluster slots, so no script can update both
//! atomically. Writers add the member after writing the record; readers trust only members
//! whose record exists and prune the others, sparing any member re-added meanwhile (its score
//! changed). A crash between the two writes leaves at most an unlisted record, which still
//! expires on its own TTL.

use crate::error::StoreResult;
use crate::RedisStore;

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
