//! Scenario: the replica that owns the transcode goes away mid-stream, and the viewer keeps
//! playing from the survivor.
//!
//! Two replicas; the viewer fetches segments round-robin; after [`BEFORE_EXIT`] segments the job
//! owner (read from its job record) is taken out of rotation and SIGKILLed (its whole process
//! group: the survivor takes over once the owner's liveness record has lapsed, about a second,
//! without waiting for the 5 s job lease), SIGSTOPped for [`PAUSE`] (longer than the liveness
//! TTL, shorter than the job lease: the survivor takes over while the owner still believes in
//! its lease, and the owner must not write after it wakes) or SIGTERMed (graceful: it releases
//! its leases, the survivor takes over at once). Checks that every segment arrives, that the
//! stream decodes with every frame once, that a progress report sent through the victim is read
//! back from the survivor, that a SIGKILL or SIGSTOP was answered by a liveness-based takeover
//! (the survivor's `/metrics`), and, for SIGTERM, that the victim exits by itself. With a
//! history (`Shared::with_history`) the replicas' lease operations and fenced writes go to the
//! lease-history checker, with the pause as a fault.

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
use super::PATIENCE;
use crate::safety::checker::{check, CheckConfig, Report};
use crate::safety::history::{now_us, read_file, Entry, Fault};

/// Segments fetched before the owner goes away.
pub const BEFORE_EXIT: usize = 2;
/// How long a [`Exit::Pause`] freezes the owner: past its liveness record (1 s), inside its job
/// lease (5 s), so it wakes up believing it still owns the job.
pub const PAUSE: Duration = Duration::from_secs(3);
/// The position reported through the victim just before it goes (6 s, in ticks).
const POSITION: i64 = 60_000_000;

/// How the owner goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// SIGKILL of its process group (server and worker): the node dies without a word.
    Crash,
    /// SIGTERM of the server: graceful shutdown, leases released.
    Term,
    /// SIGSTOP of its process group for [`PAUSE`], then SIGCONT: a false suspicion.
    Pause,
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
    /// From the exit to the job record naming the survivor (`None`: never seen, e.g. no
    /// takeover needed).
    pub takeover_after: Option<Duration>,
    /// The survivor's `media_ha_transcode_liveness_takeovers_total`.
    pub liveness_takeovers: u64,
    /// Segment requests answered 503 (not ready within the segment wait) and retried.
    pub unavailable: usize,
    /// The lease-history checker's verdict, when the cluster recorded a history.
    pub history: Option<Report>,
    /// Every segment's arrival.
    pub timeline: Timeline,
}

impl OwnerExitOutcome {
    /// One line for `--nocapture` and the harness log.
    pub fn summary(&self) -> String {
        let (worst, at) = self.timeline.longest();
        format!(
            "[{:?}] {} went after {BEFORE_EXIT} segments{}; takeover {} after the exit \
             ({} by liveness); stall across the exit {:.2} s; \
             longest {:.2} s (before segment {at}); {} segment requests answered 503 and \
             retried; served by {:?}; gaps {}{}",
            self.exit,
            self.victim,
            if self.took_over {
                ""
            } else {
                " (job already finished: NO takeover exercised)"
            },
            self.takeover_after
                .map_or("not seen".to_owned(), |d| format!(
                    "{:.2} s",
                    d.as_secs_f64()
                )),
            self.liveness_takeovers,
            self.stall.as_secs_f64(),
            worst.as_secs_f64(),
            self.unavailable,
            self.timeline.served_by(),
            self.timeline.gaps_text(),
            self.history.as_ref().map_or(String::new(), |r| format!(
                "\n{}",
                r.summary("server history")
            ))
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
    let watch = watch_takeover(
        JobView::connect(&cluster.shared).await,
        job.owner_node.clone(),
    );
    let exited = Instant::now();
    let mut pause = None;
    match exit {
        Exit::Crash => cluster.replicas[victim].crash(),
        Exit::Term => cluster.replicas[victim].terminate(),
        Exit::Pause => {
            let frozen = now_us();
            cluster.replicas[victim].freeze();
            pause = Some(frozen);
        }
    }
    let resume = async {
        if pause.is_some() {
            tokio::time::sleep(PAUSE).await;
            cluster.replicas[victim].resume();
            Some(now_us())
        } else {
            None
        }
    };
    let (resumed, ()) = tokio::join!(resume, viewer.fetch_rest(BEFORE_EXIT));
    let takeover_at = watch.await.ok().flatten();

    let after = jobs.the_job().await;
    let liveness_takeovers = metric(
        &cluster.http,
        &endpoints[survivor].base,
        "media_ha_transcode_liveness_takeovers_total",
    )
    .await
    .expect("the survivor's /metrics count liveness takeovers");
    if running {
        assert_eq!(
            after.owner_node, endpoints[survivor].node,
            "the survivor took the job over"
        );
        assert!(after.attempts >= 2, "a second tenure: {after:?}");
        if exit != Exit::Term {
            // Not a timing bound: the mechanism. A takeover after the lease ran out would
            // count as a takeover but not as one by liveness.
            assert!(
                liveness_takeovers >= 1,
                "the survivor took the job over from a lapsed liveness record, not an expired \
                 lease\n{}",
                cluster.replicas[survivor].log_tail()
            );
        }
    }
    if exit == Exit::Pause && running {
        // The woken owner finds out by itself (its keeper's renewal or its publish gate) and
        // stops its run; its writes are the history's business.
        let deadline = Instant::now() + PATIENCE;
        while metric(
            &cluster.http,
            &endpoints[victim].base,
            "media_ha_transcode_jobs_local",
        )
        .await
            != Some(0)
        {
            assert!(
                Instant::now() < deadline,
                "the woken owner still runs the job it lost\n{}",
                cluster.replicas[victim].log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let history = cluster.shared.history.as_ref().map(|dir| {
        let mut entries: Vec<Entry> = std::fs::read_dir(dir.path())
            .expect("the history directory")
            .flatten()
            .flat_map(|f| read_file(&f.path()).expect("a history file"))
            .collect();
        if let (Some(start_us), Some(end_us)) = (pause, resumed) {
            entries.push(Entry::Fault {
                fault: Fault::Pause {
                    process: endpoints[victim].node.clone(),
                },
                start_us,
                end_us,
            });
        }
        let report = check(&entries, &CheckConfig::default());
        for v in &report.violations {
            eprintln!("VIOLATION\n{v}");
        }
        assert!(report.ok(), "{}", report.summary("server history"));
        if running && exit != Exit::Term {
            assert!(
                report.taken_over >= 1,
                "{}",
                report.summary("server history")
            );
        }
        report
    });
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
        takeover_after: takeover_at.map(|at| at.saturating_duration_since(exited)),
        liveness_takeovers,
        unavailable: viewer.balancer.unavailable(),
        history,
        timeline,
    }
}

/// Watches the job record until another node than `owner` owns it; when that was first seen
/// (polled every 20 ms, for at most a minute).
fn watch_takeover(jobs: JobView, owner: String) -> tokio::task::JoinHandle<Option<Instant>> {
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if jobs.the_job().await.owner_node != owner {
                return Some(Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    })
}

/// A series from `base`'s `/metrics` (`None`: not there, or no answer).
async fn metric(http: &reqwest::Client, base: &str, name: &str) -> Option<u64> {
    let text = match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}
