//! Concurrent store calls combined into one round trip (group commit).
//!
//! # Why
//!
//! A store call costs the server a fixed amount per call (parsing, a script lookup, a
//! transaction and its commit) on top of its work per row, and the client one request to
//! encode, send, parse and wake its caller for. With many callers at once (50 jobs started
//! together, 16 viewers reporting progress) most of that cost is per call, not per row. A
//! [`Batcher`] lets calls that arrive while none of them has been sent yet travel together:
//! one round trip, one answer per caller. The Redis store sends concurrent lease acquires as
//! one script call, the PostgreSQL store concurrent user-data writes as one statement.
//!
//! # How
//!
//! A caller pushes its request on the queue. The caller that finds the queue empty spawns a
//! flush task; the flush runs after the tasks that were already runnable, so every request
//! issued in the meantime is in the queue by then. The flush takes up to `max_batch` requests
//! (spawning another flush for the rest), runs them as one call on its own task and answers
//! each caller. The invariant: while the queue is not empty, a flush that has not drained it
//! yet is scheduled. A lone caller pays one task spawn and one channel, no waiting: the flush
//! is scheduled at once, not after a delay.
//!
//! # Semantics
//!
//! The `run` function gets the requests in queue order and must answer each, in that order.
//! A caller that gives up (its future dropped by a timeout) leaves its request in the batch:
//! the call may still take effect, exactly as when a single call's reply is lost. How an error
//! of the one call is shared among the callers is `run`'s choice (the stores wrap it in an
//! `Arc`, or retry each request alone when the error belongs to one of them).
//!
//! ```
//! use std::sync::Arc;
//! use ha_core::batch::Batcher;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let batcher = Arc::new(Batcher::new(64));
//! let double = |requests: Vec<u32>| async move {
//!     // One round trip for every request queued so far.
//!     requests.into_iter().map(|r| r * 2).collect::<Vec<_>>()
//! };
//! let (a, b) = tokio::join!(batcher.submit(1, double), batcher.submit(2, double));
//! assert_eq!((a, b), (Some(2), Some(4)));
//! # }
//! ```

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

struct Pending<R, A> {
    request: R,
    reply: oneshot::Sender<A>,
}

/// A queue of requests not sent yet, flushed as batches of at most `max_batch`.
///
/// Keep one per store (behind an `Arc`) and pass the function that runs a batch to
/// [`Batcher::submit`]; the function is not stored, so it may hold the store without making a
/// reference cycle.
pub struct Batcher<R, A> {
    pending: Mutex<Vec<Pending<R, A>>>,
    max_batch: usize,
}

impl<R, A> std::fmt::Debug for Batcher<R, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("max_batch", &self.max_batch)
            .finish_non_exhaustive()
    }
}

impl<R: Send + 'static, A: Send + 'static> Batcher<R, A> {
    /// A queue whose calls carry at most `max_batch` requests (at least 1): a bound keeps one
    /// call from holding the server for long, and lets several calls be in flight at once.
    pub fn new(max_batch: usize) -> Self {
        Self {
            pending: Mutex::new(Vec::new()),
            max_batch: max_batch.max(1),
        }
    }

    /// The most requests one call carries.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Runs `request` together with the requests submitted concurrently, through `run`, which
    /// gets a batch in queue order and must return one answer per request, in the same order.
    ///
    /// Returns `None` when the call ended without an answer for this request: `run` returned
    /// fewer answers than requests, panicked, or its task was aborted (the runtime is shutting
    /// down). Must be called within a Tokio runtime.
    pub async fn submit<F, Fut>(self: &Arc<Self>, request: R, run: F) -> Option<A>
    where
        F: FnOnce(Vec<R>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Vec<A>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let first = {
            let mut pending = crate::sync::lock(&self.pending);
            pending.push(Pending { request, reply });
            pending.len() == 1
        };
        if first {
            schedule(self.clone(), run);
        }
        answer.await.ok()
    }

    /// Sends up to `max_batch` queued requests as one call and answers their callers.
    async fn flush<F, Fut>(self: Arc<Self>, run: F)
    where
        F: FnOnce(Vec<R>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Vec<A>> + Send + 'static,
    {
        let batch: Vec<Pending<R, A>> = {
            let mut pending = crate::sync::lock(&self.pending);
            let n = pending.len().min(self.max_batch);
            let batch = pending.drain(..n).collect();
            if !pending.is_empty() {
                schedule(self.clone(), run.clone());
            }
            batch
        };
        if batch.is_empty() {
            return;
        }
        let (requests, replies): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|p| (p.request, p.reply)).unzip();
        let answers = run(requests).await;
        for (reply, answer) in replies.into_iter().zip(answers) {
            // A caller that gave up no longer listens.
            let _ = reply.send(answer);
        }
    }
}

/// Spawns a flush (a plain function, so `flush` need not prove its own future `Send`).
fn schedule<R, A, F, Fut>(batcher: Arc<Batcher<R, A>>, run: F)
where
    R: Send + 'static,
    A: Send + 'static,
    F: FnOnce(Vec<R>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Vec<A>> + Send + 'static,
{
    tokio::spawn(batcher.flush(run));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Concurrent submits share calls of at most `max_batch`, and each caller gets its own
    /// answer.
    #[tokio::test]
    async fn concurrent_requests_share_bounded_calls_and_get_their_own_answers() {
        let batcher = Arc::new(Batcher::new(4));
        let calls = Arc::new(AtomicUsize::new(0));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let run = {
            let (calls, sizes) = (calls.clone(), sizes.clone());
            move |requests: Vec<usize>| async move {
                calls.fetch_add(1, Ordering::SeqCst);
                sizes.lock().unwrap().push(requests.len());
                requests.into_iter().map(|r| r + 100).collect::<Vec<_>>()
            }
        };
        let answers =
            futures::future::join_all((0..10).map(|i| batcher.submit(i, run.clone()))).await;
        assert_eq!(
            answers,
            (0..10).map(|i| Some(i + 100)).collect::<Vec<_>>(),
            "every caller gets the answer to its own request"
        );
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 10, "every request sent once");
        assert!(sizes.iter().all(|&n| n <= 4), "calls bounded: {sizes:?}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "10 requests in calls of 4: {sizes:?}"
        );
    }

    /// A lone request is sent at once, and a later one starts a new call.
    #[tokio::test]
    async fn a_lone_request_is_its_own_call() {
        let batcher = Arc::new(Batcher::new(64));
        let run = |requests: Vec<&'static str>| async move { vec![requests.len(); requests.len()] };
        assert_eq!(batcher.submit("a", run).await, Some(1));
        assert_eq!(batcher.submit("b", run).await, Some(1));
    }

    /// A call that answers too few requests leaves the others with `None`, not hanging.
    #[tokio::test]
    async fn missing_answers_are_none() {
        let batcher = Arc::new(Batcher::new(8));
        let run =
            |requests: Vec<u8>| async move { requests.into_iter().take(1).collect::<Vec<_>>() };
        let (a, b) = tokio::join!(batcher.submit(1, run), batcher.submit(2, run));
        assert_eq!((a, b), (Some(1), None));
    }
}
