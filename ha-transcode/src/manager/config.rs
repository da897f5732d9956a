//! Manager settings, with defaults chosen for "a viewer never notices a failover".
//!
//! A builder in the workspace's one configuration style: [`ManagerConfig::new`] gives the
//! defaults, `with_<field>` setters change one setting, `<field>()` getters read it. The
//! settings depend on each other (a seek hold must end before a waiting viewer gives up), so
//! [`ManagerConfig::validate`] checks them together; [`TranscodeManager::new`] refuses a config
//! that fails it.
//!
//! [`TranscodeManager::new`]: super::TranscodeManager::new

use std::time::Duration;

/// The default [`ManagerConfig::segment_wait`]: 6 s.
///
/// Why 6 s: a request held past the player's own patience costs the player a timeout error,
/// one answered earlier costs nothing if the segment arrives meanwhile and a prompt retry if
/// not. The shortest common patience is ExoPlayer's (media3 `DefaultHttpDataSource` read
/// timeout, 8 s), then hls.js (`fragLoadPolicy.maxTimeToFirstByteMs`, 10 s; it measures to the
/// first *body* byte, so sending headers early does not extend it). Measured with hls.js 1.7 in
/// Chromium (docs/RELIABILITY.md, "A segment request never outlasts the player"): held up to
/// 6 s, a segment ready 4 s after the request plays with no error; ready after 12 s, one
/// non-fatal 503 and a retry 1 s later, where a 30 s hold cost a timeout error and answering
/// 503 at once cost 3–4 errors and 3.4–3.8 s of hls.js back-off after the segment was ready.
pub const DEFAULT_SEGMENT_WAIT: Duration = Duration::from_secs(6);

/// How a [`super::TranscodeManager`] behaves.
///
/// ```
/// use std::time::Duration;
/// use ha_transcode::manager::ManagerConfig;
///
/// let config = ManagerConfig::new("node-a")
///     .with_advertise("http://10.0.0.5:8096")
///     .with_lease_ttl(Duration::from_secs(3))
///     .with_max_jobs_per_user(Some(2));
/// assert_eq!(config.node_id(), "node-a");
/// assert!(config.validate().is_ok());
///
/// // A seek hold as long as the segment wait would let a held viewer time out.
/// let bad = config.with_seek_hold(Duration::from_secs(30));
/// assert!(bad.validate().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    node_id: String,
    advertise: Option<String>,
    lease_ttl: Duration,
    segment_wait: Duration,
    poll_interval: Duration,
    reach: u32,
    seek_hold: Duration,
    near_window: Duration,
    max_attempts: u32,
    poison_cooldown: Duration,
    idle_timeout: Duration,
    keep_window: Duration,
    max_local_jobs: u32,
    qsv_slots: u32,
    max_jobs_per_user: Option<u32>,
    liveness_ttl: Option<Duration>,
}

/// A [`ManagerConfig`] that cannot work: which setting, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid transcode manager setting {setting}: {reason}")]
pub struct ConfigError {
    /// The setting (its builder name without `with_`).
    pub setting: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn refuse(setting: &'static str, reason: impl Into<String>) -> Result<(), ConfigError> {
    Err(ConfigError {
        setting,
        reason: reason.into(),
    })
}

macro_rules! setting {
    ($(#[$doc:meta])* $field:ident, $with:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $field(&self) -> $ty {
            self.$field
        }

        #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
        #[must_use]
        pub fn $with(mut self, value: $ty) -> Self {
            self.$field = value;
            self
        }
    };
}

impl ManagerConfig {
    /// Defaults for `node_id`: 5 s leases, 1 s liveness record, 6 s segment wait (1 s
    /// fallback poll), 5 s seek hold, 3 attempts, 2 min idle, 4 jobs per node.
    pub fn new(node_id: impl Into<String>) -> Self {
        Self {
            node_id: node_id.into(),
            advertise: None,
            lease_ttl: Duration::from_secs(5),
            segment_wait: DEFAULT_SEGMENT_WAIT,
            poll_interval: Duration::from_secs(1),
            reach: 4,
            seek_hold: Duration::from_secs(5),
            near_window: Duration::from_secs(10),
            max_attempts: 3,
            poison_cooldown: Duration::from_secs(600),
            idle_timeout: Duration::from_secs(120),
            keep_window: Duration::from_secs(600),
            max_local_jobs: 4,
            qsv_slots: 0,
            max_jobs_per_user: None,
            liveness_ttl: Some(Duration::from_secs(1)),
        }
    }

    /// This node's id (lease holder name).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Where other replicas can reach this one (stored in job records for proxying).
    pub fn advertise(&self) -> Option<&str> {
        self.advertise.as_deref()
    }

    /// Sets [`advertise`](Self::advertise).
    #[must_use]
    pub fn with_advertise(mut self, address: impl Into<String>) -> Self {
        self.advertise = Some(address.into());
        self
    }

    setting!(
        /// Job lease TTL: the longest a viewer stalls when an owner dies without a word
        /// (SIGKILL).
        lease_ttl, with_lease_ttl: Duration
    );
    setting!(
        /// How long one segment request waits for its segment before giving up
        /// ([`SegmentError::Timeout`](super::SegmentError::Timeout); servers answer it with a
        /// prompt retry, e.g. 503 + `Retry-After: 1`). Default [`DEFAULT_SEGMENT_WAIT`]: below
        /// every common player's patience for one request, so the viewer gets an answer it
        /// retries instead of timing out itself.
        segment_wait, with_segment_wait: Duration
    );
    setting!(
        /// How often a waiting request looks again when no event woke it: a fallback for a
        /// lost cluster message. Waits end when the segment is published (a local run's
        /// progress, a cluster event from a remote owner) or the owner's lease expires, not
        /// at the next poll.
        poll_interval, with_poll_interval: Duration
    );
    setting!(
        /// How many segments ahead of a run a request may be and still wait for it.
        reach, with_reach: u32
    );
    setting!(
        /// How long a run that other viewers use keeps its place before a far request may move
        /// it (viewers far apart take turns instead of thrashing; see the module docs of `plan`).
        /// Must be below [`segment_wait`](Self::segment_wait), or a held viewer times out.
        seek_hold, with_seek_hold: Duration
    );
    setting!(
        /// A viewer uses a run while it asked for a segment inside the run's reach this
        /// recently.
        near_window, with_near_window: Duration
    );
    setting!(
        /// Claims after which a failing job is refused ("poison file").
        max_attempts, with_max_attempts: u32
    );
    setting!(
        /// How long a poisoned job stays refused.
        poison_cooldown, with_poison_cooldown: Duration
    );
    setting!(
        /// A job nobody fetched from for this long is stopped.
        idle_timeout, with_idle_timeout: Duration
    );
    setting!(
        /// Segments of jobs without a live record are removed after this long.
        keep_window, with_keep_window: Duration
    );
    setting!(
        /// Concurrent jobs this node runs at most (all encoders together).
        max_local_jobs, with_max_local_jobs: u32
    );
    setting!(
        /// Concurrent QSV jobs on this node's GPU (0: never use QSV).
        qsv_slots, with_qsv_slots: u32
    );
    setting!(
        /// Concurrent jobs one user may start cluster-wide (`None`: unlimited).
        max_jobs_per_user, with_max_jobs_per_user: Option<u32>
    );
    setting!(
        /// This node's liveness record TTL (`ha_core::liveness`; renewed four times per TTL
        /// from [`start`](super::TranscodeManager::start)), and whether jobs of an owner whose
        /// record lapsed are taken over at once instead of when their lease expires: a dead
        /// owner costs viewers about this long, not [`lease_ttl`](Self::lease_ttl).
        ///
        /// A cluster-wide setting: a replica running without a record (`None`) would have its
        /// jobs taken over by replicas that look for one. A false suspicion (an owner paused
        /// or cut off from the store for longer than this) costs that owner its jobs, which
        /// restart elsewhere at a segment boundary; fencing tokens keep it from ever writing
        /// afterwards. Must be below the lease TTL.
        liveness_ttl, with_liveness_ttl: Option<Duration>
    );

    /// Checks the settings together.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first setting that cannot work: an empty node id, a zero
    /// duration or count where one would stall or refuse everything, a seek hold not below
    /// the segment wait, a poll interval above it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = Duration::ZERO;
        if self.node_id.trim().is_empty() {
            return refuse("node_id", "empty");
        }
        for (setting, value) in [
            ("lease_ttl", self.lease_ttl),
            ("segment_wait", self.segment_wait),
            ("poll_interval", self.poll_interval),
            ("near_window", self.near_window),
            ("idle_timeout", self.idle_timeout),
        ] {
            if value == zero {
                return refuse(setting, "must be above zero");
            }
        }
        if self.seek_hold >= self.segment_wait {
            return refuse(
                "seek_hold",
                format!(
                    "{:?} is not below segment_wait ({:?}): a viewer held for its turn would \
                     time out first",
                    self.seek_hold, self.segment_wait
                ),
            );
        }
        if self.poll_interval > self.segment_wait {
            return refuse(
                "poll_interval",
                format!(
                    "{:?} is above segment_wait ({:?})",
                    self.poll_interval, self.segment_wait
                ),
            );
        }
        if let Some(ttl) = self.liveness_ttl {
            if ttl == zero || ttl >= self.lease_ttl {
                return refuse(
                    "liveness_ttl",
                    format!(
                        "{ttl:?} must be above zero and below lease_ttl ({:?}), or None",
                        self.lease_ttl
                    ),
                );
            }
        }
        if self.max_attempts == 0 {
            return refuse("max_attempts", "must be at least 1");
        }
        if self.max_local_jobs == 0 {
            return refuse("max_local_jobs", "must be at least 1");
        }
        if self.max_jobs_per_user == Some(0) {
            return refuse("max_jobs_per_user", "Some(0) refuses everyone; use None");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_settings_are_named() {
        let ok = ManagerConfig::new("a");
        assert_eq!(ok.validate(), Ok(()));
        let secs = Duration::from_secs;
        let cases = [
            (ManagerConfig::new(" "), "node_id"),
            (ok.clone().with_seek_hold(secs(30)), "seek_hold"),
            (
                ok.clone()
                    .with_segment_wait(secs(5))
                    .with_seek_hold(secs(6)),
                "seek_hold",
            ),
            (ok.clone().with_lease_ttl(Duration::ZERO), "lease_ttl"),
            (ok.clone().with_poll_interval(secs(31)), "poll_interval"),
            (ok.clone().with_max_attempts(0), "max_attempts"),
            (ok.clone().with_liveness_ttl(Some(secs(5))), "liveness_ttl"),
            (
                ok.clone().with_liveness_ttl(Some(Duration::ZERO)),
                "liveness_ttl",
            ),
            (ok.clone().with_max_local_jobs(0), "max_local_jobs"),
            (
                ok.clone().with_max_jobs_per_user(Some(0)),
                "max_jobs_per_user",
            ),
        ];
        for (config, setting) in cases {
            let err = config.validate().unwrap_err();
            assert_eq!(err.setting, setting, "{err}");
            assert!(err.to_string().contains(setting));
        }
    }
}
