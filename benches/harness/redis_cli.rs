//! Small `redis-cli` calls for the harness's own bookkeeping: loading the peer's scripts and
//! reading `INFO` counters. Shelling out keeps the root package free of a direct `redis`
//! dependency, and none of this is timed.

use std::process::Command;

/// Runs `redis-cli -p port args…` and returns its stdout, trimmed.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli (apt-get install redis-tools)");
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `SCRIPT LOAD`s `source` and returns its SHA1.
pub fn script_load(port: u16, source: &str) -> String {
    cli(port, &["SCRIPT", "LOAD", source])
}

/// `calls=` of `cmdstat_<command>` in `INFO commandstats` (0 when never called).
pub fn command_calls(port: u16, command: &str) -> u64 {
    let info = cli(port, &["INFO", "commandstats"]);
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `total_commands_processed` from `INFO stats`.
pub fn total_commands(port: u16) -> u64 {
    cli(port, &["INFO", "stats"])
        .lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// `calls=` and `usec=` of `cmdstat_<command>` in `INFO commandstats` ((0, 0) when never
/// called): the server time a phase spent in one command is the difference of two readings.
pub fn command_stat(port: u16, command: &str) -> (u64, u64) {
    let info = cli(port, &["INFO", "commandstats"]);
    let prefix = format!("cmdstat_{command}:");
    let Some(rest) = info.lines().find_map(|l| l.strip_prefix(&prefix)) else {
        return (0, 0);
    };
    let field = |name: &str| {
        rest.split(',')
            .find_map(|kv| kv.strip_prefix(name))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("calls="), field("usec="))
}

/// Where one client phase's time went: the server's calls and time in one command (from
/// `INFO commandstats`) and this process's CPU (`/proc/self/stat`), per operation.
pub struct PhaseProfile {
    command: &'static str,
    calls: u64,
    usec: u64,
    cpu_secs: f64,
}

impl PhaseProfile {
    /// The counters before a phase whose calls are `command`.
    pub fn start(port: u16, command: &'static str) -> Self {
        let (calls, usec) = command_stat(port, command);
        Self {
            command,
            calls,
            usec,
            cpu_secs: crate::cpu::self_cpu_secs(),
        }
    }

    /// After the phase, which completed `ops` operations: calls per operation, server µs per
    /// call and per operation, client CPU µs per operation.
    pub fn finish(&self, port: u16, ops: u64) -> String {
        let cpu = crate::cpu::self_cpu_secs() - self.cpu_secs;
        let (calls, usec) = command_stat(port, self.command);
        let (calls, usec) = (calls - self.calls, usec - self.usec);
        let ops = ops.max(1) as f64;
        format!(
            "{} {calls} calls ({:.1} ops/call, {:.2} µs server/call, {:.2} µs server/op), \
             client CPU {cpu:.2} s ({:.2} µs/op)",
            self.command.to_uppercase(),
            ops / calls.max(1) as f64,
            usec as f64 / calls.max(1) as f64,
            usec as f64 / ops,
            cpu * 1e6 / ops,
        )
    }
}
