//! Contender *processes*: the test binary re-executes itself.
//!
//! # How, and why this way
//!
//! The parent runs `current_exe() --exact safety_child --nocapture` with `HA_SAFETY_CHILD=1`
//! and the run's parameters in the environment. In the child, the `safety_child` test sees the
//! variable and runs contenders; in a normal `cargo test` run it sees nothing and returns at
//! once. No extra binary, no `harness = false` target, and the child is exactly the code under
//! test. Each child opens its own client, writes its history as JSON lines to its own file and
//! exits at the run's wall-clock deadline; its pid is what the driver SIGSTOPs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::backends::Backend;
use super::contender::{run_tasks, Plan};
use super::history::Recorder;

const CHILD: &str = "HA_SAFETY_CHILD";
const BACKEND: &str = "HA_SAFETY_BACKEND";
const URL: &str = "HA_SAFETY_URL";
const NS: &str = "HA_SAFETY_NS";
const KEYS: &str = "HA_SAFETY_KEYS";
const TTL_MS: &str = "HA_SAFETY_TTL_MS";
const UNTIL_US: &str = "HA_SAFETY_UNTIL_US";
const TASKS: &str = "HA_SAFETY_TASKS";
const HISTORY: &str = "HA_SAFETY_HISTORY";
const SEED: &str = "HA_SAFETY_SEED";
const LIVENESS_MS: &str = "HA_SAFETY_LIVENESS_MS";

/// A running contender process.
#[derive(Debug)]
pub struct ChildProc {
    /// Its OS pid (what `SIGSTOP` targets).
    pub pid: u32,
    /// Its name in the history (`pid-<n>`).
    pub name: String,
    /// Its history file.
    pub history: PathBuf,
    child: Child,
    log: PathBuf,
}

/// Starts one contender process.
pub fn spawn(
    backend: &Backend,
    plan: &Plan,
    tasks: usize,
    seed: u64,
    dir: &Path,
    index: usize,
) -> ChildProc {
    let (kind, url, ns) = backend.to_parts();
    let history = dir.join(format!("child-{index}.jsonl"));
    let log = dir.join(format!("child-{index}.log"));
    let log_file = std::fs::File::create(&log).expect("child log file");
    let child = Command::new(std::env::current_exe().expect("current exe"))
        .args([
            "--exact",
            "safety_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD, "1")
        .env(BACKEND, kind)
        .env(URL, url)
        .env(NS, ns)
        .env(KEYS, plan.keys.join(","))
        .env(TTL_MS, plan.ttl.as_millis().to_string())
        .env(UNTIL_US, plan.until_us.to_string())
        .env(TASKS, tasks.to_string())
        .env(HISTORY, &history)
        .env(SEED, seed.to_string())
        .env(
            LIVENESS_MS,
            plan.liveness
                .map_or(0, |l| l.as_millis() as u64)
                .to_string(),
        )
        .stdout(log_file.try_clone().expect("log fd"))
        .stderr(log_file)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn contender process");
    let pid = child.id().expect("child pid");
    ChildProc {
        pid,
        name: format!("pid-{pid}"),
        history,
        child,
        log,
    }
}

impl ChildProc {
    /// Waits for the child to exit (it stops at the run's deadline) and checks it succeeded.
    pub async fn wait(mut self, grace: Duration) -> PathBuf {
        let status = tokio::time::timeout(grace, self.child.wait()).await;
        let log = || std::fs::read_to_string(&self.log).unwrap_or_default();
        match status {
            Ok(Ok(s)) if s.success() => self.history,
            Ok(other) => panic!("contender {} failed: {other:?}\n{}", self.name, log()),
            Err(_) => {
                let _ = self.child.kill().await;
                panic!("contender {} did not stop in time\n{}", self.name, log())
            }
        }
    }
}

/// True in a child process.
pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} not set in a contender process"))
}

/// The body of a contender process: run the tasks the environment asks for.
pub async fn child_main() {
    let backend = Backend::from_parts(&var(BACKEND), &var(URL), &var(NS));
    let plan = Plan {
        keys: var(KEYS).split(',').map(str::to_owned).collect(),
        ttl: Duration::from_millis(var(TTL_MS).parse().expect("ttl")),
        until_us: var(UNTIL_US).parse().expect("until"),
        liveness: match var(LIVENESS_MS).parse::<u64>().expect("liveness ms") {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        },
    };
    let tasks: usize = var(TASKS).parse().expect("tasks");
    let seed: u64 = var(SEED).parse().expect("seed");
    let recorder = Recorder::to_file(Path::new(&var(HISTORY))).expect("history file");
    let stores = backend.open().await;
    let name = format!("pid-{}", std::process::id());
    run_tasks(&name, tasks, stores, plan, recorder, seed).await;
}
