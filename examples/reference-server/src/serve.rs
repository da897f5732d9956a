//! Accepting connections: HTTP/1.1 with a header-read timeout, a write-stall timeout,
//! per-address and global connection caps, and graceful shutdown.
//!
//! Why not `axum::serve`: it builds hyper's connection without a timer, so hyper's
//! header-read timeout never fires, and it auto-detects HTTP/2 by reading the connection
//! preface with no time limit at all. A client that opens a socket and dribbles a request
//! line one byte a minute (slowloris) then holds a connection and a task for as long as it
//! likes; a few thousand such sockets exhaust the file descriptors of a replica. Here every
//! connection is served by hyper's HTTP/1 builder with a [`TokioTimer`] and
//! [`Config::header_read_timeout`](crate::Config): a request head not complete in time
//! closes the connection — with `408 Request Timeout` when part of a head had arrived, silently
//! for an idle keep-alive connection (`conn_io.rs`). What comes after the head is bounded in
//! `lib.rs`: a body that never finishes by the body-read timeout (`408`, `body_timeout.rs`), a
//! handler that never answers by the request timeout layer (`503`); when the server gives up on
//! an unfinished body, hyper closes the connection instead of waiting to drain it. A response
//! the client stops reading is cut once a write has stalled for
//! [`Config::write_timeout`](crate::Config) (`conn_io.rs`), and the accept loop refuses
//! connections over the per-address and global caps with a clear answer (`conn_limit.rs`).
//!
//! Heads hyper accepts that some servers refuse, decided (issue 20): a request without `Host`
//! or with two `Host` headers is served (routing never reads `Host`, and the server builds no
//! URL from it; Jellyfin does the same), and a head whose lines end in a bare `LF` is accepted
//! as RFC 9112 §2.2 allows. Neither lets a request be read two ways here: hyper refuses
//! conflicting `Content-Length`s and `Transfer-Encoding` with `Content-Length`.
//!
//! HTTP/2 is not offered: Jellyfin clients speak HTTP/1.1 to the server (browsers only use
//! HTTP/2 over TLS, which a reverse proxy terminates), and h2 has no header-read timeout.

use std::time::Duration;

use std::io::Write;
use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::conn_io::{GuardedIo, HeadProgress, StallTimeout};
use crate::conn_limit::{ConnCaps, ConnCounter, Refusal};

/// Per-connection limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Longest time from the first byte of a request (or the connection's start) to the end
    /// of its head.
    pub header_read_timeout: Duration,
    /// Longest time a response write may wait for the client to take bytes.
    pub write_timeout: Duration,
    /// Open connections per client address and in all.
    pub caps: ConnCaps,
}

/// The answer to a client whose request head did not arrive in time.
const HEAD_TIMEOUT_RESPONSE: &[u8] = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 33\r\n\r\nrequest head not complete in time";

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
    let counter = ConnCounter::new(limits.caps);
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
        let slot = match counter.admit(peer.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                refuse(stream, peer, refusal);
                continue;
            }
        };
        // A second handle on the socket, to answer 408 after hyper gave the first up.
        let (stream, spare) = match split_spare(stream) {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!(%peer, error = %err, "cannot set up a connection");
                continue;
            }
        };
        let progress = HeadProgress::default();
        let io = GuardedIo::new(stream, StallTimeout(limits.write_timeout), progress.clone());
        // Handlers see the peer's address (the sign-in brake counts per address).
        let service = tower::ServiceBuilder::new()
            .map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            })
            .service(app.clone());
        let service = TowerToHyperService::new(service);
        // Upgrades: the live channel (`/socket`) is a WebSocket; an upgraded connection leaves
        // this task (its socket has its own, see `live/socket.rs`).
        let conn = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
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
                if err.is_timeout() && progress.begun() {
                    answer_and_close(spare, HEAD_TIMEOUT_RESPONSE);
                }
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

/// `stream` for hyper, and a second handle on the same socket (closed when both are dropped).
fn split_spare(stream: TcpStream) -> std::io::Result<(TcpStream, std::net::TcpStream)> {
    let std = stream.into_std()?;
    let spare = std.try_clone()?;
    Ok((TcpStream::from_std(std)?, spare))
}

/// Writes a complete short answer without waiting (the socket's buffer is empty at this point;
/// if it is not, the client is not reading and gets nothing), then closes.
fn answer_and_close(socket: std::net::TcpStream, answer: &[u8]) {
    let mut socket = socket;
    let _ = socket.write(answer);
    let _ = socket.shutdown(std::net::Shutdown::Write);
}

/// Refuses a connection over a cap: the reason as an HTTP answer, then close.
fn refuse(stream: TcpStream, peer: SocketAddr, refusal: Refusal) {
    tracing::info!(%peer, ?refusal, "connection refused: over the connection cap");
    match stream.into_std() {
        Ok(socket) => answer_and_close(socket, refusal.response()),
        Err(err) => tracing::debug!(%peer, error = %err, "could not answer a refused connection"),
    }
}
