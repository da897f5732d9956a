//! Where a wrk phase's time went: CPU seconds of every process on the request path and store
//! round trips, as deltas taken around the phase, divided by the requests it completed.
//!
//! Why: an API row that misses its target must say what bounds it (issue 19), and on this
//! 2-core machine the replicas, PostgreSQL, Redis and wrk share the same cores, so "CPU µs per
//! request" of each says who eats the budget, and "PG transactions / Redis commands per
//! request" says how many store round trips each request makes.
//!
//! Sources, all read outside the timed work:
//! - CPU of the replicas, the PostgreSQL postmaster and its children (backends, background
//!   workers), and redis-server: `utime + stime` of `/proc/<pid>/stat` (all threads). The
//!   stores are the harness's private ha-testkit servers, so their pids are known. A backend
//!   that exits during the phase takes its CPU with it (the replicas' pooled connections stay).
//! - CPU of wrk: this process's reaped children (`cutime + cstime`); the phase reaps its wrk
//!   processes before the second reading, and nothing else is reaped in between.
//! - Machine CPU busy: `/proc/stat`'s aggregate line (everything on the machine, other work
//!   included; "ours" is the share the processes above account for).
//! - PostgreSQL transactions: `sum(xact_commit + xact_rollback)` of `pg_stat_database`. Since
//!   PostgreSQL 15 a backend flushes its counters at most once a second while busy and, once
//!   idle, only after 10 s (`PGSTAT_IDLE_INTERVAL`), so the second reading waits [`SETTLE`]
//!   after the load stops. Each reading is a `psql` session of its own (≈ 1 transaction).
//! - Redis commands: `total_commands_processed` of `INFO stats` (immediate).

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::setup::Stores;

/// Wait after a phase before reading `pg_stat_database` (PostgreSQL's idle stats flush is
/// 10 s after a backend's last transaction).
const SETTLE: Duration = Duration::from_millis(11_000);

/// The processes and stores of one mode.
pub struct Probe {
    replicas: Vec<u32>,
    stores: Option<Stores>,
    tick: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    at: Option<Instant>,
    replicas: f64,
    postgres: f64,
    redis: f64,
    wrk: f64,
    busy: f64,
    total: f64,
    redis_cmds: u64,
}

/// The first reading of a phase.
pub struct Phase {
    start: Counters,
    xacts: Option<u64>,
}

/// A phase's deltas.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    requests: u64,
    secs: f64,
    replicas: f64,
    postgres: Option<f64>,
    redis: Option<f64>,
    wrk: f64,
    busy: f64,
    xacts: Option<f64>,
    redis_cmds: Option<f64>,
}

impl Probe {
    /// `replicas`: the server pids; `stores`: HA mode's private Redis and PostgreSQL.
    pub fn new(replicas: Vec<u32>, stores: Option<&Stores>) -> Self {
        let tick = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0);
        Self {
            replicas,
            stores: stores.cloned(),
            tick,
        }
    }

    /// Before the load (after the previous phase has settled).
    pub fn begin(&self) -> Phase {
        let xacts = self.stores.as_ref().and_then(|s| pg_xacts(&s.postgres));
        Phase {
            start: self.counters(),
            xacts,
        }
    }

    /// After the load (every wrk process of the phase reaped): reads the counters at once,
    /// then, in HA mode, PostgreSQL's after [`SETTLE`].
    pub fn end(&self, phase: Phase, requests: u64) -> Profile {
        let end = self.counters();
        let xacts = match (&self.stores, phase.xacts) {
            (Some(s), Some(before)) => {
                std::thread::sleep(SETTLE);
                pg_xacts(&s.postgres).map(|after| after.saturating_sub(before) as f64)
            }
            _ => None,
        };
        let s = phase.start;
        let ha = self.stores.is_some();
        let total = end.total - s.total;
        Profile {
            requests,
            secs: match (s.at, end.at) {
                (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
                _ => 0.0,
            },
            replicas: end.replicas - s.replicas,
            postgres: ha.then_some(end.postgres - s.postgres),
            redis: ha.then_some(end.redis - s.redis),
            wrk: end.wrk - s.wrk,
            busy: if total > 0.0 {
                (end.busy - s.busy) / total
            } else {
                0.0
            },
            xacts,
            redis_cmds: ha.then_some(end.redis_cmds.saturating_sub(s.redis_cmds) as f64),
        }
    }

    fn counters(&self) -> Counters {
        let (busy, total) = machine_ticks();
        let mut c = Counters {
            at: Some(Instant::now()),
            replicas: self.replicas.iter().map(|&p| self.cpu(p)).sum(),
            wrk: children_ticks() / self.tick,
            busy,
            total,
            ..Counters::default()
        };
        if let Some(s) = &self.stores {
            c.postgres = self.cpu(s.postgres_pid)
                + children_of(s.postgres_pid)
                    .into_iter()
                    .map(|p| self.cpu(p))
                    .sum::<f64>();
            c.redis = self.cpu(s.redis_pid);
            c.redis_cmds = crate::redis_cli::total_commands(s.redis_port);
        }
        c
    }

    /// utime + stime of `pid`, seconds (0 if it is gone).
    fn cpu(&self, pid: u32) -> f64 {
        let f = stat_fields(pid);
        (field(&f, 11) + field(&f, 12)) / self.tick
    }
}

impl Profile {
    /// µs of `secs` per request.
    fn per(&self, secs: f64) -> f64 {
        secs * 1e6 / self.requests.max(1) as f64
    }

    /// "per request: 2.0 PG xacts, 1.0 Redis cmds; CPU µs per request: replicas 95, postgres
    /// 140, redis 3, wrk 25; machine CPU busy 97% (these processes 90%)".
    pub fn note(&self) -> String {
        let mut out = String::new();
        if let (Some(x), Some(r)) = (self.xacts, self.redis_cmds) {
            let n = self.requests.max(1) as f64;
            out.push_str(&format!(
                "per request: {:.2} PG xacts, {:.2} Redis cmds; ",
                x / n,
                r / n
            ));
        }
        out.push_str(&format!(
            "CPU µs per request: replicas {:.0}",
            self.per(self.replicas)
        ));
        if let (Some(pg), Some(redis)) = (self.postgres, self.redis) {
            out.push_str(&format!(
                ", postgres {:.0}, redis {:.0}",
                self.per(pg),
                self.per(redis)
            ));
        }
        out.push_str(&format!(
            ", wrk {:.0}; machine CPU busy {:.0}% (these processes {:.0}%)",
            self.per(self.wrk),
            self.busy * 100.0,
            self.ours_share() * 100.0
        ));
        out
    }

    /// Share of the machine's CPU capacity the measured processes used.
    fn ours_share(&self) -> f64 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        if self.secs <= 0.0 {
            return 0.0;
        }
        let used =
            self.replicas + self.postgres.unwrap_or(0.0) + self.redis.unwrap_or(0.0) + self.wrk;
        used / (self.secs * cores)
    }

    /// For results.json.
    pub fn json(&self) -> Value {
        json!({
            "requests": self.requests,
            "secs": self.secs,
            "cpu_secs": {
                "replicas": self.replicas, "postgres": self.postgres,
                "redis": self.redis, "wrk": self.wrk,
            },
            "machine_busy": self.busy,
            "measured_share": self.ours_share(),
            "pg_xacts": self.xacts,
            "redis_cmds": self.redis_cmds,
        })
    }
}

/// Fields of `/proc/<pid>/stat` after the command name (index 0 = state).
fn stat_fields(pid: u32) -> Vec<String> {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.to_owned()))
        .map(|r| r.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn field(f: &[String], i: usize) -> f64 {
    f.get(i).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// This process's reaped children's CPU (cutime + cstime), ticks.
fn children_ticks() -> f64 {
    let f = stat_fields(std::process::id());
    field(&f, 13) + field(&f, 14)
}

/// Direct children of `parent` (PostgreSQL's backends and workers are the postmaster's).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| field(&stat_fields(pid), 1) as u32 == parent)
        .collect()
}

/// (busy, total) ticks of the whole machine from `/proc/stat` (busy excludes idle and iowait).
fn machine_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: f64 = v.iter().sum();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (total - idle, total)
}

/// `sum(xact_commit + xact_rollback)` over every database of the server at `url`.
fn pg_xacts(url: &str) -> Option<u64> {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-d", url, "-c"])
        .arg("SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database")
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "[harness] psql: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
