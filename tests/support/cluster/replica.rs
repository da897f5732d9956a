//! One reference-server replica as an OS process in its own process group (the server and the
//! transcode workers it re-executes), so that a SIGKILL takes the whole "node" down, as a dead
//! machine would, and nothing outlives the test.
//!
//! A restart reuses the port, the data directory and every flag: what an orchestrator does
//! when it restarts a pod in place during a rolling update.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use super::binary::server_binary;
use super::setup::Shared;
use super::{ADMIN, ADMIN_PW, PATIENCE};

/// Where a replica answers: its node id and base URL (stable across restarts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `--node-id`.
    pub node: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

/// One replica process (see the module docs).
pub struct Replica {
    /// Node id and URL.
    pub endpoint: Endpoint,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    child: Child,
    /// Every process group this replica ran as (one per start), killed on drop.
    groups: Vec<Pid>,
    log: PathBuf,
    _data: tempfile::TempDir,
}

impl Replica {
    /// Starts replica `node` of `shared`'s cluster on a free port, serving `library`.
    pub fn start(node: &str, shared: &Shared, library: &Path) -> Self {
        let port = ha_testkit::free_port();
        let data = tempfile::tempdir().expect("a data directory");
        let mut args: Vec<OsString> = Vec::new();
        let mut arg = |flag: &str, value: &dyn AsRef<std::ffi::OsStr>| {
            args.push(flag.into());
            args.push(value.as_ref().to_owned());
        };
        arg("--listen", &format!("127.0.0.1:{port}"));
        arg("--media", &library);
        arg("--data", &data.path());
        arg("--transcode-dir", &shared.transcodes.path());
        if shared.use_redis {
            arg("--redis", &shared.redis);
        }
        arg("--postgres", &shared.postgres);
        arg("--namespace", &shared.namespace);
        arg("--node-id", &node);
        arg("--admin-user", &ADMIN);
        arg("--admin-password", &ADMIN_PW);
        arg("--scan-interval", &"0");
        args.extend(shared.extra_args.iter().cloned());
        let mut env: Vec<(OsString, OsString)> = Vec::new();
        if let Some(dir) = &shared.history {
            use crate::safety::recorded::{HISTORY_DIR_VAR, HISTORY_NODE_VAR};
            env.push((HISTORY_DIR_VAR.into(), dir.path().into()));
            env.push((HISTORY_NODE_VAR.into(), node.into()));
        }
        let log = shared.logs.path().join(format!("{node}.log"));
        let child = spawn(&args, &env, &log);
        Self {
            endpoint: Endpoint {
                node: node.to_owned(),
                base: format!("http://127.0.0.1:{port}"),
            },
            groups: vec![pid_of(&child)],
            args,
            env,
            child,
            log,
            _data: data,
        }
    }

    /// Starts a single node on in-process stores (no Redis, no PostgreSQL, its own transcode
    /// directory) on a free port, serving `library`, logging into `logs`: the zero-configuration
    /// default, for figures that compare it with a cluster (`benches/harness/server/`).
    pub fn start_single(node: &str, library: &Path, logs: &Path) -> Self {
        let port = ha_testkit::free_port();
        let data = tempfile::tempdir().expect("a data directory");
        let args: Vec<OsString> = vec![
            "--listen".into(),
            format!("127.0.0.1:{port}").into(),
            "--media".into(),
            library.into(),
            "--data".into(),
            data.path().into(),
            "--node-id".into(),
            node.into(),
            "--admin-user".into(),
            ADMIN.into(),
            "--admin-password".into(),
            ADMIN_PW.into(),
            "--scan-interval".into(),
            "0".into(),
        ];
        let log = logs.join(format!("{node}.log"));
        let child = spawn(&args, &[], &log);
        Self {
            endpoint: Endpoint {
                node: node.to_owned(),
                base: format!("http://127.0.0.1:{port}"),
            },
            groups: vec![pid_of(&child)],
            args,
            env: Vec::new(),
            child,
            log,
            _data: data,
        }
    }

    /// The node id.
    pub fn node(&self) -> &str {
        &self.endpoint.node
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.endpoint.base
    }

    /// The server's pid (also its process group id).
    pub fn pid(&self) -> Pid {
        pid_of(&self.child)
    }

    /// True once the server process has exited (and was reaped).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// SIGKILL of the whole process group (server and workers): the node dies without a word.
    pub fn crash(&mut self) {
        killpg(self.pid(), Signal::SIGKILL).expect("SIGKILL the replica's group");
        let _ = self.child.wait();
    }

    /// SIGSTOP of the whole process group (server and workers), as a VM paused or a process
    /// stalled far longer than any renewal interval; [`resume`](Self::resume) undoes it.
    pub fn freeze(&self) {
        killpg(self.pid(), Signal::SIGSTOP).expect("SIGSTOP the replica's group");
    }

    /// SIGCONT of the whole process group.
    pub fn resume(&self) {
        killpg(self.pid(), Signal::SIGCONT).expect("SIGCONT the replica's group");
    }

    /// SIGTERM of the server alone: a graceful shutdown, as `docker stop` or Kubernetes send.
    pub fn terminate(&self) {
        kill(self.pid(), Signal::SIGTERM).expect("SIGTERM the replica");
    }

    /// Waits up to `within` for the server to exit; its status, or `None` if it is still up.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// True if a process of the exited server's group (a transcode worker) is still running.
    pub fn leftovers(&self) -> bool {
        killpg(self.pid(), None).is_ok()
    }

    /// Starts the server again, same port, data directory and flags. Call after it exited.
    pub fn restart(&mut self) {
        assert!(self.exited(), "{} restarted while running", self.node());
        // Anything the old group left behind must not outlive it.
        let _ = killpg(self.pid(), Signal::SIGKILL);
        if let Ok(mut f) = OpenOptions::new().append(true).open(&self.log) {
            let _ = writeln!(f, "\n===== restart =====\n");
        }
        self.child = spawn(&self.args, &self.env, &self.log);
        self.groups.push(self.pid());
    }

    /// Waits until `GET /health/ready` answers 200 (stores reachable: what a load balancer's
    /// readiness probe waits for). Panics with the log tail if it exits or takes too long.
    pub async fn wait_ready(&mut self, http: &reqwest::Client) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(
                !self.exited(),
                "{} exited at start\n{}",
                self.node(),
                self.log_tail()
            );
            if let Ok(r) = http
                .get(format!("{}/health/ready", self.base()))
                .send()
                .await
            {
                if r.status().is_success() {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} not ready\n{}",
                self.node(),
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The end of the replica's log (all its runs), for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        format!("--- {} log tail ---\n{}", self.node(), &text[start..])
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        // Every group: an orphaned worker must not outlive the test.
        for group in &self.groups {
            let _ = killpg(*group, Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).expect("a pid fits in i32"))
}

fn spawn(args: &[OsString], env: &[(OsString, OsString)], log: &Path) -> Child {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open the replica log");
    let err: File = out.try_clone().expect("clone the log handle");
    Command::new(server_binary())
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .expect("start the reference server")
}
