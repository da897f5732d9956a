//! Manager settings, with defaults chosen for "a viewer never notices a failover".

use std::time::Duration;

use ha_core::LatencyHistogram;

/// How a [`super::TranscodeManager`] behaves.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// This node's id (lease holder name).
    pub node_id: String,
    /// Where other replicas can reach this one (stored in job records for proxying).
    pub advertise: Option<String>,
    /// Job lease TTL: the longest a viewer stalls when an owner dies without a word (SIGKILL).
    pub lease_ttl: Duration,
    /// How long a segment request waits for its segment before giving up.
    pub segment_wait: Duration,
    /// How often a waiting request looks again.
    pub poll_interval: Duration,
    /// How many segments ahead of a run a request may be and still wait for it.
    pub reach: u32,
    /// How long a run that other viewers use keeps its place before a far request may move it
    /// (see [`super::plan::Hold`]: viewers far apart take turns instead of thrashing).
    pub seek_hold: Duration,
    /// A viewer uses a run while it asked for a segment inside the run's reach this recently.
    pub near_window: Duration,
    /// Claims after which a failing job is refused ("poison file").
    pub max_attempts: u32,
    /// How long a poisoned job stays refused.
    pub poison_cooldown: Duration,
    /// A job nobody fetched from for this long is stopped.
    pub idle_timeout: Duration,
    /// Segments of jobs without a live record are removed after this long.
    pub keep_window: Duration,
    /// Concurrent jobs this node runs at most (all encoders together).
    pub max_local_jobs: u32,
    /// Concurrent QSV jobs on this node's GPU (0: never use QSV).
    pub qsv_slots: u32,
    /// Concurrent jobs one user may start cluster-wide (`None`: unlimited).
    pub max_jobs_per_user: Option<u32>,
    /// Where the job lease keepers record how long each renewal took (a shared handle: pass
    /// the server's own to export every keeper's renewals as one series). Default: a fresh
    /// histogram, readable through [`super::TranscodeManager::renew_latency`].
    pub renew_latency: LatencyHistogram,
}

impl ManagerConfig {
    /// Defaults for `node_id`: 5 s leases, 30 s segment wait, 10 s seek hold, 3 attempts,
    /// 2 min idle.
    pub fn new(node_id: impl Into<String>) -> Self {
        Self {
            node_id: node_id.into(),
            advertise: None,
            lease_ttl: Duration::from_secs(5),
            segment_wait: Duration::from_secs(30),
            poll_interval: Duration::from_millis(100),
            reach: 4,
            seek_hold: Duration::from_secs(10),
            near_window: Duration::from_secs(10),
            max_attempts: 3,
            poison_cooldown: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(120),
            keep_window: Duration::from_secs(600),
            max_local_jobs: 4,
            qsv_slots: 0,
            max_jobs_per_user: None,
            renew_latency: LatencyHistogram::new(),
        }
    }
}
