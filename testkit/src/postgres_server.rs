//! A private PostgreSQL cluster (`initdb` + `postgres`) for fault tests.
//!
//! Like [`RedisServer`](crate::RedisServer), this exists so a test can `SIGKILL` or restart the
//! store without disturbing other tests. Unlike Redis, the data directory is kept across
//! [`restart`](PostgresServer::restart): after a `SIGKILL` Postgres runs crash recovery and every
//! committed row is back, which is the case the lease and job tables must handle (a lease whose
//! holder could not renew while the database was down has expired by the database's clock).
//!
//! `initdb` and `postgres` refuse to run as root. Tests here (and in CI) run as root, so when the
//! effective uid is 0 the cluster is created and run as the `postgres` user (or `nobody` if that
//! user does not exist), using std's safe `CommandExt::uid`/`gid` — no `su`/`runuser` wrapper,
//! so the pid we hold is the postmaster's own and signals reach it directly. `fsync=off` and
//! `full_page_writes=off` make it fast, and a process kill loses nothing with them (only an OS
//! crash would); `synchronous_commit` stays on, or a SIGKILL would lose recent commits.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::{Gid, Uid};
use tempfile::TempDir;

use crate::process::{find_binary, wait_ready, NotReady, ServerProcess};

/// How long a start (including crash recovery) may take.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL cluster owned by the test: fresh temp data dir, its own port, trust auth on
/// 127.0.0.1, killed and deleted on drop.
///
/// ```no_run
/// # async fn demo() {
/// let mut pg = ha_testkit::PostgresServer::start().await;
/// let url = pg.url(); // postgres://postgres@127.0.0.1:<port>/postgres
/// pg.kill(); // SIGKILL the postmaster and its backends
/// pg.restart().await; // same port and data dir: committed data is back
/// # let _ = url;
/// # }
/// ```
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    bin_dir: PathBuf,
    run_as: Option<(Uid, Gid)>,
    /// Holds `data/`, the unix socket and the log; removed on drop, after the kill.
    dir: TempDir,
    proc: Option<ServerProcess>,
    pid: u32,
}

impl PostgresServer {
    /// Creates a cluster with `initdb` in a fresh temp dir and starts `postgres` on a free port,
    /// waiting until it accepts queries.
    ///
    /// Binaries are searched on `PATH`, then in `/usr/lib/postgresql/<newest>/bin`, then
    /// `/usr/local/bin`; `postgres` is taken from the same directory as `initdb`.
    ///
    /// # Panics
    ///
    /// If PostgreSQL is not installed or does not come up (the message includes its log).
    pub async fn start() -> PostgresServer {
        let mut server = Self::unstarted();
        server.initdb().await;
        server.start_on_a_free_port().await;
        server
    }

    /// Starts a streaming replica of this server (a hot standby): `pg_basebackup -R -X stream`
    /// copies this server's data into a fresh temp dir, with `standby.signal` and the
    /// `primary_conninfo` pointing here, then `postgres` starts on another free loopback port.
    /// [`promote`](Self::promote) turns it into a primary. Replication is asynchronous unless
    /// the primary is told otherwise (`synchronous_standby_names`).
    ///
    /// # Panics
    ///
    /// If `pg_basebackup` fails or the standby does not come up (the message includes its log).
    pub async fn start_standby(&self) -> PostgresServer {
        let mut standby = Self::unstarted();
        let mut cmd = standby.command("pg_basebackup");
        cmd.arg("-D")
            .arg(standby.data_dir())
            .args(["-R", "-X", "stream", "-c", "fast", "-d"])
            .arg(format!(
                "host=127.0.0.1 port={} user=postgres application_name=standby",
                self.port
            ));
        run_to_completion("pg_basebackup", cmd).await;
        standby.start_on_a_free_port().await;
        standby
    }

    /// Promotes this standby to a primary with `pg_ctl promote` and waits until it accepts
    /// writes.
    ///
    /// # Panics
    ///
    /// If `pg_ctl` fails or the server still refuses writes after 60 s.
    pub async fn promote(&self) {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("promote")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-w", "-t", "60"]);
        run_to_completion("pg_ctl promote", cmd).await;
        let deadline = Instant::now() + READY_TIMEOUT;
        while !accepts_writes(&self.url()).await {
            assert!(
                Instant::now() < deadline,
                "ha-testkit: the promoted server on port {} still refuses writes; log:\n{}",
                self.port,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A server with a fresh temp dir (owned by the unprivileged user when we are root), not
    /// started and without data yet.
    fn unstarted() -> PostgresServer {
        let bin_dir = find_bin_dir().expect(
            "ha-testkit: PostgreSQL server binaries (initdb, postgres) not found on PATH, in \
             /usr/lib/postgresql/*/bin or /usr/local/bin; install them (./scripts/install-deps.sh does)",
        );
        let run_as = crate::process::unprivileged_user();
        let dir = tempfile::Builder::new()
            .prefix("ha-testkit-pg-")
            .tempdir()
            .expect("ha-testkit: cannot create a temp dir");
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid.as_raw()), Some(gid.as_raw()))
                .expect("ha-testkit: cannot chown the temp dir to the postgres user");
        }
        PostgresServer {
            port: 0,
            bin_dir,
            run_as,
            dir,
            proc: None,
            pid: 0,
        }
    }

    /// Runs `postgres` on the data dir, on a free port (retrying another port if one was taken).
    async fn start_on_a_free_port(&mut self) {
        let server = self;
        for _ in 0..5 {
            server.port = crate::free_port();
            match server.spawn_and_wait().await {
                Ok(()) => return,
                Err(NotReady::Exited) => continue,
                Err(NotReady::TimedOut) => break,
            }
        }
        panic!(
            "ha-testkit: postgres did not start; log:\n{}",
            server.log_tail()
        )
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres` (superuser, trust auth, no password).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The TCP port, the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pid of the most recently started postmaster.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The data directory (kept across restarts, removed on drop).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Whether the postmaster is alive (a paused one is).
    pub fn is_running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(ServerProcess::is_running)
    }

    /// Kills the postmaster and its backends with `SIGKILL`: a crash. The next
    /// [`restart`](Self::restart) runs crash recovery.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Stops the server with a fast shutdown (`SIGINT`: clients are disconnected, a checkpoint is
    /// written), then `SIGKILL` after 10 s.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Signal::SIGINT, Duration::from_secs(10));
        }
    }

    /// Freezes the postmaster with `SIGSTOP` (existing backends keep serving; new connections
    /// hang). Undo with [`resume`](Self::resume).
    pub fn pause(&self) {
        if let Some(p) = &self.proc {
            p.signal(Signal::SIGSTOP);
        }
    }

    /// Resumes a [`pause`](Self::pause)d postmaster with `SIGCONT`.
    pub fn resume(&self) {
        if let Some(p) = &self.proc {
            p.signal(Signal::SIGCONT);
        }
    }

    /// Freezes the whole server, postmaster and every backend, with `SIGSTOP`: it is alive but
    /// answers nothing, on existing connections or new ones (a stalled VM). Undo with
    /// [`thaw`](Self::thaw).
    pub fn freeze(&self) {
        if let Some(p) = &self.proc {
            p.signal_all(Signal::SIGSTOP);
        }
    }

    /// Resumes a [`freeze`](Self::freeze)d server (every process) with `SIGCONT`.
    pub fn thaw(&self) {
        if let Some(p) = &self.proc {
            p.signal_all(Signal::SIGCONT);
        }
    }

    /// Starts the server again on the same port with the same data (stopping it first if it still
    /// runs), waiting through crash recovery until it accepts queries.
    ///
    /// # Panics
    ///
    /// If it does not come back within 60 s.
    pub async fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.spawn_and_wait().await {
                Ok(()) => return,
                // Typically a lingering backend still holding the old shared memory, or the
                // port not released yet: try again shortly.
                Err(NotReady::Exited) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(_) => panic!(
                    "ha-testkit: postgres did not restart on port {}; log:\n{}",
                    self.port,
                    self.log_tail()
                ),
            }
        }
    }

    async fn initdb(&self) {
        let mut cmd = self.command("initdb");
        cmd.arg("-D").arg(self.data_dir()).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "-N",
        ]);
        run_to_completion("initdb", cmd).await;
    }

    async fn spawn_and_wait(&mut self) -> Result<(), NotReady> {
        let mut cmd = self.command("postgres");
        let port = self.port.to_string();
        cmd.arg("-D")
            .arg(self.data_dir())
            .args(["-p", &port, "-k"])
            .arg(self.dir.path())
            .args(["-c", "listen_addresses=127.0.0.1"])
            // No fsync: only an OS crash could lose data. synchronous_commit stays on: with it
            // off, a commit's WAL may still sit in shared memory and die with a SIGKILL.
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "shared_buffers=16MB"])
            .args(["-c", "max_connections=200", "-c", "logging_collector=off"]);
        let mut proc = ServerProcess::spawn(cmd, &self.log_path())
            .unwrap_or_else(|e| panic!("ha-testkit: cannot run postgres: {e}"));
        self.pid = proc.pid();
        let url = self.url();
        let ready = wait_ready(&mut proc, READY_TIMEOUT, || accepts_queries(&url)).await;
        match ready {
            Ok(()) => {
                self.proc = Some(proc);
                Ok(())
            }
            Err(e) => {
                proc.kill();
                Err(e)
            }
        }
    }

    /// A command for one of the cluster's binaries, run as the unprivileged user when we are root.
    fn command(&self, name: &str) -> Command {
        let mut cmd = Command::new(self.bin_dir.join(name));
        // The child may not be allowed into our working directory (e.g. /root).
        cmd.current_dir(self.dir.path()).env("LC_ALL", "C");
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid.as_raw()).gid(gid.as_raw());
        }
        cmd
    }

    /// The server's log (auto_explain plans, errors).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn log_tail(&self) -> String {
        crate::process::log_tail(&self.log_path(), 4096)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // Kill before `dir` (a field) is dropped and removed.
        self.kill();
    }
}

/// Connects and runs `SELECT 1`; false while starting up (a hot standby answers once
/// consistent).
pub(crate) async fn accepts_queries(url: &str) -> bool {
    let attempt = async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .ok()?;
        let driver = tokio::spawn(conn);
        let ok = client.simple_query("SELECT 1").await.is_ok();
        drop(client);
        let _ = driver.await;
        Some(ok)
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Runs `cmd` (`what` names it in the panic) and panics with its output unless it succeeds.
async fn run_to_completion(what: &'static str, mut cmd: Command) {
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("ha-testkit: command task")
        .unwrap_or_else(|e| panic!("ha-testkit: cannot run {what}: {e}"));
    if !out.status.success() {
        panic!(
            "ha-testkit: {what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Connects and checks that the server is out of recovery (a primary).
async fn accepts_writes(url: &str) -> bool {
    let attempt = async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .ok()?;
        let driver = tokio::spawn(conn);
        let rows = client
            .simple_query("SELECT pg_is_in_recovery()::text")
            .await
            .ok()?;
        drop(client);
        let _ = driver.await;
        let in_recovery = rows.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(|v| v == "true"),
            _ => None,
        })?;
        Some(!in_recovery)
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// The directory holding `initdb` and `postgres`.
fn find_bin_dir() -> Option<PathBuf> {
    let mut extra = versioned_bin_dirs();
    extra.push(PathBuf::from("/usr/local/bin"));
    let initdb = find_binary("initdb", &extra)?;
    // /usr/local/bin/initdb may be a symlink into /usr/lib/postgresql/N/bin: follow it so we use
    // the `postgres` that belongs to this initdb.
    let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
    let dir = real.parent()?.to_owned();
    dir.join("postgres").exists().then_some(dir)
}

/// `/usr/lib/postgresql/*/bin`, newest major version first.
fn versioned_bin_dirs() -> Vec<PathBuf> {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .collect();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    versions.into_iter().map(|(_, p)| p).collect()
}
