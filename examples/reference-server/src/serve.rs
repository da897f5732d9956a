//! Accepting connections: HTTP/1.1 with a header-read timeout, and graceful shutdown.
//!
//! Why not `axum::serve`: it builds hyper's connection without a timer, so hyper's
//! header-read timeout never fires, and it auto-detects HTTP/2 by reading the connection
//! preface with no time limit at all. A client that opens a socket and dribbles a request
//! line one byte a minute (slowloris) then holds a connection and a task for as long as it
//! likes; a few thousand such sockets exhaust the file descriptors of a replica. Here every
//! connection is served by hyper's HTTP/1 builder with a [`TokioTimer`] and
//! [`Config::header_read_timeout`](crate::Config): a request head not complete in time
//! closes the connection (hyper answers `408` if it got anything). What comes after the head is
//! bounded in `lib.rs`: a body that never finishes by the body-read timeout (`408`,
//! `body_timeout.rs`), a handler that never answers by the request timeout layer (`503`); when
//! the server gives up on an unfinished body, hyper closes the connection instead of waiting to
//! drain it.
//!
//! HTTP/2 is not offered: Jellyfin clients speak HTTP/1.1 to the server (browsers only use
//! HTTP/2 over TLS, which a reverse proxy terminates), and h2 has no header-read timeout.

use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Longest time from the first byte of a request (or the connection's start) to the end
    /// of its head.
    pub header_read_timeout: Duration,
}

/// Serves `app` on `listener` until `stop` turns true, then stops accepting and lets open
/// connections finish their current request (idle keep-alive connections close at once).
///
/// # Errors
/// Never returns an error today (accept failures such as `EMFILE` are logged and retried);
/// the `Result` is kept for the server task's signature.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    // Each connection's task; finished ones are reaped as new ones come, the rest awaited at
    // shutdown. (hyper-util's `GracefulShutdown` cannot watch a connection that may upgrade.)
    let mut connections = tokio::task::JoinSet::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        while connections.try_join_next().is_some() {}
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(err) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let service = TowerToHyperService::new(app.clone());
        // Upgrades: the live channel (`/socket`) is a WebSocket; an upgraded connection leaves
        // this task (its socket has its own, see `live/socket.rs`).
        let conn = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = stopped(stop) => {
                    // Finish the request in flight; an idle keep-alive connection closes now.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(err) = result {
                tracing::debug!(%peer, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// Resolves once `stop` turns true (never if its sender is gone without doing so).
async fn stopped(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}
