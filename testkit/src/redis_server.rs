//! A private `redis-server` process for fault tests.
//!
//! The shared Redis from [`redis_url`](crate::redis_url) cannot be killed by one test without
//! breaking every other test using it, so tests that kill, pause or restart the store get their
//! own. It runs with `--save '' --appendonly no`: a restart loses every key, which is exactly the
//! "store lost its data" case that fencing tokens must survive (tokens must never go backwards).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::Signal;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::{find_binary, wait_ready, NotReady, ServerProcess};

/// How long a start may take before we give up.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// A `redis-server` owned by the test: its own port, no persistence, killed on drop.
///
/// ```no_run
/// # async fn demo() {
/// let mut redis = ha_testkit::RedisServer::start().await;
/// let url = redis.url(); // redis://127.0.0.1:<port>/
/// redis.kill(); // SIGKILL: clients see connection errors
/// redis.restart().await; // same port, empty data set
/// # let _ = url;
/// # }
/// ```
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    bin: PathBuf,
    dir: TempDir,
    proc: Option<ServerProcess>,
    pid: u32,
}

impl RedisServer {
    /// Starts a `redis-server` (from `PATH` or `/usr/bin`) on a free 127.0.0.1 port and waits
    /// until it answers `PING`.
    ///
    /// # Panics
    ///
    /// If `redis-server` is not installed or does not come up (the message includes its log).
    pub async fn start() -> RedisServer {
        let bin = find_binary(
            "redis-server",
            &[
                PathBuf::from("/usr/bin"),
                PathBuf::from("/usr/local/bin"),
                PathBuf::from("/usr/sbin"),
            ],
        )
        .expect(
            "ha-testkit: `redis-server` not found on PATH or in /usr/bin; \
             install it (./scripts/install-deps.sh does)",
        );
        let dir = tempfile::Builder::new()
            .prefix("ha-testkit-redis-")
            .tempdir()
            .expect("ha-testkit: cannot create a temp dir");
        let mut server = RedisServer {
            port: 0,
            bin,
            dir,
            proc: None,
            pid: 0,
        };
        // Another process may grab the port between free_port() and our bind: try a few.
        for _ in 0..5 {
            server.port = crate::free_port();
            match server.spawn_and_wait().await {
                Ok(()) => return server,
                Err(NotReady::Exited) => continue,
                Err(NotReady::TimedOut) => break,
            }
        }
        panic!(
            "ha-testkit: redis-server did not start; log:\n{}",
            server.log_tail()
        )
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The TCP port, the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The pid of the most recently started `redis-server` process.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the server process is alive (a paused one is).
    pub fn is_running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(ServerProcess::is_running)
    }

    /// Kills the server with `SIGKILL` and waits for it to die: no goodbye to clients.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }

    /// Stops the server gracefully (`SIGTERM`, then `SIGKILL` after 5 s).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Signal::SIGTERM, Duration::from_secs(5));
        }
    }

    /// Freezes the server with `SIGSTOP`: connections stay open but nothing is answered, the way
    /// a long GC pause or a stalled VM looks to clients. Undo with [`resume`](Self::resume).
    pub fn pause(&self) {
        if let Some(p) = &self.proc {
            p.signal(Signal::SIGSTOP);
        }
    }

    /// Resumes a [`pause`](Self::pause)d server with `SIGCONT`.
    pub fn resume(&self) {
        if let Some(p) = &self.proc {
            p.signal(Signal::SIGCONT);
        }
    }

    /// Starts the server again on the same port (stopping it first if it still runs). The data
    /// set is empty afterwards.
    ///
    /// # Panics
    ///
    /// If it does not come back within 15 s.
    pub async fn restart(&mut self) {
        self.stop();
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        loop {
            match self.spawn_and_wait().await {
                Ok(()) => return,
                Err(NotReady::Exited) if std::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => panic!(
                    "ha-testkit: redis-server did not restart on port {}; log:\n{}",
                    self.port,
                    self.log_tail()
                ),
            }
        }
    }

    async fn spawn_and_wait(&mut self) -> Result<(), NotReady> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--logfile", ""])
            .arg("--dir")
            .arg(self.dir.path())
            .current_dir(self.dir.path());
        let mut proc = ServerProcess::spawn(cmd, &self.log_path())
            .unwrap_or_else(|e| panic!("ha-testkit: cannot run {}: {e}", self.bin.display()));
        self.pid = proc.pid();
        let port = self.port;
        let ready = wait_ready(&mut proc, READY_TIMEOUT, || ping(port)).await;
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

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn log_tail(&self) -> String {
        crate::process::log_tail(&self.log_path(), 4096)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends `PING` in RESP and checks for `+PONG`, with a short timeout.
async fn ping(port: u16) -> bool {
    let attempt = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(b"*1\r\n$4\r\nPING\r\n").await.ok()?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).await.ok()?;
        Some(buf[..n].starts_with(b"+PONG"))
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}
