//! Raw HTTP over TCP: requests no well-behaved client library would send (unnormalised
//! `../` paths, NUL and backslashes, headers dribbled byte by byte, bodies never finished).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back.
#[derive(Debug)]
pub struct Reply {
    /// The status code, if a status line came back at all.
    pub status: Option<u16>,
    /// The whole response (head and body), lossily decoded.
    pub text: String,
}

/// Sends `head` (a request head without the final blank line; `Connection: close` is added)
/// and reads the response to the end (at most `limit`).
pub async fn request(addr: SocketAddr, head: &str, limit: Duration) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let bytes = format!("{head}\r\nConnection: close\r\n\r\n");
    stream.write_all(bytes.as_bytes()).await.expect("send");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    Reply { status, text }
}

/// Reads from `stream` until the server closes it (EOF or reset); how long that took from
/// `since`, or `None` if it is still open after `limit`. Whatever the server sent is returned.
pub async fn wait_closed(
    stream: &mut TcpStream,
    since: Instant,
    limit: Duration,
) -> (Option<Duration>, String) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = since + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (Some(since.elapsed()), String::from_utf8_lossy(&seen).into())
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => return (None, String::from_utf8_lossy(&seen).into()),
        }
    }
}

/// Sends `bytes` one at a time, one every `every` (looping over them forever), until the
/// server closes the connection: how long after `since` that happened, or `None` if it was
/// still open after `limit`. What the server sent before closing is returned too.
pub async fn dribble(
    stream: &mut TcpStream,
    bytes: &[u8],
    every: Duration,
    since: Instant,
    limit: Duration,
) -> (Option<Duration>, String) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    for byte in bytes.iter().cycle() {
        if since.elapsed() > limit {
            break;
        }
        if stream.write_all(&[*byte]).await.is_err() {
            return (Some(since.elapsed()), String::from_utf8_lossy(&seen).into());
        }
        match tokio::time::timeout(every, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (Some(since.elapsed()), String::from_utf8_lossy(&seen).into())
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    (None, String::from_utf8_lossy(&seen).into())
}

/// Sends `head` with `Transfer-Encoding: chunked` and `count` chunks of `chunk` bytes (no
/// declared length, so only a limit enforced while reading can stop it), then reads the reply.
/// Write errors are ignored: the server may answer and close before the body is finished.
pub async fn chunked_request(addr: SocketAddr, head: &str, chunk: usize, count: usize) -> Reply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let head = format!("{head}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let data = vec![b' '; chunk];
    for _ in 0..count {
        if stream
            .write_all(format!("{chunk:x}\r\n").as_bytes())
            .await
            .is_err()
            || stream.write_all(&data).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    Reply { status, text }
}
