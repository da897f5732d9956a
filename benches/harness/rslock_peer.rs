//! The `rslock` crate (Redlock) as a lease peer, measured in-process like our side.
//!
//! Why in-process and not a CLI: rslock is a library, so the fair comparison is the same
//! closed loop (`load::closed_loop`), the same task count on the same current-thread runtime,
//! against the same private server. Both clients multiplex one connection per server
//! (rslock keeps one `MultiplexedConnection`; ours a `ConnectionManager`), so the ratio
//! compares what each does per call: rslock's acquire is `SET NX PX` plus client-side
//! validity arithmetic, its extend and unlock are Lua scripts that compare the random value;
//! ours issue and check fencing tokens.
//!
//! One node, no retries: Redlock's quorum on one server is one, and every acquire here is on
//! a fresh key, so a retry would only hide an error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rslock::{Lock, LockManager};

use crate::load::{closed_loop, LoadStats};
use crate::peers::PeerStats;
use crate::redis_cli::PhaseProfile;

/// What the three rslock phases measured.
pub struct RslockStats {
    pub lock: LoadStats,
    pub extend: LoadStats,
    pub unlock: LoadStats,
    /// Server and client cost of the lock phase (`redis_cli::PhaseProfile`).
    pub lock_profile: String,
}

/// How a reader reproduces the peer side.
fn command(op: &str, clients: usize) -> String {
    format!(
        "rslock 0.10 LockManager::{op} on one node (quorum 1, no retries), {clients} tasks on one \
         current-thread runtime, one multiplexed connection (benches/harness/rslock_peer.rs)"
    )
}

impl RslockStats {
    /// The `lock` phase as a peer row.
    pub fn lock_peer(&self, clients: usize) -> PeerStats {
        peer(&self.lock, command("lock", clients))
    }
    /// The `extend` phase as a peer row.
    pub fn extend_peer(&self, clients: usize) -> PeerStats {
        peer(&self.extend, command("extend", clients))
    }
    /// The `unlock` phase as a peer row.
    pub fn unlock_peer(&self, clients: usize) -> PeerStats {
        peer(&self.unlock, command("unlock", clients))
    }
}

fn peer(stats: &LoadStats, command: String) -> PeerStats {
    PeerStats {
        ops_per_sec: stats.ops_per_sec,
        p50_ms: Some(stats.p50_ms),
        p99_ms: Some(stats.p99_ms),
        avg_ms: None,
        command,
    }
}

/// Runs lock (fresh keys), extend (each task its own lock) and unlock (everything the lock
/// phase took) for `secs` each with `clients` tasks against `url`.
pub async fn run(port: u16, clients: usize, secs: Duration, ttl: Duration) -> RslockStats {
    let mut manager = LockManager::new(vec![format!("redis://127.0.0.1:{port}/")]);
    manager.set_retry(1, Duration::from_millis(1));
    let manager = Arc::new(manager);

    let taken: Arc<Mutex<Vec<Lock>>> = Arc::default();
    let (m, t) = (manager.clone(), taken.clone());
    let lock_profile = PhaseProfile::start(port, "set");
    let lock = closed_loop(clients, secs, move |task, seq| {
        let (m, taken) = (m.clone(), t.clone());
        async move {
            let resource = format!("rslock:a{task}-{seq}");
            let lock = m.lock(resource.as_bytes(), ttl).await?;
            taken.lock().unwrap().push(lock);
            Ok::<_, rslock::LockError>(true)
        }
    })
    .await;
    let lock_profile = lock_profile.finish(port, lock.ops);

    let mut own = Vec::with_capacity(clients);
    for task in 0..clients {
        let resource = format!("rslock:r{task}");
        own.push(
            manager
                .lock(resource.as_bytes(), ttl)
                .await
                .expect("rslock: lock of a fresh key"),
        );
    }
    let own = Arc::new(own);
    let m = manager.clone();
    let extend = closed_loop(clients, secs, move |task, _| {
        let (m, own) = (m.clone(), own.clone());
        async move { m.extend(&own[task], ttl).await.map(|_| true) }
    })
    .await;

    // Like our release phase: every lock the first phase took, interleaved across tasks.
    let taken = Arc::new(std::mem::take(&mut *taken.lock().unwrap()));
    let m = manager.clone();
    let unlock = closed_loop(clients, secs * 4, move |task, seq| {
        let (m, taken) = (m.clone(), taken.clone());
        async move {
            let Some(lock) = taken.get(task + seq as usize * clients) else {
                return Ok::<_, rslock::LockError>(false);
            };
            m.unlock(lock).await;
            Ok(true)
        }
    })
    .await;

    RslockStats {
        lock,
        extend,
        unlock,
        lock_profile,
    }
}
