//! Fault injection: what the driver does to the store and to the contenders.
//!
//! * **Store restart** — `SIGKILL` and start again on the same port (ha-testkit servers).
//!   Redis comes back empty (no persistence: leases, fence counters and job records are gone,
//!   tokens must still grow); Postgres comes back with its data after crash recovery.
//! * **Paused holder** — `SIGSTOP` a contender *process* for longer than the lease TTL, then
//!   `SIGCONT`: it wakes up believing it still holds its leases, exactly the Kleppmann case.
//!   Signals go through `nix`'s safe wrapper (no `unsafe`).
//! * **Dropped connections** — the store closes every client connection (`CLIENT KILL TYPE
//!   normal` on Redis, `pg_terminate_backend` on Postgres), issued from a separate client
//!   (`redis-cli`, `psql`) so the harness needs no extra driver.
//!
//! * **Frozen store** — `SIGSTOP` the store's server for longer than the liveness TTL, then
//!   `SIGCONT` (runs with liveness records only): every connection hangs mid-call.
//!
//! Each injector returns the fault with the wall-clock interval it took, for the history.

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::history::{now_us, Entry, Fault};

fn fault(fault: Fault, start_us: u64) -> Entry {
    Entry::Fault {
        fault,
        start_us,
        end_us: now_us(),
    }
}

/// Freezes process `pid` for `pause`, then resumes it.
pub async fn pause_process(pid: u32, process: &str, pause: Duration) -> Entry {
    let pid = Pid::from_raw(i32::try_from(pid).expect("pid fits i32"));
    let start = now_us();
    kill(pid, Signal::SIGSTOP).expect("SIGSTOP a contender");
    tokio::time::sleep(pause).await;
    kill(pid, Signal::SIGCONT).expect("SIGCONT a contender");
    fault(
        Fault::Pause {
            process: process.to_owned(),
        },
        start,
    )
}

/// Freezes the store's server process (`pid`) for `pause` (SIGSTOP, SIGCONT): every client's
/// connection hangs, liveness renewals among them, for longer than the liveness TTL.
pub async fn freeze(pid: u32, pause: Duration) -> Entry {
    let pid = Pid::from_raw(i32::try_from(pid).expect("pid fits i32"));
    let start = now_us();
    kill(pid, Signal::SIGSTOP).expect("SIGSTOP the store");
    tokio::time::sleep(pause).await;
    kill(pid, Signal::SIGCONT).expect("SIGCONT the store");
    fault(Fault::Freeze, start)
}

/// Runs a command-line client; a failure is a broken harness, so it panics.
async fn client(program: &str, args: &[&str]) {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Closes every normal client connection of the Redis server on `port`.
pub async fn redis_conn_kill(port: u16) -> Entry {
    let start = now_us();
    let port = port.to_string();
    client(
        "redis-cli",
        &["-p", &port, "CLIENT", "KILL", "TYPE", "normal"],
    )
    .await;
    fault(Fault::ConnKill, start)
}

/// Terminates every other client backend of the Postgres server at `url`.
pub async fn pg_conn_kill(url: &str) -> Entry {
    let start = now_us();
    client(
        "psql",
        &[
            url,
            "-XAtq",
            "-c",
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        ],
    )
    .await;
    fault(Fault::ConnKill, start)
}

/// Kills the Redis server and starts it again, empty.
#[cfg(feature = "redis")]
pub async fn redis_restart(server: &mut ha_testkit::RedisServer) -> Entry {
    let start = now_us();
    server.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart().await;
    fault(Fault::Restart { data_lost: true }, start)
}

/// Kills PostgreSQL (postmaster and backends) and starts it again: crash recovery, data kept.
#[cfg(feature = "postgres")]
pub async fn pg_restart(server: &mut ha_testkit::PostgresServer) -> Entry {
    let start = now_us();
    server.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.restart().await;
    fault(Fault::Restart { data_lost: false }, start)
}
