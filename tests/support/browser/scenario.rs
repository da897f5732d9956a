//! The browser failover scenario: a player through a load balancer in front of two replicas,
//! the job's owner SIGKILLed or SIGTERMed once the player has fragment 1. Shared by the test
//! (`tests/browser_failover.rs`, which asserts) and the load-balancer measurement (which prints
//! a row per configuration).

use std::time::{Duration, Instant};

use ha_core::JobState;

use super::haproxy::{Answers, Haproxy, LbSettings};
use super::nginx::{Nginx, NginxRetry};
use super::player::{PlaySummary, Player};
use crate::cluster::client::Client;
use crate::cluster::job::JobView;
use crate::cluster::media::Clip;
use crate::cluster::owner_exit::Exit;
use crate::cluster::playback::Playback;
use crate::cluster::setup::{Cluster, Shared};

/// The load balancer in front.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lb {
    /// HAProxy with these settings.
    Haproxy(LbSettings),
    /// nginx with these retries.
    Nginx(NginxRetry),
}

/// What one run measured.
#[derive(Debug, Clone)]
pub struct BrowserOutcome {
    /// The player's view.
    pub play: PlaySummary,
    /// The job record's owner changed this long after the exit (`None`: not seen).
    pub takeover_after: Option<Duration>,
    /// What the load balancer answered.
    pub answers: Answers,
    /// The owner that went, and the job's owner at the end.
    pub victim: String,
    /// The job's owner at the end.
    pub owner_after: String,
    /// Fragments in the stream.
    pub fragments: u32,
    /// The player's clock (`t` of its events) at its last event before the exit: every event
    /// earlier than this happened before the owner went (`None`: no event seen yet).
    pub exit_player_secs: Option<f64>,
}

impl BrowserOutcome {
    /// Loading errors (5xx, timeouts, dead connections reaching hls.js): the failover showing.
    pub fn loading_errors(&self) -> Vec<&String> {
        self.play
            .errors
            .iter()
            .filter(|e| !e.starts_with("buffer"))
            .collect()
    }

    /// Player errors at or after the exit (`details@t` with `t` not before
    /// [`Self::exit_player_secs`]); those before it are the stream's, not the failover's.
    /// An error whose time cannot be read counts as after.
    pub fn errors_after_exit(&self) -> Vec<&String> {
        let exit = self.exit_player_secs.unwrap_or(f64::NEG_INFINITY);
        self.play
            .errors
            .iter()
            .filter(|e| {
                e.rsplit_once('@')
                    .and_then(|(_, t)| t.strip_suffix('s')?.parse::<f64>().ok())
                    .is_none_or(|t| t >= exit)
            })
            .collect()
    }

    /// True when every fragment loaded exactly once.
    pub fn every_fragment_once(&self) -> bool {
        let mut loaded = self.play.fragments_loaded.clone();
        loaded.sort_unstable();
        loaded == (0..u64::from(self.fragments)).collect::<Vec<_>>()
    }
}

/// Plays `clip` through `lb` in front of two replicas on `shared`; `exit` hits the owner once
/// the player (forward buffer `buffer_secs`) has fragment 1.
pub async fn play_through_owner_exit_in_browser(
    shared: Shared,
    clip: Clip,
    lb: Lb,
    exit: Exit,
    buffer_secs: u32,
) -> BrowserOutcome {
    let mut cluster = Cluster::start(shared, 2, clip).await;
    let endpoints = cluster.endpoints();
    let mut client = Client::new();
    let playback = Playback::open(&mut client, &endpoints, &clip).await;
    enum Running {
        Haproxy(Haproxy),
        Nginx(Nginx),
    }
    let running = match lb {
        Lb::Haproxy(s) => Running::Haproxy(Haproxy::start(&endpoints, s).await),
        Lb::Nginx(r) => Running::Nginx(Nginx::start(&endpoints, r).await),
    };
    let base = match &running {
        Running::Haproxy(h) => h.base.clone(),
        Running::Nginx(n) => n.base.clone(),
    };
    let jobs = JobView::connect(&cluster.shared).await;
    let src = format!("{base}{}", playback.master_url);
    let mut player = Player::start(&base, &src, &client.authorization(), buffer_secs);
    player.until_fragment(1).await;
    let job = jobs.the_job().await;
    let victim = cluster.index_of(&job.owner_node);
    let fragments = playback.segments.len() as u32;
    assert!(
        job.state == JobState::Running && job.last_segment.is_none_or(|s| s + 1 < fragments),
        "the transcode had finished before the exit: no takeover to see ({job:?})"
    );
    let exited = Instant::now();
    match exit {
        Exit::Crash => cluster.replicas[victim].crash(),
        Exit::Term => cluster.replicas[victim].terminate(),
        Exit::Pause => panic!("the browser scenario kills or stops the owner, never pauses it"),
    }
    let exit_player_secs = player.seen.last().and_then(|e| e["t"].as_f64());
    eprintln!(
        "[{lb:?} {exit:?}] owner {} went after fragment 1 (player t = {exit_player_secs:?} s; its \
         last segment {:?} of {fragments})",
        job.owner_node, job.last_segment
    );
    let mut takeover_after = None;
    let play = {
        let watch = async {
            loop {
                if jobs.the_job().await.owner_node != job.owner_node {
                    return exited.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::pin!(watch);
        let finish = player.finish();
        tokio::pin!(finish);
        loop {
            tokio::select! {
                at = &mut watch, if takeover_after.is_none() => takeover_after = Some(at),
                s = &mut finish => break s,
            }
        }
    };
    let answers = match &running {
        Running::Haproxy(h) => h.answers().await,
        Running::Nginx(n) => n.answers(),
    };
    BrowserOutcome {
        play,
        takeover_after,
        answers,
        victim: job.owner_node,
        owner_after: jobs.the_job().await.owner_node,
        fragments,
        exit_player_secs,
    }
}
