//! HAProxy, round robin over the replicas, health-checking `/health/ready` (what the README
//! tells load balancers to check), with the README's failover settings or none of them.

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

    /// The `backend` settings lines, as the README shows them.
    pub fn backend_lines(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "    balance roundrobin");
        let _ = writeln!(s, "    option httpchk GET /health/ready");
        let _ = writeln!(s, "    http-check expect status 200");
        if self.retry_elsewhere {
            let _ = writeln!(s, "    retries 2");
            let _ = writeln!(s, "    option redispatch 1");
            let _ = writeln!(s, "    retry-on conn-failure empty-response junk-response");
        }
        let _ = writeln!(
            s,
            "    default-server inter {}ms fall {} rise {}",
            self.inter.as_millis(),
            self.fall,
            self.rise
        );
        s
    }
}

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
        let mut cfg = format!(
            "global\n    maxconn 512\n\ndefaults\n    mode http\n    timeout connect 1s\n    \
             timeout client 60s\n    timeout server 60s\n    timeout check 1s\n\n\
             frontend players\n    bind 127.0.0.1:{port}\n    default_backend replicas\n\n\
             backend replicas\n{}",
            settings.backend_lines()
        );
        for r in replicas {
            let addr = r.base.trim_start_matches("http://");
            let _ = writeln!(cfg, "    server {} {addr} check", r.node);
        }
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
                .filter(|r| r.first().is_some_and(|p| p == "replicas"))
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
            .filter(|r| r.first().is_some_and(|p| p == "replicas"))
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
