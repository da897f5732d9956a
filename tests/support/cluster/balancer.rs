//! A plain round-robin load balancer in front of the replicas, inside the client: no
//! stickiness, a replica taken out of rotation while it restarts (what a readiness probe does),
//! and a request whose *connection* is refused retried on the next replica (nginx's
//! `proxy_next_upstream error`). Only connect failures are retried: a replica that accepted a
//! request must answer it, even while shutting down.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use reqwest::StatusCode;

use super::client::Client;
use super::replica::Endpoint;

/// See the module docs.
pub struct Balancer {
    endpoints: Vec<Endpoint>,
    up: Mutex<Vec<bool>>,
    next: AtomicUsize,
    retries: AtomicUsize,
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
        loop {
            let r = self.pick();
            match c.get_bytes(&r.base, path).await {
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
