//! A private Redis Cluster: N primaries (no replicas) on free loopback ports, formed with
//! `redis-cli --cluster create`, optionally with a password and TLS.
//!
//! Why a real cluster and not a single node with `cluster-enabled`: what Cluster breaks is
//! keys of one script living in different slots (`CROSSSLOT`), a pipeline spread over nodes,
//! pub/sub reaching subscribers on other nodes, and `MOVED` redirections; none of that happens
//! with one node owning every slot.

use std::process::Command;

use tempfile::TempDir;

use crate::redis_procs::{logs, wait_until, Process, RedisTools};
use crate::tls::TestTls;

/// A running Redis Cluster; every process is killed on drop.
///
/// ```no_run
/// # async fn demo() {
/// let cluster = ha_testkit::RedisClusterSet::start(3, Some("secret"), false).await;
/// let url = cluster.url(); // redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,127.0.0.1:<p3>
/// # let _ = url;
/// # }
/// ```
#[derive(Debug)]
pub struct RedisClusterSet {
    tools: RedisTools,
    dir: TempDir,
    password: Option<String>,
    nodes: Vec<Process>,
}

impl RedisClusterSet {
    /// Starts `primaries` nodes (at least 3, Redis's minimum), forms the cluster and waits
    /// until every node reports `cluster_state:ok`.
    ///
    /// # Panics
    ///
    /// If `redis-server`/`redis-cli` are missing or the cluster does not form within 30 s.
    pub async fn start(primaries: usize, password: Option<&str>, tls: bool) -> RedisClusterSet {
        let dir = tempfile::Builder::new()
            .prefix("ha-testkit-cluster-")
            .tempdir()
            .expect("ha-testkit: cannot create a temp dir");
        let tls_dir = dir.path().join("tls");
        let mut set = RedisClusterSet {
            tools: RedisTools::new(tls.then_some(tls_dir.as_path())),
            password: password.map(str::to_owned),
            nodes: Vec::new(),
            dir,
        };
        for _ in 0..primaries.max(3) {
            let node = set.spawn_node().await;
            set.nodes.push(node);
        }
        let addrs: Vec<String> = set
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let mut create = vec!["--cluster", "create"];
        create.extend(addrs.iter().map(String::as_str));
        create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let first = set.nodes[0].port;
        if let Err(e) = set.tools.cli(first, set.password.as_deref(), &create) {
            panic!(
                "ha-testkit: redis-cli --cluster create failed: {e}\n{}",
                set.logs()
            );
        }
        for i in 0..set.nodes.len() {
            let port = set.nodes[i].port;
            wait_until(
                &format!("node {port} to report cluster_state:ok"),
                || {
                    set.tools
                        .cli(port, set.password.as_deref(), &["CLUSTER", "INFO"])
                        .is_ok_and(|i| i.contains("cluster_state:ok"))
                },
                || set.logs(),
            )
            .await;
        }
        set
    }

    /// `redis+cluster://127.0.0.1:<port>,…` (`rediss+cluster://` with TLS); no credentials.
    pub fn url(&self) -> String {
        let scheme = if self.tools.tls.is_some() {
            "rediss+cluster"
        } else {
            "redis+cluster"
        };
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        format!("{scheme}://{}", hosts.join(","))
    }

    /// The TLS material, when started with TLS.
    pub fn tls(&self) -> Option<&TestTls> {
        self.tools.tls.as_ref()
    }

    /// The ports of the nodes.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// Runs a command on one node through `redis-cli` and returns its output.
    ///
    /// # Errors
    ///
    /// The command's error output (or an error reply).
    pub fn node_command(&self, port: u16, args: &[&str]) -> Result<String, String> {
        self.tools.cli(port, self.password.as_deref(), args)
    }

    /// The last lines of every node's log.
    pub fn logs(&self) -> String {
        logs(self.nodes.iter())
    }

    async fn spawn_node(&self) -> Process {
        for _ in 0..5 {
            let port = crate::free_port();
            let mut cmd = Command::new(&self.tools.bin);
            cmd.args(self.tools.listen_args(port))
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--daemonize", "no", "--logfile", ""])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
                // The bus port defaults to port + 10000, which may be taken or out of range.
                .arg("--cluster-port")
                .arg(crate::free_port().to_string())
                .arg("--cluster-config-file")
                .arg(format!("nodes-{port}.conf"))
                .arg("--dir")
                .arg(self.dir.path());
            if let Some(pw) = &self.password {
                cmd.args(["--requirepass", pw, "--masterauth", pw]);
            }
            let log = self.dir.path().join(format!("redis-{port}.log"));
            let password = self.password.as_deref();
            if let Some(p) = self.tools.spawn_ready(cmd, port, &log, password).await {
                return p;
            }
        }
        panic!("ha-testkit: no cluster node came up\n{}", self.logs());
    }
}

impl Drop for RedisClusterSet {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
    }
}
