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
