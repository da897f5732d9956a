//! Simulated HLS viewers: N clients playing the same transcoded item at once, each request
//! going to the next replica (a round-robin balancer without sticky sessions).
//!
//! Every viewer asks for PlaybackInfo, the master and media playlists, then every segment in
//! order, as a player does. They all share one transcode job (same rendition, one job key
//! cluster-wide), so the replica that does not own the job serves segments from the shared
//! directory or waits for them. Each request's latency and outcome is recorded; a non-2xx
//! answer or a transport error is an error, never retried — with one exception, the answer the
//! server documents for it: a *segment* request answered `503` with the segment wait's
//! `Retry-After` (`media_ha_server::hls::SEGMENT_RETRY_AFTER_SECS`: the segment is being made
//! but was not ready within `--segment-wait`, as can happen while a transcode starts on a loaded
//! machine) is retried after that long, as players do, and counted
//! ([`ViewerStats::segment_retries`]); a segment still not served after
//! [`MAX_SEGMENT_RETRIES`] such answers is an error. Any other 5xx (a 503 on another request or
//! with another `Retry-After`, a 500, a 502) stays an error.

use std::sync::Arc;
use std::time::{Duration, Instant};

use media_ha_server::hls::SEGMENT_RETRY_AFTER_SECS;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Segment-wait answers one segment may get before it counts as an error (about 5 × (6 s wait
/// + 1 s) = 35 s: far beyond a transcode start, well before the client's 120 s timeout).
pub const MAX_SEGMENT_RETRIES: u32 = 5;

/// The outcome of all viewers.
#[derive(Debug, Default, Clone)]
pub struct ViewerStats {
    /// Requests answered 2xx.
    pub ok: u64,
    /// Segments received (2xx, non-empty).
    pub segments: u64,
    /// Segment bytes received.
    pub bytes: u64,
    /// First few errors, described (status or transport error, replica, path).
    pub errors: Vec<String>,
    /// Number of errors.
    pub error_count: u64,
    /// Segment requests answered `503` + the segment wait's `Retry-After` and retried (an
    /// allowed answer, not an error; see the module docs).
    pub segment_retries: u64,
    /// Latency of every 2xx request, ms.
    pub latencies_ms: Vec<f64>,
    /// Full passes over the item (all viewers together).
    pub passes: u64,
}

impl ViewerStats {
    fn merge(&mut self, other: ViewerStats) {
        self.ok += other.ok;
        self.segments += other.segments;
        self.bytes += other.bytes;
        self.error_count += other.error_count;
        self.segment_retries += other.segment_retries;
        self.passes += other.passes;
        self.latencies_ms.extend(other.latencies_ms);
        for e in other.errors {
            if self.errors.len() < 10 {
                self.errors.push(e);
            }
        }
    }

    /// The `q`-th percentile (0–100) of the recorded latencies, ms (0 when nothing answered).
    pub fn percentile(&self, q: f64) -> f64 {
        let mut v = self.latencies_ms.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return 0.0;
        }
        let rank = ((q / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }
}

/// What every viewer needs: the replicas, the token and the item.
#[derive(Debug, Clone)]
pub struct Audience {
    /// Replica base URLs.
    pub bases: Vec<String>,
    /// Access tokens: viewer `i` plays as `tokens[i % len]`, on its own device.
    pub tokens: Vec<String>,
    /// The transcoded item.
    pub item_id: String,
    /// Segments the media playlist must list.
    pub expected_segments: usize,
}

struct Viewer {
    audience: Arc<Audience>,
    http: reqwest::Client,
    device: String,
    token: String,
    next: usize,
    stats: ViewerStats,
}

/// A request that was not answered 2xx.
enum Refused {
    /// `503` with the segment wait's `Retry-After`: retry a segment request after `after`.
    NotReadyYet { after: Duration, what: String },
    /// Anything else.
    Error(String),
}

impl From<Refused> for String {
    fn from(r: Refused) -> Self {
        match r {
            Refused::NotReadyYet { what, .. } | Refused::Error(what) => what,
        }
    }
}

/// What a non-2xx answer is: the segment wait's 503 (`Retry-After` exactly the server's
/// segment value), or an error.
fn classify(status: StatusCode, retry_after: Option<u64>, what: String) -> Refused {
    if status == StatusCode::SERVICE_UNAVAILABLE && retry_after == Some(SEGMENT_RETRY_AFTER_SECS) {
        Refused::NotReadyYet {
            after: Duration::from_secs(SEGMENT_RETRY_AFTER_SECS),
            what,
        }
    } else {
        Refused::Error(what)
    }
}

impl Viewer {
    fn header(&self) -> String {
        format!(
            r#"MediaBrowser Client="media-ha load", Device="Viewer", DeviceId="{}", Version="1.0", Token="{}""#,
            self.device, self.token
        )
    }

    /// One request to the next replica: the body on 2xx (latency recorded), else what went
    /// wrong.
    async fn send(&mut self, post: Option<Value>, path: &str) -> Result<Vec<u8>, Refused> {
        let base = &self.audience.bases[self.next % self.audience.bases.len()];
        self.next += 1;
        let url = format!("{base}{path}");
        let req = match &post {
            Some(body) => self.http.post(&url).json(body),
            None => self.http.get(&url),
        };
        let started = Instant::now();
        let resp = req
            .header("Authorization", self.header())
            .send()
            .await
            .map_err(|e| Refused::Error(format!("{url}: {e}")))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = resp
            .bytes()
            .await
            .map_err(|e| Refused::Error(format!("{url}: {status}, body: {e}")))?;
        if !status.is_success() {
            let what = format!("{url}: {status}: {}", String::from_utf8_lossy(&body));
            return Err(classify(status, retry_after, what));
        }
        self.stats.ok += 1;
        self.stats
            .latencies_ms
            .push(started.elapsed().as_secs_f64() * 1e3);
        Ok(body.to_vec())
    }

    async fn text(&mut self, path: &str) -> Result<String, String> {
        let body = self.send(None, path).await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// A segment: retried (each time on the next replica, as behind a balancer) while the
    /// answer is the segment wait's 503, at most [`MAX_SEGMENT_RETRIES`] times.
    async fn segment(&mut self, path: &str) -> Result<Vec<u8>, String> {
        let mut retries = 0;
        loop {
            match self.send(None, path).await {
                Ok(body) => return Ok(body),
                Err(Refused::NotReadyYet { after, what }) => {
                    if retries == MAX_SEGMENT_RETRIES {
                        return Err(format!("still not ready after {retries} retries: {what}"));
                    }
                    retries += 1;
                    self.stats.segment_retries += 1;
                    tokio::time::sleep(after).await;
                }
                Err(Refused::Error(what)) => return Err(what),
            }
        }
    }

    /// One full play: PlaybackInfo → master → media playlist → every segment. Stops at the
    /// first error (a player would too).
    async fn play(&mut self) -> Result<(), String> {
        let item = self.audience.item_id.clone();
        let info = self
            .send(Some(json!({})), &format!("/Items/{item}/PlaybackInfo"))
            .await
            .map_err(String::from)?;
        let info: Value =
            serde_json::from_slice(&info).map_err(|e| format!("PlaybackInfo: {e}"))?;
        let master_url = info["MediaSources"][0]["TranscodingUrl"]
            .as_str()
            .ok_or_else(|| format!("no TranscodingUrl in {info}"))?
            .to_owned();
        let master = self.text(&master_url).await?;
        let media_uri = master
            .lines()
            .find(|l| l.starts_with("main.m3u8"))
            .ok_or_else(|| format!("no media playlist in {master}"))?
            .to_owned();
        let base = format!("/Videos/{item}/");
        let media = self.text(&format!("{base}{media_uri}")).await?;
        let segments: Vec<String> = media
            .lines()
            .filter(|l| l.starts_with("hls1/"))
            .map(str::to_owned)
            .collect();
        if segments.len() != self.audience.expected_segments {
            return Err(format!(
                "media playlist lists {} segments, expected {}:\n{media}",
                segments.len(),
                self.audience.expected_segments
            ));
        }
        for uri in segments {
            let bytes = self.segment(&format!("{base}{uri}")).await?;
            if bytes.is_empty() {
                return Err(format!("empty segment {uri}"));
            }
            self.stats.segments += 1;
            self.stats.bytes += bytes.len() as u64;
        }
        self.stats.passes += 1;
        Ok(())
    }
}

/// Runs `n` viewers at once; each replays the item until `min_time` has passed (at least one
/// pass). Viewer `i` starts on replica `i % replicas`, so every request kind hits every replica.
pub async fn watch(audience: Audience, n: usize, min_time: Duration) -> ViewerStats {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap_or_default();
    let audience = Arc::new(audience);
    let started = Instant::now();
    let mut runs = tokio::task::JoinSet::new();
    for i in 0..n {
        let mut viewer = Viewer {
            audience: audience.clone(),
            http: http.clone(),
            device: format!("load-viewer-{i}"),
            token: audience.tokens[i % audience.tokens.len().max(1)].clone(),
            next: i,
            stats: ViewerStats::default(),
        };
        runs.spawn(async move {
            loop {
                if let Err(e) = viewer.play().await {
                    viewer.stats.error_count += 1;
                    viewer.stats.errors.push(e);
                    return viewer.stats;
                }
                if started.elapsed() >= min_time {
                    return viewer.stats;
                }
            }
        });
    }
    let mut all = ViewerStats::default();
    while let Some(done) = runs.join_next().await {
        match done {
            Ok(stats) => all.merge(stats),
            Err(e) => {
                all.error_count += 1;
                all.errors.push(format!("viewer task failed: {e}"));
            }
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_segment_waits_503_is_retried() {
        let retried = |status, retry_after| {
            matches!(
                classify(status, retry_after, String::new()),
                Refused::NotReadyYet { .. }
            )
        };
        let seg = Some(SEGMENT_RETRY_AFTER_SECS);
        assert!(retried(StatusCode::SERVICE_UNAVAILABLE, seg));
        // A store outage's 503 (a longer Retry-After) or one without it is an error.
        assert!(!retried(StatusCode::SERVICE_UNAVAILABLE, Some(5)));
        assert!(!retried(StatusCode::SERVICE_UNAVAILABLE, None));
        for other in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::TOO_MANY_REQUESTS,
        ] {
            assert!(!retried(other, seg), "{other}");
        }
    }
}
