//! One hls.js play in headless chromium (`tests/browser/player.mjs`), as a child process whose
//! events arrive as they happen, so a test can act on the player's progress (kill the owner
//! once fragment 1 is in) and then judge the whole play.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::{browser_dir, CHROMIUM};

/// A running play.
pub struct Player {
    child: Child,
    events: mpsc::UnboundedReceiver<Value>,
    /// Every event seen so far.
    pub seen: Vec<Value>,
}

/// What a play came to (`summarize` in `player.mjs`).
#[derive(Debug, Clone)]
pub struct PlaySummary {
    /// Reached the end of the stream.
    pub ended: bool,
    /// Frames the browser decoded, and dropped.
    pub frames: Option<u64>,
    /// Every hls.js error event (`details/code@t`), fatal or not.
    pub errors: Vec<String>,
    /// Fatal ones.
    pub fatal: u64,
    /// Stalls mid-play, their total and the longest, in seconds.
    pub stalls: u64,
    /// Total stall.
    pub stall_total: f64,
    /// Longest stall.
    pub stall_longest: f64,
    /// Fragment numbers in the order they loaded.
    pub fragments_loaded: Vec<u64>,
    /// Every event of the play, one per line (`t ev ...`), for failure messages.
    pub timeline: String,
}

impl Player {
    /// Plays `src` (on `origin`, the load balancer) sending `authorization` with every request.
    /// `buffer_secs` is hls.js's forward buffer (`maxBufferLength`; its default is 30 s).
    pub fn start(origin: &str, src: &str, authorization: &str, buffer_secs: u32) -> Self {
        let options = json!({
            "origin": origin,
            "src": src,
            "chromium": CHROMIUM,
            "headers": { "Authorization": authorization },
            "hlsConfig": { "maxBufferLength": buffer_secs, "maxMaxBufferLength": buffer_secs },
            "maxSecs": 150,
        });
        let mut child = Command::new("node")
            .arg(browser_dir().join("player.mjs"))
            .arg(options.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node tests/browser/player.mjs");
        let stdout = child.stdout.take().expect("the player's stdout");
        let (tx, events) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        Self {
            child,
            events,
            seen: Vec::new(),
        }
    }

    /// The next event (`None` once the play is over), waiting at most `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Value> {
        let e = tokio::time::timeout(within, self.events.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the player said nothing for {within:?}: {:?}",
                    self.seen.last()
                )
            })?;
        self.seen.push(e.clone());
        Some(e)
    }

    /// Waits until fragment `sn` has loaded.
    pub async fn until_fragment(&mut self, sn: u64) {
        while let Some(e) = self.next(Duration::from_secs(60)).await {
            if e["ev"] == "frag" && e["sn"] == sn {
                return;
            }
            assert!(
                !(e["ev"] == "error" && e["fatal"] == true),
                "fatal player error before fragment {sn}: {e}"
            );
        }
        panic!("the play ended before fragment {sn}: {:?}", self.seen);
    }

    /// Plays to the end; the summary.
    pub async fn finish(mut self) -> PlaySummary {
        while let Some(e) = self.next(Duration::from_secs(90)).await {
            if let Some(s) = e.get("summary") {
                let _ = self.child.wait().await;
                let mut summary = parse_summary(s);
                summary.timeline = self
                    .seen
                    .iter()
                    .filter(|e| e.get("summary").is_none())
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n");
                return summary;
            }
        }
        panic!("the player ended without a summary: {:?}", self.seen);
    }
}

fn parse_summary(s: &Value) -> PlaySummary {
    let strings = |k: &str| -> Vec<String> {
        s[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    PlaySummary {
        ended: s["ended"].as_bool().unwrap_or(false),
        frames: s["frames"].as_u64(),
        errors: strings("errors"),
        fatal: s["fatal"].as_u64().unwrap_or(0),
        stalls: s["stalls"].as_u64().unwrap_or(0),
        stall_total: s["stall_total"].as_f64().unwrap_or(0.0),
        stall_longest: s["stall_longest"].as_f64().unwrap_or(0.0),
        fragments_loaded: s["fragments_loaded"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default(),
        timeline: String::new(),
    }
}
