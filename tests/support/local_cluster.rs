//! The cluster of `deploy/local-cluster/cluster.sh`, driven from a test: the script a user runs
//! (three replicas with the manifests' environment, HAProxy with the README's settings, Redis
//! primary + replica + three sentinels with passwords, PostgreSQL primary + streaming standby
//! on a multi-host URL), in a run directory and on a block of ports of its own, brought down on
//! drop.
//!
//! Why drive the script rather than start the same processes from Rust: the script is what the
//! README tells users to run, and a test that goes through it keeps it working.
//!
//! The replicas are this package's `ha-test-server` (`media-ha-server`'s `main`), started with
//! `HA_TEST_HISTORY_DIR`: their lease operations and fenced writes go to the lease-history
//! checker ([`crate::safety::recorded`]).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::browser::haproxy::Answers;
use crate::cluster::binary::server_binary;
use crate::cluster::replica::Endpoint;
use crate::cluster::ADMIN_PW;
use crate::safety::history::{read_file, Entry};

/// Offsets from the port base the script uses (`cluster.sh`, "Ports").
const PORT_OFFSETS: [u16; 12] = [0, 1, 11, 12, 13, 21, 22, 31, 32, 33, 41, 42];

/// A running cluster (see the module docs).
pub struct LocalCluster {
    run: tempfile::TempDir,
    history: tempfile::TempDir,
    library: PathBuf,
    base: u16,
    /// The load balancer's URL, `http://127.0.0.1:<base>`.
    pub url: String,
}

/// `deploy/local-cluster/cluster.sh`.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/local-cluster/cluster.sh")
}

impl LocalCluster {
    /// `cluster.sh up` serving `library`, on a free block of ports; panics with the script's
    /// output and the replicas' logs if it fails.
    pub async fn up(library: &Path) -> Self {
        let base = free_block();
        let lc = Self {
            run: tempfile::Builder::new()
                .prefix("ha-local-cluster-")
                .tempdir()
                .expect("a run directory"),
            history: tempfile::tempdir().expect("a history directory"),
            library: library.to_owned(),
            base,
            url: format!("http://127.0.0.1:{base}"),
        };
        // PostgreSQL runs as the `postgres` user when we are root: it must reach the directory.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(lc.run.path(), std::fs::Permissions::from_mode(0o755));
        }
        lc.run_script("up").await;
        lc
    }

    fn dir(&self) -> PathBuf {
        self.run.path().join("cluster")
    }

    fn command(&self, verb: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(script());
        cmd.arg(verb)
            .env("MEDIA_HA_CLUSTER_DIR", self.dir())
            .env("MEDIA_HA_CLUSTER_PORT_BASE", self.base.to_string())
            .env("MEDIA_HA_SERVER_BIN", server_binary())
            .env("MEDIA_HA_CLUSTER_MEDIA", &self.library)
            .env("MEDIA_HA_CLUSTER_ADMIN_PASSWORD", ADMIN_PW)
            .env("HA_TEST_HISTORY_DIR", self.history.path())
            // `down` need not wait for a drain nobody watches.
            .env("MEDIA_HA_SHUTDOWN_DRAIN", "1s")
            .env("RUST_LOG", "info");
        cmd
    }

    /// Runs `cluster.sh <verb>`; its stdout. Panics with its output when it fails.
    pub async fn run_script(&self, verb: &str) -> String {
        let out = tokio::process::Command::from(self.command(verb))
            .output()
            .await
            .expect("run deploy/local-cluster/cluster.sh");
        assert!(
            out.status.success(),
            "cluster.sh {verb} failed ({}):\n{}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log_tails()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `cluster.sh <verb>`, timed.
    pub async fn timed(&self, verb: &str) -> Duration {
        let start = Instant::now();
        self.run_script(verb).await;
        start.elapsed()
    }

    /// The load balancer as an endpoint (every request through it).
    pub fn balancer(&self) -> Endpoint {
        Endpoint {
            node: "haproxy".into(),
            base: self.url.clone(),
        }
    }

    /// The three replicas, reached directly.
    pub fn replicas(&self) -> Vec<Endpoint> {
        (1..=3u16)
            .map(|i| Endpoint {
                node: format!("r{i}"),
                base: format!("http://127.0.0.1:{}", self.base + 10 + i),
            })
            .collect()
    }

    /// What HAProxy's frontend answered so far (its stats, `listen stats` on base + 1).
    pub async fn answers(&self) -> Answers {
        let url = format!("http://127.0.0.1:{}/stats;csv", self.base + 1);
        let text = reqwest::get(&url)
            .await
            .expect("haproxy stats")
            .text()
            .await
            .expect("haproxy stats body");
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
        let header = &rows[0];
        let row = rows
            .iter()
            .find(|r| r.first() == Some(&"players") && r.get(1) == Some(&"FRONTEND"))
            .expect("the frontend's stats row");
        let n = |name: &str| {
            header
                .iter()
                .position(|h| h.trim_start_matches("# ") == name)
                .and_then(|i| row.get(i))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Answers {
            ok: n("hrsp_2xx"),
            client: n("hrsp_3xx") + n("hrsp_4xx"),
            server_error: n("hrsp_5xx"),
        }
    }

    /// Every lease operation and fenced write the replicas recorded.
    pub fn history(&self) -> Vec<Entry> {
        std::fs::read_dir(self.history.path())
            .expect("the history directory")
            .flatten()
            .flat_map(|f| read_file(&f.path()).expect("a history file"))
            .collect()
    }

    /// The end of each replica's log, for failure messages.
    pub fn log_tails(&self) -> String {
        (1..=3)
            .map(|i| {
                let text = std::fs::read_to_string(self.dir().join(format!("r{i}/server.log")))
                    .unwrap_or_default();
                let start = text.len().saturating_sub(3000);
                let start = (start..text.len())
                    .find(|i| text.is_char_boundary(*i))
                    .unwrap_or(text.len());
                format!("--- r{i} log tail ---\n{}", &text[start..])
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = self.command("down").output();
    }
}

/// A port base whose every port the script uses is free now (a random block, tried until one
/// is; the script refuses nothing, so a port taken later shows as a failed start).
fn free_block() -> u16 {
    for _ in 0..50 {
        let base = 20_000 + 100 * (rand::random::<u16>() % 400);
        if PORT_OFFSETS
            .iter()
            .all(|o| TcpListener::bind(("127.0.0.1", base + o)).is_ok())
        {
            return base;
        }
    }
    panic!("no free block of ports for the local cluster")
}
