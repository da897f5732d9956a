//! HAProxy, round robin over the replicas, health-checking `/health/ready` (what the README
//! tells load balancers to check), with the README's failover settings or none of them.
//!
//! The configuration is `deploy/load-balancer/haproxy.cfg`, the file the README points users
//! to, with only the addresses changed: the frontend's `bind` (a free loopback port), the
//! `server` lines (the replicas, with the file's server options), and a stats listener appended
//! for the counts. [`LbSettings::none`] also replaces the backend's retry and check lines.
//! Anything else in the file is what the test runs, so the file and the tested configuration
//! cannot drift apart.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::replica::Endpoint;

/// The failover settings of one HAProxy configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LbSettings {
    /// Health check interval (`inter`).
    pub inter: Duration,
    /// Failed checks before a server is taken out (`fall`).
    pub fall: u32,
    /// Passed checks before it is put back (`rise`).
    pub rise: u32,
    /// `retry-on conn-failure empty-response junk-response` with `option redispatch 1`: a
    /// request whose connection was refused or closed without an answer (a replica killed with
    /// the request in flight) is sent again, to another replica.
    pub retry_elsewhere: bool,
}

impl LbSettings {
    /// The README's configuration.
    pub fn recommended() -> Self {
        Self {
            inter: Duration::from_secs(1),
            fall: 2,
            rise: 2,
            retry_elsewhere: true,
        }
    }

    /// HAProxy's defaults for checks (`inter 2s fall 3 rise 2`), no retry elsewhere: a home-lab
    /// configuration with none of the settings.
    pub fn none() -> Self {
        Self {
            inter: Duration::from_secs(2),
            fall: 3,
            rise: 2,
            retry_elsewhere: false,
        }
    }

    /// The backend's `default-server` line for these check settings.
    fn default_server_line(&self) -> String {
        format!(
            "default-server inter {} fall {} rise {}",
            haproxy_duration(self.inter),
            self.fall,
            self.rise
        )
    }
}

/// `1s`, or `1500ms` when not whole seconds.
fn haproxy_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The deployable configuration (`deploy/load-balancer/haproxy.cfg`).
pub const DEPLOY_CONFIG: &str = include_str!("../../../deploy/load-balancer/haproxy.cfg");

/// Lines of the backend that make a refused or unanswered request go to another replica.
const RETRY_LINES: [&str; 3] = ["retries ", "option redispatch", "retry-on "];

/// [`DEPLOY_CONFIG`] with its frontend bound to `127.0.0.1:port`, its servers replaced by
/// `servers` (name, `host:port`) with the file's server options, and `settings` applied to the
/// backend (the file's lines are kept when they are [`LbSettings::recommended`], which they must
/// say). Panics when the file lost a line this needs (a bind, a server, a `default-server`).
pub fn config_for(port: u16, servers: &[(String, String)], settings: LbSettings) -> String {
    let recommended = settings == LbSettings::recommended();
    let mut out = String::new();
    let (mut binds, mut defaults, mut servers_done) = (0, 0, false);
    for line in DEPLOY_CONFIG.lines() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        if trimmed.starts_with("bind ") {
            binds += 1;
            let _ = writeln!(out, "{indent}bind 127.0.0.1:{port}");
        } else if let Some(rest) = trimmed.strip_prefix("server ") {
            if !servers_done {
                servers_done = true;
                // `server <name> <address> <options…>`: the options are the file's.
                let options: Vec<&str> = rest.split_whitespace().skip(2).collect();
                for (name, addr) in servers {
                    let _ = writeln!(out, "{indent}server {name} {addr} {}", options.join(" "));
                }
            }
        } else if trimmed.starts_with("default-server ") {
            defaults += 1;
            let file_line = trimmed.split('#').next().unwrap_or("").trim();
            if recommended {
                assert_eq!(
                    file_line,
                    settings.default_server_line(),
                    "deploy/load-balancer/haproxy.cfg and LbSettings::recommended() disagree"
                );
                let _ = writeln!(out, "{line}");
            } else {
                let _ = writeln!(out, "{indent}{}", settings.default_server_line());
            }
        } else if RETRY_LINES.iter().any(|l| trimmed.starts_with(l)) {
            if settings.retry_elsewhere {
                let _ = writeln!(out, "{line}");
            }
        } else {
            let _ = writeln!(out, "{line}");
        }
    }
    assert!(
        binds == 1 && defaults == 1 && servers_done,
        "deploy/load-balancer/haproxy.cfg needs one bind, one default-server and server lines"
    );
    if recommended {
        for l in RETRY_LINES {
            assert!(
                DEPLOY_CONFIG
                    .lines()
                    .any(|line| line.trim_start().starts_with(l)),
                "deploy/load-balancer/haproxy.cfg lost its `{}` line",
                l.trim()
            );
        }
    }
    out
}

/// The backend's name in [`DEPLOY_CONFIG`].
const BACKEND: &str = "media_ha";

/// Answers HAProxy's frontend sent, by class (its stats).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Answers {
    /// 2xx.
    pub ok: u64,
    /// 3xx and 4xx.
    pub client: u64,
    /// 5xx, its own (no server, 502 after a dead connection) and the replicas'.
    pub server_error: u64,
}

/// A running HAProxy (killed on drop).
pub struct Haproxy {
    child: Child,
    /// `http://127.0.0.1:<port>`: the address players use.
    pub base: String,
    stats: String,
    _dir: tempfile::TempDir,
}

impl Haproxy {
    /// Starts HAProxy in front of `replicas` with `settings`; waits until it answers and every
    /// replica is up in its checks.
    pub async fn start(replicas: &[Endpoint], settings: LbSettings) -> Self {
        let dir = tempfile::tempdir().expect("a directory for haproxy.cfg");
        let port = ha_testkit::free_port();
        let stats_port = ha_testkit::free_port();
        let servers: Vec<(String, String)> = replicas
            .iter()
            .map(|r| {
                (
                    r.node.clone(),
                    r.base.trim_start_matches("http://").to_owned(),
                )
            })
            .collect();
        let mut cfg = config_for(port, &servers, settings);
        let _ = write!(
            cfg,
            "\nlisten stats\n    bind 127.0.0.1:{stats_port}\n    stats enable\n    stats uri /stats\n"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, &cfg).expect("write haproxy.cfg");
        check_config(&path);
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start haproxy");
        let lb = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stats: format!("http://127.0.0.1:{stats_port}/stats;csv"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(up) = lb.servers_up().await {
                if up == replicas.len() {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "haproxy never saw every replica up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        lb
    }

    async fn csv(&self) -> Option<Vec<Vec<String>>> {
        let text = reqwest::get(&self.stats).await.ok()?.text().await.ok()?;
        Some(
            text.lines()
                .map(|l| l.split(',').map(str::to_owned).collect())
                .collect(),
        )
    }

    /// Servers of the backend that are UP.
    async fn servers_up(&self) -> Option<usize> {
        let rows = self.csv().await?;
        let header = rows.first()?;
        let status = header.iter().position(|h| h == "status")?;
        Some(
            rows.iter()
                .skip(1)
                .filter(|r| r.first().is_some_and(|p| p == BACKEND))
                .filter(|r| r.get(1).is_some_and(|s| s != "BACKEND"))
                .filter(|r| r.get(status).is_some_and(|s| s == "UP"))
                .count(),
        )
    }

    /// What the frontend answered so far.
    pub async fn answers(&self) -> Answers {
        let rows = self.csv().await.expect("haproxy stats");
        let header = &rows[0];
        let col = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("no {name} in haproxy stats"))
        };
        let row = rows
            .iter()
            .find(|r| {
                r.first().is_some_and(|p| p == "players")
                    && r.get(1).is_some_and(|s| s == "FRONTEND")
            })
            .expect("the frontend's stats row");
        let n = |name: &str| row[col(name)].parse::<u64>().unwrap_or(0);
        Answers {
            ok: n("hrsp_2xx"),
            client: n("hrsp_3xx") + n("hrsp_4xx"),
            server_error: n("hrsp_5xx"),
        }
    }
    /// Responses each replica (a server of the backend, by name) sent through HAProxy so far.
    pub async fn answers_by_server(&self) -> std::collections::BTreeMap<String, u64> {
        let rows = self.csv().await.expect("haproxy stats");
        let header = &rows[0];
        let columns: Vec<usize> = ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx"]
            .iter()
            .filter_map(|name| header.iter().position(|h| h == name))
            .collect();
        rows.iter()
            .skip(1)
            .filter(|r| r.first().is_some_and(|p| p == BACKEND))
            .filter(|r| r.get(1).is_some_and(|s| s != "BACKEND"))
            .map(|r| {
                let n = columns
                    .iter()
                    .filter_map(|&c| r.get(c).and_then(|v| v.parse::<u64>().ok()))
                    .sum();
                (r[1].clone(), n)
            })
            .collect()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check_config(path: &Path) {
    let out = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(path)
        .output()
        .expect("haproxy -c");
    assert!(
        out.status.success(),
        "haproxy refused {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers() -> Vec<(String, String)> {
        vec![
            ("r1".into(), "127.0.0.1:9001".into()),
            ("r2".into(), "127.0.0.1:9002".into()),
        ]
    }

    #[test]
    fn the_deployed_file_is_run_with_only_its_addresses_changed() {
        let cfg = config_for(8100, &servers(), LbSettings::recommended());
        assert!(cfg.contains("    bind 127.0.0.1:8100\n"), "{cfg}");
        assert!(
            cfg.contains("    server r1 127.0.0.1:9001 check\n"),
            "{cfg}"
        );
        assert!(
            cfg.contains("    server r2 127.0.0.1:9002 check\n"),
            "{cfg}"
        );
        assert!(!cfg.contains("10.0.0."), "{cfg}");
        // Every other line of the file is there as it is.
        for line in DEPLOY_CONFIG.lines() {
            let t = line.trim_start();
            if !(t.starts_with("bind ") || t.starts_with("server ")) {
                assert!(cfg.lines().any(|l| l == line), "lost {line:?}");
            }
        }
    }

    #[test]
    fn none_drops_the_retries_and_uses_haproxy_check_defaults() {
        let cfg = config_for(8100, &servers(), LbSettings::none());
        assert!(
            !cfg.contains("retry-on") && !cfg.contains("redispatch") && !cfg.contains("retries")
        );
        assert!(
            cfg.contains("default-server inter 2s fall 3 rise 2"),
            "{cfg}"
        );
        assert!(cfg.contains("option httpchk GET /health/ready"), "{cfg}");
    }
}
