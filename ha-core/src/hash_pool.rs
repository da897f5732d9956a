//! A small, fixed set of threads for password hashing ([`crate::auth`]'s Argon2id), fed by a
//! bounded queue.
//!
//! # Why not `spawn_blocking`
//!
//! Argon2id with the default parameters allocates a 19 MiB block per hash. On tokio's blocking
//! pool each hash can land on any of up to 512 threads, and glibc gives threads their own malloc
//! arenas (up to 8 per core) and keeps what they freed mapped: a server that had signed in a
//! few thousand clients held one 19 MiB high-water mark per arena it had touched, which looked
//! like ~95 MiB per 1,000 sessions (docs/BENCHMARKS.md, item 8). A sign-in flood also ran as
//! many hashes at once as it sent requests, each with its 19 MiB.
//!
//! Here at most `threads` hashes run at once, always on the same threads, so the memory they
//! take is bounded by `threads × 19 MiB` and reached at the first few sign-ins; callers beyond
//! that wait (asynchronously) in a bounded queue, which is the back-pressure a sign-in flood
//! should meet. More threads than cores would not hash faster anyway: the work is CPU-bound.

use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

use tokio::sync::{mpsc, oneshot};

use crate::{auth, Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// See the module docs.
#[derive(Debug, Clone)]
pub struct HashPool {
    tx: mpsc::Sender<Job>,
    threads: usize,
}

impl HashPool {
    /// A pool of `threads` threads (at least one) with room for `queue` waiting jobs (at least
    /// one); further callers wait for room.
    ///
    /// # Errors
    /// When the OS refuses to start a thread.
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>(queue.max(1));
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            thread::Builder::new()
                .name(format!("ha-hash-{i}"))
                .spawn(move || loop {
                    // One thread waits on the queue at a time; the others wait for the lock.
                    let job = crate::sync::lock(&rx).blocking_recv();
                    match job {
                        Some(job) => job(),
                        None => return, // every sender dropped
                    }
                })?;
        }
        Ok(Self { tx, threads })
    }

    /// One pool per process, with a thread per available core and a queue of 64 (created on
    /// first use).
    ///
    /// # Errors
    /// When the pool's threads could not be started.
    pub fn shared() -> Result<&'static HashPool> {
        static SHARED: OnceLock<std::result::Result<HashPool, String>> = OnceLock::new();
        let cores = thread::available_parallelism().map_or(2, usize::from);
        SHARED
            .get_or_init(|| HashPool::new(cores, 64).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::backend("password hashing pool", std::io::Error::other(e.clone())))
    }

    /// How many hashes may run at once.
    pub fn threads(&self) -> usize {
        self.threads
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(f());
        });
        let gone = || Error::backend("password hashing pool", std::io::Error::other("stopped"));
        self.tx.send(job).await.map_err(|_| gone())?;
        result.await.map_err(|_| gone())
    }

    /// [`auth::hash_password`] on the pool.
    ///
    /// # Errors
    /// As [`auth::hash_password`], or when the pool's threads are gone.
    pub async fn hash(&self, password: String) -> Result<String> {
        self.run(move || auth::hash_password(&password)).await?
    }

    /// [`auth::verify_password`] on the pool; `false` when the pool's threads are gone.
    pub async fn verify(&self, password: String, stored_hash: String) -> bool {
        self.run(move || auth::verify_password(&password, &stored_hash))
            .await
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_verify_and_run_on_the_pool_threads_only() {
        let pool = HashPool::new(2, 1).unwrap();
        let hash = pool.hash("hunter2".into()).await.unwrap();
        assert!(pool.verify("hunter2".into(), hash.clone()).await);
        assert!(!pool.verify("hunter3".into(), hash).await);

        // Many callers, a queue of one: all served, on at most two distinct threads.
        let names = (0..8)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    pool.run(|| thread::current().name().map(str::to_owned))
                        .await
                        .unwrap()
                })
            })
            .collect::<Vec<_>>();
        let mut seen = HashSet::new();
        for task in names {
            seen.insert(task.await.unwrap().expect("named pool thread"));
        }
        assert!(seen.len() <= 2, "{seen:?}");
        assert!(seen.iter().all(|n| n.starts_with("ha-hash-")), "{seen:?}");
    }

    #[tokio::test]
    async fn too_long_a_password_is_refused_not_hashed() {
        let pool = HashPool::new(1, 1).unwrap();
        assert!(matches!(
            pool.hash("x".repeat(5000)).await,
            Err(Error::Invalid(_))
        ));
    }
}
