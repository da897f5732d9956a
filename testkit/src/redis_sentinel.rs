//! A private Redis Sentinel deployment: one primary, replicas and sentinels, each its own
//! `redis-server` process on a free loopback port, optionally with passwords and TLS.
//!
//! Why a whole set-up and not one sentinel in front of a [`RedisServer`](crate::RedisServer):
//! what breaks in production is the combination — `requirepass` on the data nodes (the
//! replicas need `masterauth`, the sentinels `sentinel auth-pass`), `requirepass` on the
//! sentinels themselves (`sentinel sentinel-pass` between them), TLS everywhere
//! (`tls-replication yes` makes replicas and sentinels dial TLS), and a failover that moves the
//! primary to another port. A client that only ever met an open, plain sentinel has not been
//! tested against the set-up a Helm chart deploys.
//!
//! Administration (readiness, `SENTINEL FAILOVER`, `INFO`) goes through `redis-cli`, which
//! speaks TLS and AUTH, so this crate needs no Redis client library.

use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::redis_procs::{logs, wait_until, Process, RedisTools, TIMEOUT};
use crate::tls::TestTls;

/// The monitored service (master) name.
pub const SERVICE: &str = "media-ha";

/// What to start; see [`RedisSentinelSet::builder`].
#[derive(Debug, Clone)]
pub struct SentinelSetBuilder {
    replicas: usize,
    sentinels: usize,
    password: Option<String>,
    sentinel_password: Option<String>,
    tls: bool,
}

impl SentinelSetBuilder {
    /// Number of replicas (default 1; a failover needs at least one).
    pub fn replicas(mut self, n: usize) -> Self {
        self.replicas = n;
        self
    }

    /// Number of sentinels (default 1; quorum is 2 from two sentinels on).
    pub fn sentinels(mut self, n: usize) -> Self {
        self.sentinels = n.max(1);
        self
    }

    /// `requirepass` (and `masterauth`) on the data nodes, `sentinel auth-pass` on the sentinels.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// `requirepass` on the sentinels (and `sentinel sentinel-pass` between them).
    pub fn sentinel_password(mut self, password: impl Into<String>) -> Self {
        self.sentinel_password = Some(password.into());
        self
    }

    /// Every node and sentinel listens with TLS only (certificates from [`TestTls`]).
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// Starts the processes and waits until every sentinel knows the primary, every replica
    /// and every other sentinel.
    ///
    /// # Panics
    ///
    /// If `redis-server`/`redis-cli` are missing or the set-up is not ready within 30 s (the
    /// message includes the logs).
    pub async fn start(self) -> RedisSentinelSet {
        RedisSentinelSet::start(self).await
    }
}

/// A running Sentinel deployment; every process is killed on drop.
///
/// ```no_run
/// # async fn demo() {
/// let set = ha_testkit::RedisSentinelSet::builder()
///     .replicas(1)
///     .sentinels(3)
///     .password("data-secret")
///     .sentinel_password("sentinel-secret")
///     .start()
///     .await;
/// let url = set.url(); // redis+sentinel://127.0.0.1:<p1>,127.0.0.1:<p2>,…/media-ha
/// let old = set.primary_port();
/// let new = set.failover().await; // SENTINEL FAILOVER, returns once the replica took over
/// assert_ne!(old, new);
/// # let _ = url;
/// # }
/// ```
#[derive(Debug)]
pub struct RedisSentinelSet {
    opts: SentinelSetBuilder,
    tools: RedisTools,
    dir: TempDir,
    nodes: Vec<Process>,
    sentinels: Vec<Process>,
}

impl RedisSentinelSet {
    /// Defaults: one replica, one sentinel, no passwords, no TLS.
    pub fn builder() -> SentinelSetBuilder {
        SentinelSetBuilder {
            replicas: 1,
            sentinels: 1,
            password: None,
            sentinel_password: None,
            tls: false,
        }
    }

    async fn start(opts: SentinelSetBuilder) -> RedisSentinelSet {
        let dir = tempfile::Builder::new()
            .prefix("ha-testkit-sentinel-")
            .tempdir()
            .expect("ha-testkit: cannot create a temp dir");
        let tls_dir = dir.path().join("tls");
        let mut set = RedisSentinelSet {
            tools: RedisTools::new(opts.tls.then_some(tls_dir.as_path())),
            opts,
            dir,
            nodes: Vec::new(),
            sentinels: Vec::new(),
        };
        let primary = set.spawn_node(None).await;
        set.nodes.push(primary);
        let primary_port = set.nodes[0].port;
        for _ in 0..set.opts.replicas {
            let replica = set.spawn_node(Some(primary_port)).await;
            set.nodes.push(replica);
        }
        for replica in 1..set.nodes.len() {
            let port = set.nodes[replica].port;
            wait_until(
                &format!("replica {port} in sync"),
                || {
                    set.node_info(port, "replication")
                        .is_some_and(|i| i.contains("master_link_status:up"))
                },
                || set.logs(),
            )
            .await;
        }
        for i in 0..set.opts.sentinels {
            let sentinel = set.spawn_sentinel(i, primary_port).await;
            set.sentinels.push(sentinel);
        }
        let (replicas, others) = (set.opts.replicas, set.opts.sentinels - 1);
        for i in 0..set.sentinels.len() {
            let port = set.sentinels[i].port;
            wait_until(
                &format!("sentinel {port} to see the set"),
                || {
                    set.sentinel_master_field(port, "num-slaves") == Some(replicas.to_string())
                        && set.sentinel_master_field(port, "num-other-sentinels")
                            == Some(others.to_string())
                },
                || set.logs(),
            )
            .await;
        }
        set
    }

    /// `redis+sentinel://127.0.0.1:<port>,…/media-ha` (`rediss+sentinel://` with TLS); no
    /// credentials in it.
    pub fn url(&self) -> String {
        let scheme = if self.tools.tls.is_some() {
            "rediss+sentinel"
        } else {
            "redis+sentinel"
        };
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("{scheme}://{}/{SERVICE}", hosts.join(","))
    }

    /// The TLS material, when started with TLS.
    pub fn tls(&self) -> Option<&TestTls> {
        self.tools.tls.as_ref()
    }

    /// The ports of the data nodes (the first one started as the primary).
    pub fn node_ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// The ports of the sentinels.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port).collect()
    }

    /// The primary's port as the first sentinel reports it.
    ///
    /// # Panics
    ///
    /// If the sentinel does not answer.
    pub fn primary_port(&self) -> u16 {
        self.sentinel_primary(self.sentinels[0].port)
            .expect("ha-testkit: the sentinel names no primary")
    }

    /// `role:master` or `role:slave` of a data node, `None` when it does not answer.
    pub fn role(&self, port: u16) -> Option<String> {
        let info = self.node_info(port, "replication")?;
        info.lines()
            .find_map(|l| l.strip_prefix("role:"))
            .map(|r| r.trim().to_owned())
    }

    /// Runs a command on a data node through `redis-cli` and returns its output.
    ///
    /// # Errors
    ///
    /// The command's error output (or an error reply).
    pub fn node_command(&self, port: u16, args: &[&str]) -> Result<String, String> {
        self.tools.cli(port, self.opts.password.as_deref(), args)
    }

    /// Runs `SENTINEL FAILOVER` on the first sentinel and waits until every sentinel names the
    /// new primary and that node answers `role:master`; returns its port.
    ///
    /// # Panics
    ///
    /// If the sentinel refuses or the failover does not finish within 30 s.
    pub async fn failover(&self) -> u16 {
        let old = self.primary_port();
        let sentinel = self.sentinels[0].port;
        let deadline = Instant::now() + TIMEOUT;
        // Right after a start or a previous failover a sentinel may still answer
        // INPROG/NOGOODSLAVE: retry until it accepts.
        loop {
            match self.tools.cli(
                sentinel,
                self.opts.sentinel_password.as_deref(),
                &["SENTINEL", "FAILOVER", SERVICE],
            ) {
                Ok(out) if out.trim() == "OK" => break,
                other => {
                    assert!(
                        Instant::now() < deadline,
                        "ha-testkit: SENTINEL FAILOVER refused: {other:?}\n{}",
                        self.logs()
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        let mut new = 0;
        wait_until(
            "the failover",
            || {
                let ports: Vec<Option<u16>> = self
                    .sentinels
                    .iter()
                    .map(|x| self.sentinel_primary(x.port))
                    .collect();
                match ports.first().copied().flatten() {
                    Some(p) if p != old && ports.iter().all(|q| *q == Some(p)) => {
                        new = p;
                        self.role(p).as_deref() == Some("master")
                    }
                    _ => false,
                }
            },
            || self.logs(),
        )
        .await;
        new
    }

    /// Waits until every running replica has processed everything the primary has written so
    /// far (replication is asynchronous: without this, a failover may lose the latest writes,
    /// which is Redis's documented behaviour and not what a fencing test is about).
    ///
    /// # Panics
    ///
    /// After 30 s.
    pub async fn wait_replicated(&self) {
        let primary = self.primary_port();
        let offset = self
            .node_info(primary, "replication")
            .and_then(|i| info_field(&i, "master_repl_offset"))
            .expect("ha-testkit: the primary reports no master_repl_offset");
        for port in self.node_ports().into_iter().filter(|p| *p != primary) {
            if self.role(port).is_none() {
                continue; // killed
            }
            wait_until(
                &format!("replica {port} to reach offset {offset}"),
                || {
                    self.node_info(port, "replication")
                        .and_then(|i| info_field(&i, "slave_repl_offset"))
                        .is_some_and(|o| o >= offset)
                },
                || self.logs(),
            )
            .await;
        }
    }

    /// Kills a data node with `SIGKILL`.
    pub fn kill_node(&mut self, port: u16) {
        if let Some(n) = self.nodes.iter_mut().find(|n| n.port == port) {
            n.kill();
        }
    }

    /// The last lines of every process's log.
    pub fn logs(&self) -> String {
        logs(self.nodes.iter().chain(&self.sentinels))
    }

    async fn spawn_node(&self, replica_of: Option<u16>) -> Process {
        for _ in 0..5 {
            let port = crate::free_port();
            let mut cmd = Command::new(&self.tools.bin);
            cmd.args(self.tools.listen_args(port))
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .args(["--daemonize", "no", "--logfile", ""])
                .arg("--dir")
                .arg(self.dir.path())
                .arg("--dbfilename")
                .arg(format!("dump-{port}.rdb"));
            if let Some(pw) = &self.opts.password {
                cmd.args(["--requirepass", pw, "--masterauth", pw]);
            }
            if let Some(primary) = replica_of {
                cmd.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
            }
            let log = self.dir.path().join(format!("redis-{port}.log"));
            let password = self.opts.password.as_deref();
            if let Some(p) = self.tools.spawn_ready(cmd, port, &log, password).await {
                return p;
            }
        }
        panic!("ha-testkit: no data node came up\n{}", self.logs());
    }

    async fn spawn_sentinel(&self, i: usize, primary: u16) -> Process {
        for _ in 0..5 {
            let port = crate::free_port();
            let dir = self.dir.path().join(format!("sentinel-{i}-{port}"));
            std::fs::create_dir_all(&dir).expect("ha-testkit: sentinel dir");
            let quorum = if self.opts.sentinels >= 2 { 2 } else { 1 };
            let mut conf = String::new();
            for pair in self.tools.listen_args(port).chunks(2) {
                conf.push_str(&format!(
                    "{} {}\n",
                    pair[0].trim_start_matches("--"),
                    pair[1]
                ));
            }
            conf.push_str(&format!(
                "bind 127.0.0.1\ndir {}\nlogfile \"\"\n\
                 sentinel monitor {SERVICE} 127.0.0.1 {primary} {quorum}\n\
                 sentinel down-after-milliseconds {SERVICE} 1000\n\
                 sentinel failover-timeout {SERVICE} 10000\n",
                dir.display()
            ));
            if let Some(pw) = &self.opts.password {
                conf.push_str(&format!("sentinel auth-pass {SERVICE} {pw}\n"));
            }
            if let Some(pw) = &self.opts.sentinel_password {
                conf.push_str(&format!("requirepass {pw}\nsentinel sentinel-pass {pw}\n"));
            }
            let path = dir.join("sentinel.conf");
            std::fs::write(&path, conf).expect("ha-testkit: write sentinel.conf");
            let mut cmd = Command::new(&self.tools.bin);
            cmd.arg(&path).arg("--sentinel").current_dir(&dir);
            let log = dir.join("sentinel.log");
            let password = self.opts.sentinel_password.as_deref();
            if let Some(p) = self.tools.spawn_ready(cmd, port, &log, password).await {
                return p;
            }
        }
        panic!("ha-testkit: no sentinel came up\n{}", self.logs());
    }

    fn node_info(&self, port: u16, section: &str) -> Option<String> {
        self.tools
            .cli(port, self.opts.password.as_deref(), &["INFO", section])
            .ok()
    }

    fn sentinel_primary(&self, sentinel: u16) -> Option<u16> {
        let out = self
            .tools
            .cli(
                sentinel,
                self.opts.sentinel_password.as_deref(),
                &["SENTINEL", "get-master-addr-by-name", SERVICE],
            )
            .ok()?;
        out.lines().nth(1)?.trim().parse().ok()
    }

    /// One field of `SENTINEL MASTER <service>` (a flat list of names and values).
    fn sentinel_master_field(&self, sentinel: u16, field: &str) -> Option<String> {
        let out = self
            .tools
            .cli(
                sentinel,
                self.opts.sentinel_password.as_deref(),
                &["SENTINEL", "MASTER", SERVICE],
            )
            .ok()?;
        let lines: Vec<&str> = out.lines().collect();
        lines
            .chunks(2)
            .find(|kv| kv.first() == Some(&field))
            .and_then(|kv| kv.get(1))
            .map(|v| v.trim().to_owned())
    }
}

impl Drop for RedisSentinelSet {
    fn drop(&mut self) {
        // Sentinels first, so none of them starts a failover while the nodes go away.
        for p in self.sentinels.iter_mut().chain(self.nodes.iter_mut()) {
            p.kill();
        }
    }
}

/// A numeric `name:value` line of `INFO` output.
fn info_field(info: &str, name: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}
