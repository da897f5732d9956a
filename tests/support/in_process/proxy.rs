//! A loopback TCP forwarder a test can cut and restore: the "network to the store" fault.
//!
//! Why a proxy and not a network namespace: it needs no privileges and stays on 127.0.0.1, and a
//! cut is exact — [`CutProxy::cut`] severs every live connection (both sockets dropped, so each
//! side sees its peer go away) and closes every new one at once, the way a failed link or a
//! firewall reset looks to a client; [`CutProxy::restore`] lets new connections through again.
//! The store itself keeps running and keeps its data, which is what separates this fault from a
//! store restart.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle, JoinSet};

/// A forwarder from a free 127.0.0.1 port to `upstream`; stops when dropped.
#[derive(Debug)]
pub struct CutProxy {
    addr: SocketAddr,
    shared: Arc<ProxyState>,
    accept: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct ProxyState {
    cut: AtomicBool,
    live: Mutex<JoinSet<()>>,
    severed: AtomicU64,
    refused: AtomicU64,
}

impl CutProxy {
    /// Listens on 127.0.0.1 (any free port) and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(ProxyState::default());
        let state = shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                if state.cut.load(Ordering::SeqCst) {
                    state.refused.fetch_add(1, Ordering::SeqCst);
                    drop(client);
                    continue;
                }
                let mut live = state.live.lock().unwrap();
                // Reap finished forwards so the set does not grow without bound.
                while live.try_join_next().is_some() {}
                let _: AbortHandle = live.spawn(forward(client, upstream));
            }
        });
        Self {
            addr,
            shared,
            accept,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Severs every live connection and refuses new ones until [`restore`](Self::restore).
    /// Returns how many connections were severed.
    pub fn cut(&self) -> usize {
        self.shared.cut.store(true, Ordering::SeqCst);
        let mut live = self.shared.live.lock().unwrap();
        while live.try_join_next().is_some() {}
        let n = live.len();
        live.abort_all();
        self.shared.severed.fetch_add(n as u64, Ordering::SeqCst);
        n
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Connections refused while cut, so far.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.shared.live.lock().unwrap().abort_all();
    }
}

/// Copies both ways until either side closes (or the task is aborted by a cut).
async fn forward(mut client: TcpStream, upstream: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
