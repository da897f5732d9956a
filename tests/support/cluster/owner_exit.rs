//! Scenario: the replica that owns the transcode goes away mid-stream, and the viewer keeps
//! playing from the survivor.
//!
//! Two replicas; the viewer fetches segments round-robin; after [`BEFORE_EXIT`] segments the job
//! owner (read from its job record) is taken out of rotation and SIGKILLed (its whole process
//! group: the survivor takes over once the job lease has expired) or SIGTERMed (graceful: it
//! releases its leases, the survivor takes over at once). Checks that every segment arrives,
//! that the stream decodes with every frame once, that a progress report sent through the
//! victim is read back from the survivor, and, for SIGTERM, that the victim exits by itself.

use std::time::Duration;

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

/// Segments fetched before the owner goes away.
pub const BEFORE_EXIT: usize = 2;
/// The position reported through the victim just before it goes (6 s, in ticks).
const POSITION: i64 = 60_000_000;

/// How the owner goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// SIGKILL of its process group (server and worker): the node dies without a word.
    Crash,
    /// SIGTERM of the server: graceful shutdown, leases released.
    Term,
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct OwnerExitOutcome {
    /// How the owner went.
    pub exit: Exit,
    /// The owner that went.
    pub victim: String,
    /// False when the job had already finished at the exit (no takeover exercised).
    pub took_over: bool,
    /// The gap spanning the exit: from the last segment before it to the first after.
    pub stall: Duration,
    /// Every segment's arrival.
    pub timeline: Timeline,
}

impl OwnerExitOutcome {
    /// One line for `--nocapture` and the harness log.
    pub fn summary(&self) -> String {
        let (worst, at) = self.timeline.longest();
        format!(
            "[{:?}] {} went after {BEFORE_EXIT} segments{}; stall across the exit {:.2} s; \
             longest {:.2} s (before segment {at}); served by {:?}; gaps {}",
            self.exit,
            self.victim,
            if self.took_over {
                ""
            } else {
                " (job already finished: NO takeover exercised)"
            },
            self.stall.as_secs_f64(),
            worst.as_secs_f64(),
            self.timeline.served_by(),
            self.timeline.gaps_text()
        )
    }
}

/// Runs the scenario on a fresh two-replica cluster on `shared` (see the module docs).
pub async fn play_through_owner_exit(shared: Shared, clip: Clip, exit: Exit) -> OwnerExitOutcome {
    let mut cluster = Cluster::start(shared, 2, clip).await;
    let endpoints = cluster.endpoints();
    let mut client = Client::new();
    let playback = Playback::open(&mut client, &endpoints, &clip).await;
    let viewer = Viewer::new(client, Balancer::new(endpoints.clone()), playback);
    let jobs = JobView::connect(&cluster.shared).await;
    for i in 0..BEFORE_EXIT {
        viewer.fetch(i).await;
    }

    let job = jobs.the_job().await;
    let victim = cluster.index_of(&job.owner_node);
    let survivor = 1 - victim;
    let total = viewer.playback.segments.len() as u32;
    let running = job.state == JobState::Running && job.last_segment.is_none_or(|s| s + 1 < total);
    eprintln!(
        "[{exit:?}] owner {} (state {:?}, last segment {:?}, attempts {}): going away",
        job.owner_node, job.state, job.last_segment, job.attempts
    );
    // A progress report written through the victim must outlive it.
    viewer
        .playback
        .report_progress(&viewer.client, &endpoints[victim], POSITION)
        .await;
    viewer.balancer.set_up(victim, false);
    match exit {
        Exit::Crash => cluster.replicas[victim].crash(),
        Exit::Term => cluster.replicas[victim].terminate(),
    }
    viewer.fetch_rest(BEFORE_EXIT).await;

    let after = jobs.the_job().await;
    if running {
        assert_eq!(
            after.owner_node, endpoints[survivor].node,
            "the survivor took the job over"
        );
        assert!(after.attempts >= 2, "a second tenure: {after:?}");
    }
    check_every_frame_once(cluster.shared.logs.path(), &viewer.joined(), &clip);
    assert_eq!(
        viewer
            .playback
            .position(&viewer.client, &endpoints[survivor])
            .await,
        POSITION,
        "the position reported through the victim is read through the survivor"
    );
    if exit == Exit::Term {
        let r = &mut cluster.replicas[victim];
        let status = r.wait_exit(Duration::from_secs(20)).await;
        assert!(
            status.is_some_and(|s| s.success()),
            "{} did not exit cleanly on SIGTERM: {status:?}\n{}",
            r.node(),
            r.log_tail()
        );
    }
    let timeline = viewer.timeline();
    OwnerExitOutcome {
        exit,
        victim: endpoints[victim].node.clone(),
        took_over: running,
        stall: timeline.gaps()[BEFORE_EXIT],
        timeline,
    }
}
