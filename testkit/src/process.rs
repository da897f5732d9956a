//! Child-process plumbing shared by [`RedisServer`](crate::RedisServer) and
//! [`PostgresServer`](crate::PostgresServer).
//!
//! Why not `tokio::process`: the servers must die in `Drop`, which is synchronous, and `SIGKILL`
//! followed by `wait` returns in microseconds, so a plain `std::process::Child` is simpler and
//! works from any runtime (each `#[tokio::test]` has its own). Signals go through `nix`'s safe
//! wrappers; no `unsafe` here.
//!
//! A "crash" must take down the server's helper processes too: a Postgres backend that outlives
//! its postmaster keeps the shared memory attached, and the restarted postmaster then refuses to
//! start ("pre-existing shared memory block is still in use"). So [`ServerProcess::kill`] freezes
//! the main process, collects its children from `/proc`, and kills them all.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{self, Signal};
use nix::unistd::{Gid, Pid, Uid, User};

/// One server process whose output goes to a log file.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Option<Child>,
    pid: u32,
}

impl ServerProcess {
    /// Spawns `cmd` with stdin closed and stdout/stderr appended to `log`.
    pub(crate) fn spawn(mut cmd: Command, log: &Path) -> std::io::Result<ServerProcess> {
        let out = OpenOptions::new().create(true).append(true).open(log)?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()?;
        Ok(ServerProcess {
            pid: child.id(),
            child: Some(child),
        })
    }

    /// The pid of the process most recently started.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the process is still running (a stopped, i.e. paused, process counts as running).
    pub(crate) fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends `sig` to the main process; a process that is already gone is not an error.
    pub(crate) fn signal(&self, sig: Signal) {
        if self.child.is_some() {
            let _ = signal::kill(pid(self.pid), sig);
        }
    }

    /// Sends `sig` to the main process and its direct children (a Postgres postmaster and its
    /// backends). The main process is signalled first, so a frozen one cannot fork a child we
    /// would miss.
    pub(crate) fn signal_all(&self, sig: Signal) {
        if self.child.is_some() {
            let _ = signal::kill(pid(self.pid), sig);
            for c in children_of(self.pid) {
                let _ = signal::kill(Pid::from_raw(c), sig);
            }
        }
    }

    /// `SIGKILL`s the process and its direct children, then reaps it.
    pub(crate) fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Freeze it first so it cannot fork a child we would miss.
        let _ = signal::kill(pid(self.pid), Signal::SIGSTOP);
        let children = children_of(self.pid);
        let _ = child.kill();
        for &c in &children {
            let _ = signal::kill(Pid::from_raw(c), Signal::SIGKILL);
        }
        let _ = child.wait();
        // The children were reparented, so we cannot wait for them; watch them die instead
        // (a restart retries anyway if one lingers).
        let deadline = Instant::now() + Duration::from_secs(2);
        while children.iter().any(|&c| is_alive(c)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Asks the process to exit with `sig` (resuming it first if paused), waits up to `grace`,
    /// then kills it.
    pub(crate) fn terminate(&mut self, sig: Signal, grace: Duration) {
        let Some(child) = &mut self.child else {
            return;
        };
        let _ = signal::kill(pid(self.pid), Signal::SIGCONT);
        let _ = signal::kill(pid(self.pid), sig);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                self.child = None;
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
    }

    /// Reaps the process if it has exited on its own; returns whether it had.
    pub(crate) fn reap_if_exited(&mut self) -> bool {
        let exited = match &mut self.child {
            Some(child) => !matches!(child.try_wait(), Ok(None)),
            None => true,
        };
        if exited {
            self.child = None;
        }
        exited
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn pid(p: u32) -> Pid {
    Pid::from_raw(i32::try_from(p).unwrap_or(i32::MAX))
}

/// The last `max` bytes of a file, lossily decoded.
pub(crate) fn log_tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Pids whose parent is `parent`, read from `/proc/<pid>/stat`.
fn children_of(parent: u32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| parent_of(p) == Some(parent))
        .collect()
}

/// Whether `p` exists and is not a zombie.
fn is_alive(p: i32) -> bool {
    stat_fields(p).is_some_and(|(state, _)| state != "Z" && state != "X")
}

fn parent_of(p: i32) -> Option<u32> {
    stat_fields(p)?.1.parse().ok()
}

/// The state and parent-pid fields of `/proc/<p>/stat`; the command name before them may contain
/// spaces and parentheses, so parse after the last `)`.
fn stat_fields(p: i32) -> Option<(String, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.to_owned();
    let ppid = fields.next()?.to_owned();
    Some((state, ppid))
}

/// Finds an executable: first on `PATH`, then in `extra` directories, in order.
pub(crate) fn find_binary(name: &str, extra: &[PathBuf]) -> Option<PathBuf> {
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .iter()
        .chain(extra)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Why a server did not become ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotReady {
    /// The process exited (bad config, port taken, shared memory still in use, ...).
    Exited,
    /// It kept running but never answered.
    TimedOut,
}

/// Polls `probe` until it returns true, the process exits, or `timeout` passes.
pub(crate) async fn wait_ready<F, Fut>(
    proc: &mut ServerProcess,
    timeout: Duration,
    mut probe: F,
) -> Result<(), NotReady>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let answered = probe().await;
        // Check exit even after an answer: if our server failed to bind, someone else's server
        // on that port may have answered.
        if proc.reap_if_exited() {
            return Err(NotReady::Exited);
        }
        if answered {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(NotReady::TimedOut);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// `Some((uid, gid))` of the user to run Postgres and PgBouncer as when we are root (both refuse
/// to run as root); `None` when not root.
pub(crate) fn unprivileged_user() -> Option<(Uid, Gid)> {
    if !Uid::effective().is_root() {
        return None;
    }
    let user = ["postgres", "nobody"]
        .iter()
        .find_map(|name| User::from_name(name).ok().flatten())
        .expect("ha-testkit: running as root, but neither a `postgres` nor a `nobody` user exists");
    Some((user.uid, user.gid))
}
