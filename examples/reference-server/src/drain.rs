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
//! 1. First SIGTERM or SIGINT, at once: `/health/ready` answers 503 (`Draining`), so balancers
//!    that check it take the replica out of rotation; every other request, `/health`
//!    included, is still answered (`/health` is the liveness probe: failing it would get the
//!    process restarted, not drained). And the transcodes are handed over
//!    (`ha_transcode::manager`'s `hand_over`): live replicas are asked to take each job over
//!    now, make-before-break — this replica's worker keeps producing until one has (about
//!    0.1 s with a peer up; with none, it runs on to step 3), then stops, fenced by the new
//!    owner's token. The new owners are producing before traffic moves.
//! 2. For `--shutdown-drain` (default 10 s: HAProxy's `inter 2s fall 3` is 6 s, plus margin)
//!    the replica serves as before: published segments from storage, the others waited for
//!    (shared transcode directory) or fetched from their new owner (node-local); it never takes
//!    a job itself any more (a job nobody runs is offered to the live replicas instead).
//! 3. Then it stops accepting, stops what transcodes it still has (none, unless no live replica
//!    took them) and releases their leases, lets in-flight responses finish for up to
//!    `--shutdown-grace` and exits.
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

/// Marks this replica as draining: `/health/ready` fails from now on, and its transcodes are
/// handed over to live replicas.
pub fn start(state: &AppState) {
    if !state.draining.swap(true, Ordering::SeqCst) {
        tracing::info!(
            drain = ?state.config.shutdown_drain,
            "draining: readiness fails, transcodes are handed over, requests are still served"
        );
        if let Some(transcoder) = &state.transcoder {
            transcoder.drain();
        }
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
