//! What the multi-process Redis set-ups ([`RedisSentinelSet`](crate::RedisSentinelSet),
//! [`RedisClusterSet`](crate::RedisClusterSet)) share: finding the binaries, the TLS listener
//! arguments, starting one `redis-server` until it answers, and `redis-cli` for
//! administration (it speaks TLS and AUTH, so this crate needs no Redis client library).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::{find_binary, log_tail, ServerProcess};
use crate::tls::TestTls;

/// How long a start, a failover or a cluster formation may take before we give up.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(30);

/// The binaries and the optional TLS material of one set-up.
#[derive(Debug)]
pub(crate) struct RedisTools {
    pub bin: PathBuf,
    cli: PathBuf,
    pub tls: Option<TestTls>,
}

/// One `redis-server` process of a set-up.
#[derive(Debug)]
pub(crate) struct Process {
    pub port: u16,
    pub proc: Option<ServerProcess>,
    pub log: PathBuf,
}

impl Process {
    /// `SIGKILL`s it (no-op when already gone).
    pub(crate) fn kill(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }
}

impl RedisTools {
    /// Finds `redis-server` and `redis-cli`; generates certificates in `tls_dir` when given.
    ///
    /// # Panics
    ///
    /// When either binary is missing.
    pub(crate) fn new(tls_dir: Option<&Path>) -> RedisTools {
        let dirs = [
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/local/bin"),
            PathBuf::from("/usr/sbin"),
        ];
        RedisTools {
            bin: find_binary("redis-server", &dirs)
                .expect("ha-testkit: `redis-server` not found on PATH or in /usr/bin"),
            cli: find_binary("redis-cli", &dirs)
                .expect("ha-testkit: `redis-cli` not found on PATH or in /usr/bin"),
            tls: tls_dir.map(TestTls::generate),
        }
    }

    /// `--port P` or, with TLS, a TLS-only listener whose outgoing links (replication,
    /// sentinel to node, sentinel to sentinel, cluster bus) use TLS too.
    pub(crate) fn listen_args(&self, port: u16) -> Vec<String> {
        let port = port.to_string();
        match &self.tls {
            None => vec!["--port".into(), port],
            Some(tls) => {
                let path = |p: PathBuf| p.display().to_string();
                vec![
                    "--port".into(),
                    "0".into(),
                    "--tls-port".into(),
                    port,
                    "--tls-cert-file".into(),
                    path(tls.server_cert()),
                    "--tls-key-file".into(),
                    path(tls.server_key()),
                    "--tls-ca-cert-file".into(),
                    path(tls.ca_cert()),
                    "--tls-auth-clients".into(),
                    "no".into(),
                    "--tls-replication".into(),
                    "yes".into(),
                    "--tls-cluster".into(),
                    "yes".into(),
                ]
            }
        }
    }

    /// Spawns `cmd` and waits until `port` answers `PING` (with `password`); `None` when the
    /// process exited first (the port was taken: try another).
    ///
    /// # Panics
    ///
    /// When it runs but never answers within [`TIMEOUT`].
    pub(crate) async fn spawn_ready(
        &self,
        cmd: Command,
        port: u16,
        log: &Path,
        password: Option<&str>,
    ) -> Option<Process> {
        let mut proc = ServerProcess::spawn(cmd, log)
            .unwrap_or_else(|e| panic!("ha-testkit: cannot run {}: {e}", self.bin.display()));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let pong = self
                .cli(port, password, &["PING"])
                .is_ok_and(|o| o.trim() == "PONG");
            if proc.reap_if_exited() {
                return None;
            }
            if pong {
                return Some(Process {
                    port,
                    proc: Some(proc),
                    log: log.to_owned(),
                });
            }
            assert!(
                Instant::now() < deadline,
                "ha-testkit: process on {port} never answered PING\n{}",
                log_tail(log, 4096)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `redis-cli` against `127.0.0.1:port` and returns its output.
    ///
    /// # Errors
    ///
    /// The output when `redis-cli` fails or the reply is an error.
    pub(crate) fn cli(
        &self,
        port: u16,
        password: Option<&str>,
        args: &[&str],
    ) -> Result<String, String> {
        let mut cmd = Command::new(&self.cli);
        cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
        if let Some(tls) = &self.tls {
            cmd.arg("--tls").arg("--cacert").arg(tls.ca_cert());
        }
        if let Some(pw) = password {
            // Through the environment, not argv (and without redis-cli's warning about it).
            cmd.env("REDISCLI_AUTH", pw);
        }
        let out = cmd
            .args(args)
            .output()
            .map_err(|e| format!("redis-cli: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let error_reply = [
            "ERR",
            "NOAUTH",
            "WRONGPASS",
            "(error)",
            "NOGOODSLAVE",
            "INPROG",
        ]
        .iter()
        .any(|e| stdout.starts_with(e));
        if out.status.success() && !error_reply {
            Ok(stdout)
        } else {
            Err(format!(
                "{stdout}{}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

/// Polls `ready` every 100 ms until it holds.
///
/// # Panics
///
/// After [`TIMEOUT`], with `what` and `logs()`.
pub(crate) async fn wait_until(
    what: &str,
    mut ready: impl FnMut() -> bool,
    logs: impl Fn() -> String,
) {
    let deadline = Instant::now() + TIMEOUT;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "ha-testkit: timed out waiting for {what}\n{}",
            logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last lines of each process's log.
pub(crate) fn logs<'a>(procs: impl Iterator<Item = &'a Process>) -> String {
    procs
        .map(|p| format!("--- {} ---\n{}", p.port, log_tail(&p.log, 2048)))
        .collect::<Vec<_>>()
        .join("\n")
}
