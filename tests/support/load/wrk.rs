//! Running `wrk` with one of the scripts in `tests/wrk/` and reading its `HA_WRK` summary line.
//!
//! Why wrk and not a Rust client: it is the load tool a reader already trusts (Debian's
//! `wrk`), it runs in its own process with its own event loop, and its figures do not depend on
//! our HTTP client. Shared by `tests/server_load.rs` and the bench harness
//! (`benches/harness/server/` includes this file), so both measure the same way.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// The directory holding the wrk Lua scripts (`tests/wrk/`; this package is `tests/`).
pub fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("wrk")
}

/// One wrk run against one server.
#[derive(Debug, Clone)]
pub struct WrkRun {
    /// `http://host:port`.
    pub base: String,
    /// Script file name in [`scripts_dir`] (`items.lua`, …).
    pub script: String,
    /// Open connections (`-c`).
    pub connections: u32,
    /// Client threads (`-t`).
    pub threads: u32,
    /// Duration (`-d`).
    pub duration: Duration,
    /// Per-request timeout (`--timeout`): a slower answer counts as a timeout error.
    pub timeout: Duration,
    /// Environment the script reads (`HA_TOKEN`, `HA_USER_ID`, `HA_ITEM_IDS`, …).
    pub env: Vec<(String, String)>,
}

/// What wrk measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WrkStats {
    /// Completed requests.
    pub requests: u64,
    /// Wall time of the run, seconds.
    pub secs: f64,
    /// Response bytes read.
    pub bytes: u64,
    /// Socket errors: connect, read, write.
    pub socket_errors: u64,
    /// Requests that got no answer within the timeout.
    pub timeouts: u64,
    /// Responses with a status ≥ 400 (wrk's "Non-2xx or 3xx responses").
    pub status_errors: u64,
    /// Latency percentiles and maximum, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest request, ms.
    pub max_ms: f64,
}

impl WrkStats {
    /// Every kind of error wrk counts.
    pub fn errors(&self) -> u64 {
        self.socket_errors + self.timeouts + self.status_errors
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.requests as f64 / self.secs
        } else {
            0.0
        }
    }
}

impl WrkRun {
    /// The arguments after `wrk`.
    pub fn args(&self) -> Vec<String> {
        vec![
            "-t".into(),
            self.threads.to_string(),
            "-c".into(),
            self.connections.to_string(),
            "-d".into(),
            format!("{}s", self.duration.as_secs().max(1)),
            "--timeout".into(),
            format!("{}s", self.timeout.as_secs().max(1)),
            "-s".into(),
            scripts_dir().join(&self.script).display().to_string(),
            self.base.clone(),
        ]
    }

    /// The command line as a reader would type it (the token left out).
    pub fn command_line(&self) -> String {
        let env: Vec<String> = self
            .env
            .iter()
            .filter(|(k, _)| k != "HA_TOKEN")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut line = String::from("HA_TOKEN=… ");
        for e in env {
            line.push_str(&e);
            line.push(' ');
        }
        line.push_str("wrk ");
        line.push_str(&self.args().join(" "));
        line
    }

    /// Starts wrk; [`WrkRun::finish`] waits for it. Runs started back to back overlap, which
    /// is how one load is split across replicas.
    pub fn spawn(&self) -> Result<Child, String> {
        Command::new("wrk")
            .args(self.args())
            .env("HA_WRK_DIR", scripts_dir())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run wrk (scripts/install-deps.sh installs it): {e}"))
    }

    /// Waits for a run started with [`WrkRun::spawn`] and parses its summary.
    pub fn finish(child: Child) -> Result<WrkStats, String> {
        let out = child.wait_with_output().map_err(|e| format!("wrk: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "wrk failed ({}): {stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        parse(&stdout)
    }

    /// Runs wrk to the end.
    pub fn run(&self) -> Result<WrkStats, String> {
        Self::finish(self.spawn()?)
    }
}

/// Reads the `HA_WRK {json}` line `tests/wrk/common.lua` prints.
pub fn parse(stdout: &str) -> Result<WrkStats, String> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("HA_WRK "))
        .ok_or_else(|| format!("no HA_WRK line in wrk's output:\n{stdout}"))?;
    let v: Value =
        serde_json::from_str(line).map_err(|e| format!("bad HA_WRK line {line:?}: {e}"))?;
    let n = |k: &str| v[k].as_f64().ok_or_else(|| format!("no {k} in {line}"));
    Ok(WrkStats {
        requests: n("requests")? as u64,
        secs: n("duration_us")? / 1e6,
        bytes: n("bytes")? as u64,
        socket_errors: (n("connect")? + n("read")? + n("write")?) as u64,
        timeouts: n("timeout")? as u64,
        status_errors: n("status")? as u64,
        p50_ms: n("p50_us")? / 1e3,
        p99_ms: n("p99_us")? / 1e3,
        max_ms: n("max_us")? / 1e3,
    })
}

/// Runs one wrk per server at the same time (a plain load balancer's even split: wrk cannot
/// alternate hosts within one run), each with `connections / servers.len()` connections.
pub fn run_split(template: &WrkRun, bases: &[String]) -> Result<Vec<WrkStats>, String> {
    let per = (template.connections / bases.len().max(1) as u32).max(1);
    let children = bases
        .iter()
        .map(|b| {
            WrkRun {
                base: b.clone(),
                connections: per,
                ..template.clone()
            }
            .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    children.into_iter().map(WrkRun::finish).collect()
}

/// The figures of a split run taken together: requests and errors add up, the duration is the
/// longest run's (so the rate is all requests over that, a hair under the sum of the rates),
/// and the latency percentiles are the worse server's (wrk reports
/// percentiles per process, and they cannot be merged exactly).
pub fn combine(parts: &[WrkStats]) -> WrkStats {
    let mut all = WrkStats::default();
    for p in parts {
        all.requests += p.requests;
        all.bytes += p.bytes;
        all.socket_errors += p.socket_errors;
        all.timeouts += p.timeouts;
        all.status_errors += p.status_errors;
        all.secs = all.secs.max(p.secs);
        all.p50_ms = all.p50_ms.max(p.p50_ms);
        all.p99_ms = all.p99_ms.max(p.p99_ms);
        all.max_ms = all.max_ms.max(p.max_ms);
    }
    all
}
