//! The viewer: fetches the segments of a play in order through the balancer, keeps their bytes
//! for the stitch check and their arrival times for the stall figures. Shareable, so a
//! scenario can stream on one task while it restarts replicas on another.

use std::sync::Mutex;

use reqwest::StatusCode;

use super::balancer::Balancer;
use super::client::Client;
use super::playback::Playback;
use super::timeline::Timeline;

/// See the module docs.
pub struct Viewer {
    /// The signed-in client.
    pub client: Client,
    /// Its load balancer.
    pub balancer: Balancer,
    /// What it plays.
    pub playback: Playback,
    state: Mutex<(Timeline, Vec<u8>)>,
}

impl Viewer {
    /// A viewer of `playback`, before its first segment.
    pub fn new(client: Client, balancer: Balancer, playback: Playback) -> Self {
        Self {
            client,
            balancer,
            playback,
            state: Mutex::new((Timeline::new(), Vec::new())),
        }
    }

    /// Fetches segment `i` (which must be the next one) from the next replica in rotation.
    pub async fn fetch(&self, i: usize) {
        if i == 0 {
            self.state().0 = Timeline::new();
        }
        let answer = self
            .balancer
            .get(&self.client, &self.playback.segments[i])
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "segment {i} from {}: {}",
            answer.node,
            String::from_utf8_lossy(&answer.body)
        );
        let mut state = self.state();
        assert_eq!(state.0.arrivals.len(), i, "segments fetched in order");
        state
            .0
            .arrivals
            .push((std::time::Instant::now(), answer.node));
        state.1.extend(answer.body);
    }

    /// Fetches every segment from `from` on.
    pub async fn fetch_rest(&self, from: usize) {
        for i in from..self.playback.segments.len() {
            self.fetch(i).await;
        }
    }

    /// Segments received so far.
    pub fn received(&self) -> usize {
        self.state().0.arrivals.len()
    }

    /// The arrivals so far.
    pub fn timeline(&self) -> Timeline {
        self.state().0.clone()
    }

    /// The bytes received so far, concatenated.
    pub fn joined(&self) -> Vec<u8> {
        self.state().1.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, (Timeline, Vec<u8>)> {
        ha_core::sync::lock(&self.state)
    }
}
