//! One run: start contenders (tasks here, processes beside), inject faults on a schedule,
//! collect every history, check it.
//!
//! # Why a fixed rotation of faults
//!
//! Random faults make a failing run hard to reproduce; the interesting randomness is already in
//! the contenders' timing. The driver cycles through the faults the backend supports (drop
//! connections, pause a contender process, restart the store, pause another one) every
//! `fault_every`, so a 25 s run sees each of them at least once and a soak sees each many times.

use std::path::PathBuf;
use std::time::Duration;

use super::backends::Backend;
use super::checker::{check, CheckConfig, Report};
use super::child;
use super::contender::{run_tasks, Plan};
use super::faults;
use super::history::{self, now_us, Entry, Recorder};

/// The store's server process, when the run owns one (so it can be killed).
#[derive(Debug)]
pub enum Server {
    /// Nothing to kill (in-process stores, or a shared server).
    None,
    /// A private `redis-server`.
    #[cfg(feature = "redis")]
    Redis(ha_testkit::RedisServer),
    /// A private PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(ha_testkit::PostgresServer),
}

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Contender tasks in this (the parent) process.
    pub tasks: usize,
    /// Contender processes.
    pub children: usize,
    /// Tasks per contender process.
    pub child_tasks: usize,
    /// How many keys they fight over.
    pub keys: usize,
    /// Lease TTL.
    pub ttl: Duration,
    /// How long contenders run.
    pub duration: Duration,
    /// Time between faults.
    pub fault_every: Duration,
    /// How long a paused process stays frozen (well past the TTL).
    pub pause: Duration,
    /// Seed of the contenders' randomness.
    pub seed: u64,
    /// Liveness record TTL: `Some` makes contenders take over the leases of processes whose
    /// record lapsed, and adds a store freeze (longer than it) to the fault rotation.
    pub liveness: Option<Duration>,
}

impl RunConfig {
    /// `default_secs` long, or `HA_SAFETY_SECS`, or 300 s with `HA_SOAK=1`.
    pub fn from_env(default_secs: u64) -> Self {
        let secs = match (std::env::var("HA_SAFETY_SECS"), std::env::var("HA_SOAK")) {
            (Ok(s), _) => s.parse().expect("HA_SAFETY_SECS is a number of seconds"),
            (_, Ok(v)) if v == "1" => 300,
            _ => default_secs,
        };
        let ttl = Duration::from_millis(400);
        Self {
            tasks: 4,
            children: 2,
            child_tasks: 4,
            keys: 4,
            ttl,
            duration: Duration::from_secs(secs),
            fault_every: Duration::from_millis(2_500),
            pause: ttl * 4,
            seed: std::env::var("HA_SAFETY_SEED")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(now_us),
            liveness: None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    ConnKill,
    Pause(usize),
    Restart,
    Freeze,
}

fn rotation(server: &Server, children: usize, liveness: bool) -> Vec<Kind> {
    let pauses = (0..children).map(Kind::Pause);
    match server {
        Server::None => pauses.collect(),
        #[allow(unreachable_patterns)]
        _ => {
            let mut r = vec![Kind::ConnKill];
            let mut p = pauses.collect::<Vec<_>>().into_iter();
            r.extend(p.next());
            r.push(Kind::Restart);
            r.extend(p);
            if liveness {
                r.push(Kind::Freeze);
            }
            r
        }
    }
}

async fn inject(
    kind: Kind,
    backend: &Backend,
    server: &mut Server,
    procs: &[child::ChildProc],
    pause: Duration,
) -> Entry {
    match kind {
        Kind::Pause(i) => faults::pause_process(procs[i].pid, &procs[i].name, pause).await,
        Kind::ConnKill => match backend {
            Backend::Postgres { url, .. } => faults::pg_conn_kill(url).await,
            _ => match server {
                #[cfg(feature = "redis")]
                Server::Redis(s) => faults::redis_conn_kill(s.port()).await,
                _ => unreachable!("conn kill needs a server"),
            },
        },
        Kind::Freeze => match server {
            #[cfg(feature = "redis")]
            Server::Redis(s) => faults::freeze(s.pid(), pause).await,
            #[cfg(feature = "postgres")]
            Server::Postgres(s) => faults::freeze(s.pid(), pause).await,
            _ => unreachable!("a freeze needs a server"),
        },
        Kind::Restart => match server {
            #[cfg(feature = "redis")]
            Server::Redis(s) => faults::redis_restart(s).await,
            #[cfg(feature = "postgres")]
            Server::Postgres(s) => faults::pg_restart(s).await,
            _ => unreachable!("restart needs a server"),
        },
    }
}

/// Runs contenders against `backend` while injecting faults into `server`, then checks.
/// Returns the report and, when kept (`HA_SAFETY_KEEP=1` or a violation), the history file.
pub async fn run(
    backend: &Backend,
    server: &mut Server,
    config: &RunConfig,
) -> (Report, Option<PathBuf>) {
    let dir = tempfile::Builder::new()
        .prefix("lease-safety-")
        .tempdir()
        .expect("temp dir");
    let plan = Plan {
        keys: (0..config.keys).map(|i| format!("job-{i}")).collect(),
        ttl: config.ttl,
        until_us: now_us() + config.duration.as_micros() as u64,
        liveness: config.liveness,
    };
    let procs: Vec<child::ChildProc> = (0..config.children)
        .map(|i| {
            child::spawn(
                backend,
                &plan,
                config.child_tasks,
                config.seed + 1 + i as u64,
                dir.path(),
                i,
            )
        })
        .collect();
    let recorder = Recorder::in_memory();
    let stores = backend.open().await;
    let tasks = tokio::spawn(run_tasks(
        "parent",
        config.tasks,
        stores,
        plan.clone(),
        recorder.clone(),
        config.seed,
    ));

    let schedule = rotation(server, procs.len(), config.liveness.is_some());
    let mut next = 0;
    tokio::time::sleep(config.fault_every.min(Duration::from_secs(2))).await;
    // Leave the last stretch fault-free so the store is up when contenders finish.
    let last_fault_us = plan
        .until_us
        .saturating_sub(config.fault_every.as_micros() as u64);
    while !schedule.is_empty() && now_us() < last_fault_us {
        let kind = schedule[next % schedule.len()];
        next += 1;
        recorder.record(inject(kind, backend, server, &procs, config.pause).await);
        tokio::time::sleep(config.fault_every).await;
    }

    tasks.await.expect("parent contenders");
    let mut entries = recorder.entries();
    let grace =
        Duration::from_micros(plan.until_us.saturating_sub(now_us())) + Duration::from_secs(30);
    for p in procs {
        let path = p.wait(grace).await;
        entries.extend(history::read_file(&path).expect("child history"));
    }
    let report = check(&entries, &CheckConfig::default());
    // The deliberately broken stores fail by design: no need to keep their histories.
    let expected_to_fail = matches!(backend, Backend::BrokenFencing | Backend::BrokenExclusion);
    let keep = std::env::var_os("HA_SAFETY_KEEP").is_some() || (!report.ok() && !expected_to_fail);
    let kept = keep.then(|| {
        let path = std::env::temp_dir().join(format!(
            "lease-safety-{}-{}.jsonl",
            backend.name(),
            config.seed
        ));
        let keeper = Recorder::to_file(&path).expect("kept history file");
        for e in entries {
            keeper.record(e);
        }
        path
    });
    (report, kept)
}
