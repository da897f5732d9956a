//! A plain round-robin load balancer in front of the replicas, inside the client: no
//! stickiness, a replica taken out of rotation while it restarts (what a readiness probe does),
//! and a request whose *connection* is refused retried on the next replica (nginx's
//! `proxy_next_upstream error`). Only connect failures are retried: a replica that accepted a
//! request must answer it, even while shutting down. A 503 with `Retry-After` (a segment not
//! ready within the server's segment wait) is retried after that long, as players do, and
//! counted.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::StatusCode;

use super::client::Client;
use super::replica::Endpoint;

/// How long after a 503 the request is sent again (the server's `Retry-After: 1`; hls.js
/// waits 1 s before its first retry whatever the header says).
const RETRY_UNAVAILABLE: Duration = Duration::from_secs(1);
/// 503s in a row before the answer is handed to the caller (about 10 × (6 s wait + 1 s)).
const MAX_UNAVAILABLE: usize = 10;

/// See the module docs.
pub struct Balancer {
    endpoints: Vec<Endpoint>,
    up: Mutex<Vec<bool>>,
    next: AtomicUsize,
    retries: AtomicUsize,
    unavailable: AtomicUsize,
}

/// One answered request.
#[derive(Debug)]
pub struct Answer {
    /// The replica that answered.
    pub node: String,
    /// Its status.
    pub status: StatusCode,
    /// Its body.
    pub body: Vec<u8>,
}

impl Balancer {
    /// Every endpoint in rotation.
    pub fn new(endpoints: Vec<Endpoint>) -> Self {
        let up = vec![true; endpoints.len()];
        Self {
            endpoints,
            up: Mutex::new(up),
            next: AtomicUsize::new(0),
            retries: AtomicUsize::new(0),
            unavailable: AtomicUsize::new(0),
        }
    }

    /// Takes replica `i` out of rotation (`false`) or puts it back (`true`).
    pub fn set_up(&self, i: usize, up: bool) {
        ha_core::sync::lock(&self.up)[i] = up;
    }

    /// Connect failures retried on another replica so far.
    pub fn retries(&self) -> usize {
        self.retries.load(Ordering::Relaxed)
    }

    /// 503 + `Retry-After` answers retried so far (what a player counts as a non-fatal error).
    pub fn unavailable(&self) -> usize {
        self.unavailable.load(Ordering::Relaxed)
    }

    /// The next replica in rotation.
    fn pick(&self) -> &Endpoint {
        let up = ha_core::sync::lock(&self.up).clone();
        assert!(up.iter().any(|u| *u), "no replica in rotation");
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.endpoints.len();
            if up[i] {
                return &self.endpoints[i];
            }
        }
    }

    /// `GET path` on the next replica in rotation, moving on when a connection is refused.
    pub async fn get(&self, c: &Client, path: &str) -> Answer {
        let mut attempts = 0;
        let mut unavailable = 0;
        loop {
            let r = self.pick();
            match c.get_bytes(&r.base, path).await {
                Ok((StatusCode::SERVICE_UNAVAILABLE, _)) if unavailable < MAX_UNAVAILABLE => {
                    unavailable += 1;
                    self.unavailable.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(RETRY_UNAVAILABLE).await;
                }
                Ok((status, body)) => {
                    return Answer {
                        node: r.node.clone(),
                        status,
                        body,
                    }
                }
                Err(e) if e.is_connect() && attempts < 4 * self.endpoints.len() => {
                    attempts += 1;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("GET {path} on {}: {e}", r.node),
            }
        }
    }
}
