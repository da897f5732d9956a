//! A private PgBouncer in front of a [`PostgresServer`], for the tests of what a connection
//! pooler does to the PostgreSQL backends.
//!
//! Many PostgreSQL deployments (CloudNativePG's `Pooler`, most managed offerings) put PgBouncer
//! between the application and the server, often in *transaction* mode, where a client's
//! consecutive transactions may run on different server sessions. Whether the store works or
//! refuses to start there must be tested against the real program, not argued about: this
//! starts `pgbouncer` (from the `pgbouncer` package) on a free loopback port, trusting every
//! user, forwarding every database to one server.
//!
//! Like `postgres`, `pgbouncer` refuses to run as root, so as root it runs as the `postgres`
//! (or `nobody`) user.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{find_binary, wait_ready, NotReady, ServerProcess};
use crate::PostgresServer;

/// PgBouncer's `pool_mode`: when a server session goes back to the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// When the client disconnects: a client has one server session for its whole life.
    Session,
    /// After each transaction: consecutive transactions of a client may use different sessions.
    Transaction,
}

impl PoolMode {
    fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

/// A `pgbouncer` process owned by the test, killed and its temp dir deleted on drop.
///
/// ```no_run
/// # async fn demo() {
/// use ha_testkit::{PgBouncer, PoolMode, PostgresServer};
/// let pg = PostgresServer::start().await;
/// let bouncer = PgBouncer::start(&pg, PoolMode::Transaction, &[]).await;
/// let url = bouncer.url(); // postgres://postgres@127.0.0.1:<port>/postgres, through PgBouncer
/// # let _ = url;
/// # }
/// ```
#[derive(Debug)]
pub struct PgBouncer {
    port: u16,
    /// Holds the ini file, the user list and the log; removed on drop, after the kill.
    dir: TempDir,
    proc: Option<ServerProcess>,
}

impl PgBouncer {
    /// Starts PgBouncer in `mode` in front of `upstream` (every database name is forwarded to
    /// it; trust authentication; at most 4 server sessions per database and user).
    /// `ignore_startup_parameters` is PgBouncer's setting of that name (start-up parameters it
    /// accepts from clients and drops, e.g. `options`; any other one it does not know makes it
    /// refuse the connection).
    ///
    /// # Panics
    ///
    /// If `pgbouncer` is not installed (`apt install pgbouncer`) or does not come up.
    pub async fn start(
        upstream: &PostgresServer,
        mode: PoolMode,
        ignore_startup_parameters: &[&str],
    ) -> PgBouncer {
        let binary = find_binary("pgbouncer", &[PathBuf::from("/usr/sbin")])
            .expect("ha-testkit: `pgbouncer` not found on PATH or in /usr/sbin; install it (apt install pgbouncer)");
        let run_as = crate::process::unprivileged_user();
        let dir = tempfile::Builder::new()
            .prefix("ha-testkit-pgbouncer-")
            .tempdir()
            .expect("ha-testkit: cannot create a temp dir");
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid.as_raw()), Some(gid.as_raw()))
                .expect("ha-testkit: cannot chown the temp dir to the postgres user");
        }
        std::fs::write(dir.path().join("userlist.txt"), "\"postgres\" \"\"\n")
            .expect("ha-testkit: cannot write PgBouncer's user list");
        let mut bouncer = PgBouncer {
            port: 0,
            dir,
            proc: None,
        };
        for _ in 0..5 {
            bouncer.port = crate::free_port();
            let ini = bouncer.dir.path().join("pgbouncer.ini");
            std::fs::write(
                &ini,
                bouncer.ini(upstream.port(), mode, ignore_startup_parameters),
            )
            .expect("ha-testkit: cannot write pgbouncer.ini");
            let mut cmd = Command::new(&binary);
            cmd.arg(&ini).current_dir(bouncer.dir.path());
            if let Some((uid, gid)) = run_as {
                cmd.uid(uid.as_raw()).gid(gid.as_raw());
            }
            let mut proc = ServerProcess::spawn(cmd, &bouncer.log_path())
                .unwrap_or_else(|e| panic!("ha-testkit: cannot run pgbouncer: {e}"));
            let url = bouncer.url();
            let ready = wait_ready(&mut proc, Duration::from_secs(30), || {
                crate::postgres_server::accepts_queries(&url)
            })
            .await;
            match ready {
                Ok(()) => {
                    bouncer.proc = Some(proc);
                    return bouncer;
                }
                Err(NotReady::Exited) => continue,
                Err(NotReady::TimedOut) => {
                    proc.kill();
                    break;
                }
            }
        }
        panic!(
            "ha-testkit: pgbouncer did not start; log:\n{}",
            crate::process::log_tail(&bouncer.log_path(), 4096)
        )
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`, through PgBouncer.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The TCP port PgBouncer listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn ini(&self, upstream: u16, mode: PoolMode, ignore: &[&str]) -> String {
        format!(
            "[databases]\n\
             * = host=127.0.0.1 port={upstream}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {auth}\n\
             pool_mode = {mode}\n\
             default_pool_size = 4\n\
             max_client_conn = 200\n\
             ignore_startup_parameters = {ignore}\n",
            port = self.port,
            auth = self.dir.path().join("userlist.txt").display(),
            mode = mode.as_str(),
            ignore = ignore.join(","),
        )
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("pgbouncer.log")
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }
}
