//! What the replicas of one cluster share (one Redis, one PostgreSQL, one transcode
//! directory, one namespace), and starting N replicas on it.

use std::time::Duration;

use super::media::Clip;
use super::replica::{Endpoint, Replica};

/// The stores and directories every replica of one cluster is given.
pub struct Shared {
    /// `--redis`.
    pub redis: String,
    /// `--postgres`.
    pub postgres: String,
    /// `--namespace`: a Redis prefix and PostgreSQL schema of its own per cluster.
    pub namespace: String,
    /// `--transcode-dir`, shared by all replicas.
    pub transcodes: tempfile::TempDir,
    /// Replica logs and the stitched stream.
    pub logs: tempfile::TempDir,
    /// More flags every replica is started with (e.g. `--session-cache-ms`).
    pub extra_args: Vec<std::ffi::OsString>,
    /// Whether replicas get `--redis` (leases, jobs and events there); `false`: PostgreSQL
    /// holds everything ([`postgres_only`](Self::postgres_only)).
    pub use_redis: bool,
    /// Where replicas record their lease operations and fenced writes for the lease-history
    /// checker (`safety::recorded`); `None`: no history ([`with_history`](Self::with_history)).
    pub history: Option<tempfile::TempDir>,
}

impl Shared {
    /// A fresh namespace on the given stores.
    pub fn new(redis: String, postgres: String) -> Self {
        Self {
            redis,
            postgres,
            namespace: ha_testkit::unique("fo")
                .replace('-', "_")
                .to_ascii_lowercase(),
            transcodes: tempfile::tempdir().expect("a transcode directory"),
            logs: tempfile::tempdir().expect("a log directory"),
            // A short SIGTERM drain: the scenarios take replicas out of their own balancer
            // before stopping them, so the default 10 s window would only slow them down.
            extra_args: vec!["--shutdown-drain".into(), "1s".into()],
            use_redis: true,
            history: None,
        }
    }

    /// Without `--redis`: leases, job records and events in PostgreSQL.
    pub fn postgres_only(mut self) -> Self {
        self.use_redis = false;
        self
    }

    /// Replicas record a history for the lease-history checker.
    pub fn with_history(mut self) -> Self {
        self.history = Some(tempfile::tempdir().expect("a history directory"));
        self
    }

    /// Which store holds the leases, for messages.
    pub fn lease_store(&self) -> &'static str {
        if self.use_redis {
            "redis"
        } else {
            "postgres"
        }
    }

    /// On the stores the tests share (`HA_TEST_REDIS_URL` / `HA_TEST_DATABASE_URL`).
    pub async fn from_test_env() -> Self {
        Self::new(
            ha_testkit::redis_url().await,
            ha_testkit::postgres_url().await,
        )
    }
}

/// N replicas serving one clip.
pub struct Cluster {
    /// The shared part.
    pub shared: Shared,
    /// The replicas, `r1`..`rN`.
    pub replicas: Vec<Replica>,
    /// The clip every replica serves.
    pub clip: Clip,
    /// One HTTP client for probes.
    pub http: reqwest::Client,
}

impl Cluster {
    /// Starts `n` replicas on `shared` and waits until each is ready.
    pub async fn start(shared: Shared, n: usize, clip: Clip) -> Self {
        let library = clip.library();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client");
        let mut replicas: Vec<Replica> = (1..=n)
            .map(|i| Replica::start(&format!("r{i}"), &shared, &library))
            .collect();
        for r in &mut replicas {
            r.wait_ready(&http).await;
        }
        Self {
            shared,
            replicas,
            clip,
            http,
        }
    }

    /// Every replica's endpoint, in order.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        self.replicas.iter().map(|r| r.endpoint.clone()).collect()
    }

    /// The index of replica `node`.
    pub fn index_of(&self, node: &str) -> usize {
        self.replicas
            .iter()
            .position(|r| r.node() == node)
            .unwrap_or_else(|| panic!("{node} is not a replica of this cluster"))
    }
}
