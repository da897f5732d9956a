//! Running the peer tools (`redis-benchmark`, `pgbench`) and reading their numbers.
//!
//! Peers run as child processes of the harness, one at a time, never overlapping our own load,
//! so both sides see the same machine; the exact command line goes into RESULTS.md.

use std::process::Command;

use serde::Serialize;

/// One peer measurement.
#[derive(Debug, Clone, Serialize)]
pub struct PeerStats {
    /// Requests (or transactions) per second.
    pub ops_per_sec: f64,
    /// Median latency, ms (None when the tool does not report it).
    pub p50_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
    /// Average latency, ms.
    pub avg_ms: Option<f64>,
    /// The command line, shell-quoted.
    pub command: String,
}

/// Quotes `args` for display (what a reader pastes into a shell).
pub fn shell_line(program: &str, args: &[String]) -> String {
    std::iter::once(program.to_owned())
        .chain(args.iter().map(|a| {
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:/=,{}@".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

fn run(program: &str, args: &[String], env: &[(&str, String)]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            shell_line(program, args),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `redis-benchmark -p PORT -c clients -n requests --csv <command…>` (or `-t tests` when
/// `command` is empty). Returns one [`PeerStats`] per CSV row, in order.
pub fn redis_benchmark(
    port: u16,
    clients: usize,
    requests: u64,
    extra: &[&str],
    command: &[String],
) -> Result<Vec<(String, PeerStats)>, String> {
    let mut args: Vec<String> = [
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-c",
        &clients.to_string(),
        "-n",
        &requests.to_string(),
        "--csv",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(command.iter().cloned());
    let line = shell_line("redis-benchmark", &args);
    let out = run("redis-benchmark", &args, &[])?;
    parse_redis_csv(&out, &line)
}

/// Parses `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",
/// "p99_latency_ms","max_latency_ms"` rows (redis-benchmark ≥ 6.2).
fn parse_redis_csv(out: &str, line: &str) -> Result<Vec<(String, PeerStats)>, String> {
    let mut rows = Vec::new();
    for l in out.lines().filter(|l| !l.starts_with("\"test\"")) {
        let cols: Vec<&str> = l.split("\",\"").map(|c| c.trim_matches('"')).collect();
        if cols.len() < 8 {
            continue;
        }
        let f = |i: usize| cols[i].parse::<f64>().ok();
        rows.push((
            cols[0].to_owned(),
            PeerStats {
                ops_per_sec: f(1).ok_or_else(|| format!("bad rps in {l:?}"))?,
                avg_ms: f(2),
                p50_ms: f(4),
                p99_ms: f(6),
                command: line.to_owned(),
            },
        ));
    }
    if rows.is_empty() {
        return Err(format!("no CSV rows from `{line}`:\n{out}"));
    }
    Ok(rows)
}

/// `pgbench -n -M prepared -f script -c clients -j 2 -T secs URL`; reads `tps` and the average
/// latency from its summary.
pub fn pgbench(
    url: &str,
    script: &std::path::Path,
    clients: usize,
    secs: u64,
    search_path: &str,
) -> Result<PeerStats, String> {
    let args: Vec<String> = vec![
        "-n".into(),
        "-M".into(),
        "prepared".into(),
        "-f".into(),
        script.display().to_string(),
        "-c".into(),
        clients.to_string(),
        "-j".into(),
        "2".into(),
        "-T".into(),
        secs.to_string(),
        url.into(),
    ];
    let env = [("PGOPTIONS", format!("-c search_path={search_path}"))];
    let line = format!(
        "PGOPTIONS='-c search_path={search_path}' {}",
        shell_line("pgbench", &args)
    );
    let out = run("pgbench", &args, &env)?;
    let grab = |prefix: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
    };
    Ok(PeerStats {
        ops_per_sec: grab("tps = ").ok_or_else(|| format!("no tps in pgbench output:\n{out}"))?,
        avg_ms: grab("latency average = "),
        p50_ms: None,
        p99_ms: None,
        command: line,
    })
}
