//! Concurrent lease acquires combined into one script call.
//!
//! # Why
//!
//! An acquire is one `lua/lease_acquire.lua` call: five commands on the server per lease plus
//! the call's own cost (argument parsing, the script lookup, the Lua state set-up and the reply),
//! and on the client one request to encode, send, parse and wake its caller for. With many
//! callers at once (a replica starting its jobs, the benchmark's 50 tasks), most of that cost is
//! per call, not per lease. So acquires that arrive while none has been sent yet travel
//! together: one `EVALSHA` with N (lease, fence) key pairs, one `TIME`, N answers.
//!
//! # How
//!
//! [`ha_core::batch::Batcher`]: acquires that arrive while none has been sent yet share one
//! call of at most [`MAX_BATCH`] entries.
//!
//! # Semantics
//!
//! The same as one call per acquire, in queue order: the script handles entries one after the
//! other, atomically, so a key named twice goes to the first entry. A caller that gives up
//! (its future dropped by a timeout) may still get its lease taken on the server, exactly as
//! when a single call's reply is lost; the lease then expires after its TTL. On Cluster the
//! keys of one call must share a slot and leases live in different slots by design, so there
//! each acquire is its own call (a batch of one), sent from the caller's task.

use std::sync::Arc;

use ha_core::batch::Batcher;

use crate::error::{RedisStoreError, StoreResult};
use crate::RedisStore;

/// At most this many acquires per script call: the server runs a call atomically, so a bound
/// keeps one call from holding it for long (≈ 5 µs of server time per lease).
pub(crate) const MAX_BATCH: usize = 64;

/// What a call is reported as in errors and in `media_ha_store_errors_total{op}`.
const WHAT: &str = "lease acquire";
/// The same for a take-over, which is always sent on its own.
const TAKE_OVER: &str = "lease take-over";

/// One acquire, with its keys already prefixed.
#[derive(Debug)]
pub(crate) struct AcquireRequest {
    /// The lease hash.
    pub lease: String,
    /// Its fence counter.
    pub fence: String,
    pub holder: String,
    pub ttl_ms: u64,
    /// How long the fence counter is kept.
    pub keep_ms: u64,
    /// The tenure a take-over replaces: its holder and its token as a decimal string.
    pub stale: Option<(String, String)>,
}

/// The answer to one acquire: the token as a decimal string, or `None` when the lease is held.
pub(crate) type Answer = StoreResult<Option<String>>;

/// The queue of acquires not sent yet, one per store.
pub(crate) type AcquireQueue = Batcher<AcquireRequest, Answer>;

/// The queue a store starts with.
pub(crate) fn queue() -> Arc<AcquireQueue> {
    Arc::new(Batcher::new(MAX_BATCH))
}

/// Runs `request`, batched with the acquires issued concurrently through the same store.
pub(crate) async fn acquire(store: &RedisStore, request: AcquireRequest) -> Answer {
    // A take-over (rare: a holder found dead) is a call of its own, reported under its own
    // name as before batching.
    let alone = if request.stale.is_some() {
        Some(TAKE_OVER)
    } else if store.is_cluster() {
        Some(WHAT)
    } else {
        None
    };
    if let Some(what) = alone {
        return run(store, what, vec![request])
            .await
            .and_then(|mut answers| {
                answers
                    .pop()
                    .ok_or_else(|| RedisStoreError::protocol(what, "no answer"))
            });
    }
    let batch_store = store.clone();
    store
        .acquire_queue()
        .submit(request, move |requests| async move {
            run_batch(&batch_store, requests).await
        })
        .await
        // No answer: the flush task was aborted (the runtime is shutting down).
        .unwrap_or_else(|| Err(RedisStoreError::protocol(WHAT, "batch task ended")))
}

/// One call for a batch, its one error shared (with its source) by every caller in it.
async fn run_batch(store: &RedisStore, requests: Vec<AcquireRequest>) -> Vec<Answer> {
    let n = requests.len();
    match run(store, WHAT, requests).await {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(e) => {
            let e = Arc::new(e);
            (0..n)
                .map(|_| {
                    Err(RedisStoreError::Batched {
                        what: WHAT,
                        source: e.clone(),
                    })
                })
                .collect()
        }
    }
}

/// One `lua/lease_acquire.lua` call over `requests`: an answer per request, in order.
async fn run(
    store: &RedisStore,
    what: &'static str,
    requests: Vec<AcquireRequest>,
) -> StoreResult<Vec<Option<String>>> {
    let start = store.incarnation_start_us().await?;
    let mut invocation = store.scripts().lease_acquire.prepare_invoke();
    invocation.arg(start);
    for r in &requests {
        let (stale_holder, stale_token) = match &r.stale {
            Some((holder, token)) => (holder.as_str(), token.as_str()),
            None => ("", "0"),
        };
        invocation
            .key(&r.lease)
            .key(&r.fence)
            .arg(&r.holder)
            .arg(r.ttl_ms)
            .arg(r.keep_ms)
            .arg(stale_holder)
            .arg(stale_token);
    }
    let mut conn = store.conn();
    let tokens: Vec<String> = store.call(what, invocation.invoke_async(&mut conn)).await?;
    if tokens.len() != requests.len() {
        return Err(RedisStoreError::protocol(
            what,
            format!("{} answers for {} acquires", tokens.len(), requests.len()),
        ));
    }
    Ok(tokens
        .into_iter()
        .map(|t| (!t.is_empty()).then_some(t))
        .collect())
}
