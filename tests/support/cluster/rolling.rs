//! Scenario: a rolling restart while a viewer streams — every replica in turn is SIGTERMed,
//! started again with the same flags, and put back in rotation once ready, as an orchestrator
//! rolls out a new version.
//!
//! Three replicas; the viewer streams round-robin on its own task and never waits for the
//! restarts. After [`START_AFTER`] segments, replica 1 is taken out of rotation, SIGTERMed,
//! restarted and waited for (`/health/ready`), then replica 2, then replica 3, whoever owns the
//! job at the time. An owner that exits gracefully must have released the job lease by the
//! time it is gone (handover, not expiry), and a replica must exit cleanly. Before each
//! restart a progress report goes through the replica about to stop, and is read back from it
//! once it is up again (the state lives in the stores, not in the process). At the end: every
//! segment, every frame once with continuous timestamps, the last position kept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use media_ha::core::JobState;

use super::balancer::Balancer;
use super::client::Client;
use super::job::JobView;
use super::media::Clip;
use super::playback::Playback;
use super::setup::{Cluster, Shared};
use super::stitch::check_every_frame_once;
use super::timeline::Timeline;
use super::viewer::Viewer;

/// Segments the viewer has before the first replica is stopped.
pub const START_AFTER: usize = 1;
/// Replicas in the cluster (and restarts).
pub const REPLICAS: usize = 3;

/// One replica's restart.
#[derive(Debug, Clone)]
pub struct Restart {
    /// The replica restarted.
    pub node: String,
    /// The job's owner when it was stopped.
    pub owner: String,
    /// The job's state then.
    pub job_state: JobState,
    /// The job's last written segment then.
    pub last_segment: Option<u32>,
    /// Segments the viewer had then.
    pub received: usize,
    /// SIGTERM → the process exited.
    pub exited_after: Duration,
    /// SIGTERM → ready again (`/health/ready` 200).
    pub ready_after: Duration,
    /// The longest gap between two segments that overlaps SIGTERM..ready, and the segment it
    /// preceded (`None`: no segment arrived in that window and after it).
    pub stall: Option<(Duration, usize)>,
    /// A transcode worker of the stopped replica was still alive after the server exited.
    pub worker_left: bool,
    /// The job's owner once the replica was ready again.
    pub owner_after: String,
}

impl Restart {
    /// True when the replica restarted owned the running job: a handover was exercised.
    pub fn handed_over(&self) -> bool {
        self.owner == self.node && self.job_state == JobState::Running
    }
}

/// What one rolling restart measured.
#[derive(Debug, Clone)]
pub struct RollingOutcome {
    /// Each restart, in order.
    pub restarts: Vec<Restart>,
    /// Every segment's arrival.
    pub timeline: Timeline,
    /// Connect failures the balancer retried on another replica.
    pub retries: usize,
}

impl RollingOutcome {
    /// Lines for `--nocapture`.
    pub fn summary(&self) -> String {
        let (worst, at) = self.timeline.longest();
        let mut out = format!(
            "[rolling] longest stall {:.2} s (before segment {at}); median gap {:.2} s; \
             {} connect retries; served by {:?}; gaps {}",
            worst.as_secs_f64(),
            self.timeline.median_gap().as_secs_f64(),
            self.retries,
            self.timeline.served_by(),
            self.timeline.gaps_text()
        );
        for r in &self.restarts {
            out.push_str(&format!(
                "\n[rolling] {}: owner {} ({:?}, last segment {:?}, viewer at {}){}; exited \
                 after {:.2} s, ready after {:.2} s; stall {}; owner after {}{}",
                r.node,
                r.owner,
                r.job_state,
                r.last_segment,
                r.received,
                if r.handed_over() { " → handover" } else { "" },
                r.exited_after.as_secs_f64(),
                r.ready_after.as_secs_f64(),
                r.stall
                    .map_or("— (stream already over)".into(), |(d, i)| format!(
                        "{:.2} s before segment {i}",
                        d.as_secs_f64()
                    )),
                r.owner_after,
                if r.worker_left {
                    "; a worker outlived the server"
                } else {
                    ""
                },
            ));
        }
        out
    }
}

/// Runs the scenario on a fresh three-replica cluster on `shared` (see the module docs).
pub async fn play_through_rolling_restart(shared: Shared, clip: Clip) -> RollingOutcome {
    let mut cluster = Cluster::start(shared, REPLICAS, clip).await;
    let endpoints = cluster.endpoints();
    let mut client = Client::new();
    let playback = Playback::open(&mut client, &endpoints, &clip).await;
    let viewer = Arc::new(Viewer::new(
        client,
        Balancer::new(endpoints.clone()),
        playback,
    ));
    let jobs = JobView::connect(&cluster.shared).await;
    let stream = tokio::spawn({
        let viewer = viewer.clone();
        async move { viewer.fetch_rest(0).await }
    });
    while viewer.received() < START_AFTER && !stream.is_finished() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut restarts = Vec::new();
    let mut windows = Vec::new();
    for (k, endpoint) in endpoints.iter().enumerate() {
        let job = jobs.the_job().await;
        let received = viewer.received();
        let ticks = (k as i64 + 1) * 10_000_000;
        viewer
            .playback
            .report_progress(&viewer.client, endpoint, ticks)
            .await;
        viewer.balancer.set_up(k, false);
        let stopped = Instant::now();
        let r = &mut cluster.replicas[k];
        r.terminate();
        let status = r.wait_exit(super::PATIENCE).await;
        let exited_after = stopped.elapsed();
        assert!(
            status.is_some_and(|s| s.success()),
            "{} did not exit cleanly on SIGTERM: {status:?}\n{}",
            r.node(),
            r.log_tail()
        );
        let holder = jobs.lease_holder(&job).await;
        assert_ne!(
            holder.as_deref(),
            Some(r.node()),
            "{} exited on SIGTERM still holding the job lease (no handover)",
            r.node()
        );
        let worker_left = r.leftovers();
        r.restart();
        r.wait_ready(&cluster.http).await;
        let ready_after = stopped.elapsed();
        viewer.balancer.set_up(k, true);
        assert_eq!(
            viewer.playback.position(&viewer.client, endpoint).await,
            ticks,
            "the position reported through {} before its restart is read back from it after",
            endpoint.node
        );
        windows.push((stopped, Instant::now()));
        restarts.push(Restart {
            node: endpoint.node.clone(),
            owner: job.owner_node.clone(),
            job_state: job.state,
            last_segment: job.last_segment,
            received,
            exited_after,
            ready_after,
            stall: None,
            worker_left,
            owner_after: jobs.the_job().await.owner_node,
        });
    }
    match stream.await {
        Ok(()) => {}
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("the viewer task: {e}"),
    }

    check_every_frame_once(cluster.shared.logs.path(), &viewer.joined(), &clip);
    let last = REPLICAS as i64 * 10_000_000;
    for e in &endpoints {
        assert_eq!(
            viewer.playback.position(&viewer.client, e).await,
            last,
            "{} reads the last position",
            e.node
        );
    }
    let timeline = viewer.timeline();
    for (r, (from, to)) in restarts.iter_mut().zip(windows) {
        r.stall = timeline.longest_during(from, to);
    }
    RollingOutcome {
        restarts,
        timeline,
        retries: viewer.balancer.retries(),
    }
}
