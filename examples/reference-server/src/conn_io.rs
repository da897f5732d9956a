//! The socket as hyper sees it, with a write-stall timeout and a note of whether a request
//! head has begun.
//!
//! Why a write timeout here: hyper only bounds the time to read a request head. A response
//! body the client never reads (a stalled download, or pipelined requests whose answers are
//! never read) kept its connection, task and socket buffers forever: 200 unread streams were
//! all still held 48 s later, 1,000 brought the kernel's TCP memory near its limit (issue 20).
//! Here a write that makes no progress for [`StallTimeout`] fails with `TimedOut`, which ends
//! the connection; a slow reader that keeps taking bytes is never cut (every byte written
//! restarts the clock).
//!
//! Why track a begun head: when hyper's header-read timeout fires it closes the connection
//! without a word. [`HeadProgress`] lets the accept loop tell a client that sent part of a head
//! (it gets `408 Request Timeout`, as RFC 9110 §15.5.9 describes) from an idle keep-alive
//! connection (closed silently, as every server does).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// How long a write may wait for the client to take bytes.
#[derive(Debug, Clone, Copy)]
pub struct StallTimeout(pub Duration);

/// Whether bytes arrived since the server last wrote (shared with the accept loop).
#[derive(Debug, Clone, Default)]
pub struct HeadProgress(Arc<AtomicBool>);

impl HeadProgress {
    /// Whether the client sent something the server has not answered yet.
    pub fn begun(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// `io` with a write-stall timeout and head tracking.
#[derive(Debug)]
pub struct GuardedIo<T> {
    io: T,
    stall: StallTimeout,
    timer: Option<Pin<Box<Sleep>>>,
    progress: HeadProgress,
}

impl<T> GuardedIo<T> {
    /// Wraps `io`; `progress` is set on every read of data and cleared on every write.
    pub fn new(io: T, stall: StallTimeout, progress: HeadProgress) -> Self {
        Self {
            io,
            stall,
            timer: None,
            progress,
        }
    }

    /// Called when a write could not proceed: fails once the stall has lasted too long.
    fn stalled(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let limit = self.stall.0;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the client took no bytes for {} s", limit.as_secs_f64()),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.progress.0.store(true, Ordering::Relaxed);
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write(cx, buf) {
            Poll::Pending => self.stalled(cx),
            ready => {
                self.timer = None;
                self.progress.0.store(false, Ordering::Relaxed);
                ready
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.stalled(cx),
            ready => {
                self.timer = None;
                self.progress.0.store(false, Ordering::Relaxed);
                ready
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const STALL: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn a_write_nobody_reads_fails_after_the_stall_timeout() {
        let (server, mut client) = tokio::io::duplex(1024);
        let progress = HeadProgress::default();
        let mut io = GuardedIo::new(server, StallTimeout(STALL), progress.clone());
        client.write_all(b"GET").await.unwrap();
        let mut buf = [0u8; 3];
        io.read_exact(&mut buf).await.unwrap();
        assert!(progress.begun());
        // Fill the pipe, then keep writing: nobody reads.
        let err = io.write_all(&[0u8; 64 * 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(!progress.begun(), "the server wrote since the last read");
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_reading_is_not_cut() {
        let (server, mut client) = tokio::io::duplex(1024);
        let mut io = GuardedIo::new(server, StallTimeout(STALL), HeadProgress::default());
        let reader = tokio::spawn(async move {
            let mut total = 0;
            let mut buf = [0u8; 512];
            while total < 8 * 1024 {
                // Slower than the stall timeout in all, never stalled that long at once.
                tokio::time::sleep(STALL / 3).await;
                total += client.read(&mut buf).await.unwrap();
            }
            total
        });
        io.write_all(&[1u8; 8 * 1024]).await.unwrap();
        assert!(reader.await.unwrap() >= 8 * 1024);
    }
}
