//! The SIGTERM drain: leave the load balancer's rotation before closing the door.
//!
//! # Why
//!
//! A replica that stops accepting connections the moment it gets SIGTERM is still in every
//! load balancer's rotation until their health checks notice (HAProxy `inter 2s fall 3`: about
//! 6 s; a Kubernetes Service: until the endpoint update reaches every node). Meanwhile every
//! request sent its way meets a closed port, and the balancer answers 503 itself: a player
//! error per request, measured on every rolling restart (issue 16). Kubernetes expects the
//! opposite order (preStop, then SIGTERM, then `terminationGracePeriodSeconds`): keep serving
//! while the balancers catch up, and only then stop.
//!
//! # What happens
//!
//! 1. First SIGTERM or SIGINT: `/health/ready` answers 503 at once (`Draining`), so balancers
//!    that check it take the replica out of rotation; every other request, `/health`
//!    included, is still answered (`/health` is the liveness probe: failing it would get the
//!    process restarted, not drained).
//! 2. For `--shutdown-drain` (default 10 s: HAProxy's `inter 2s fall 3` is 6 s, plus margin)
//!    the replica serves as before: its transcodes keep running, so viewers routed here or
//!    waiting on its segments elsewhere see nothing.
//! 3. Then it stops accepting, stops its transcodes and releases their leases (another replica
//!    takes each job over at its next segment request, without waiting for a TTL), lets
//!    in-flight responses finish for up to `--shutdown-grace` and exits.
//!
//! A second SIGTERM or SIGINT at any point exits at once (an operator's Ctrl-C twice, or an
//! orchestrator that gave up waiting); the transcode workers follow within milliseconds
//! (their stdin lifeline, `ha_transcode::worker::lifeline`).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::state::AppState;
use super::Server;

/// Exit status after a second signal cut the drain short (128 + SIGINT, as shells report it).
pub const INTERRUPTED: u8 = 130;

/// Marks this replica as draining: `/health/ready` fails from now on.
pub fn start(state: &AppState) {
    if !state.draining.swap(true, Ordering::SeqCst) {
        tracing::info!(
            drain = ?state.config.shutdown_drain,
            "draining: readiness fails, requests are still served"
        );
    }
}

/// Runs `server` until SIGTERM/SIGINT, then drains for `drain`, shuts down with `grace` for
/// in-flight requests, and returns the process's exit status. A second signal ends the process
/// at once with [`INTERRUPTED`] (`std::process::exit`: dropping the runtime would wait for
/// blocking tasks).
pub async fn run_until_signalled(
    server: Server,
    drain: Duration,
    grace: Duration,
) -> std::process::ExitCode {
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for SIGTERM");
            return std::process::ExitCode::FAILURE;
        }
    };
    signals.next().await;
    server.start_drain();
    let stopping = async {
        tokio::time::sleep(drain).await;
        tracing::info!(?grace, "drain over: no new connections; finishing requests");
        server.shutdown(grace).await;
    };
    tokio::select! {
        () = stopping => std::process::ExitCode::SUCCESS,
        () = signals.next() => {
            tracing::warn!("second signal: exiting at once");
            std::process::exit(i32::from(INTERRUPTED))
        }
    }
}

/// SIGTERM (what `docker stop` and Kubernetes send) and SIGINT (Ctrl-C), as one stream.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
