//! The shared ha-core conformance suite on a real Redis Cluster: three primaries on loopback
//! ports (`redis-server --cluster-enabled yes`, joined with `redis-cli --cluster create`),
//! reached through a `redis+cluster://` URL. Started once for this test binary; each node is
//! watched by a shell that stops it within a second after the test process exits.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ha_core::{EventBus, LeaseManager, SessionStore, SlotLimiter, TranscodeJobStore};
use ha_store_redis::{RedisStore, RedisStoreConfig, Target};
use tokio::sync::OnceCell;

/// The cluster's URL, once it serves every slot.
async fn cluster_url() -> &'static str {
    static URL: OnceCell<String> = OnceCell::const_new();
    URL.get_or_init(|| async { tokio::task::spawn_blocking(start_cluster).await.unwrap() })
        .await
}

// The node shells are never waited for: they outlive every test of this binary and end by
// themselves once it has exited (see the module docs).
#[allow(clippy::zombie_processes)]
fn start_cluster() -> String {
    let dir = std::env::temp_dir().join(ha_testkit::unique("ha-redis-cluster"));
    let me = std::process::id();
    let mut ports = Vec::new();
    for _ in 0..3 {
        let port = ha_testkit::free_port();
        let node = dir.join(port.to_string());
        std::fs::create_dir_all(&node).unwrap();
        // The node runs until this test process is gone (then the watcher stops it).
        let script = format!(
            "redis-server --port {port} --bind 127.0.0.1 --cluster-enabled yes \
             --cluster-config-file nodes.conf --dir '{d}' --save '' --appendonly no \
             --maxmemory-policy noeviction --cluster-node-timeout 2000 & r=$!; \
             while kill -0 {me} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 0.5; done; \
             kill $r; wait $r; rm -rf '{d}'",
            d = node.display()
        );
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sh runs");
        ports.push(port);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    for port in &ports {
        while !cli(*port, &["PING"]).contains("PONG") {
            assert!(
                Instant::now() < deadline,
                "cluster node {port} never answered"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let out = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(&nodes)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .expect("redis-cli runs");
    assert!(
        out.status.success(),
        "redis-cli --cluster create: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    for port in &ports {
        while !cli(*port, &["CLUSTER", "INFO"]).contains("cluster_state:ok") {
            assert!(Instant::now() < deadline, "the cluster never became ok");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    format!("redis+cluster://{}", nodes.join(","))
}

fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

async fn store_with_prefix(prefix: &str, retention: Option<Duration>) -> RedisStore {
    let url = cluster_url().await;
    let mut config = RedisStoreConfig::from_url(url)
        .expect("a cluster URL")
        .with_prefix(prefix);
    assert!(matches!(config.target(), Target::Cluster(_)));
    if let Some(r) = retention {
        config = config.with_job_retention(r);
    }
    RedisStore::connect(config)
        .await
        .expect("connect to the cluster")
}

async fn store() -> RedisStore {
    store_with_prefix(&ha_testkit::unique("ha-redis-cluster"), None).await
}

async fn leases() -> Arc<dyn LeaseManager> {
    Arc::new(store().await.leases())
}

async fn jobs(retention: Duration) -> Arc<dyn TranscodeJobStore> {
    Arc::new(
        store_with_prefix(&ha_testkit::unique("ha-redis-cluster"), Some(retention))
            .await
            .jobs(),
    )
}

async fn sessions() -> Arc<dyn SessionStore> {
    Arc::new(store().await.sessions())
}

/// Every call is a separate connection (a separate "replica") on one shared channel.
async fn events() -> Arc<dyn EventBus> {
    Arc::new(
        store_with_prefix("ha-redis-cluster-conformance", None)
            .await
            .events(),
    )
}

async fn slots() -> Arc<dyn SlotLimiter> {
    Arc::new(store().await.slots())
}

ha_core::lease_manager_conformance!(leases);
ha_core::job_store_conformance!(jobs);
ha_core::session_store_conformance!(sessions);
ha_core::event_bus_conformance!(events);
ha_core::slot_limiter_conformance!(slots);
