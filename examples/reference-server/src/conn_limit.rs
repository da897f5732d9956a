//! How many connections one client address, and the whole replica, may hold open.
//!
//! Why: one host opening idle sockets filled the replica's file-descriptor table (24,498 of
//! them; "accept failed" in the log, `/health` delayed 2.1 s; issue 20). The accept loop now
//! counts open connections per peer IP and in all; a connection over either cap is answered
//! at once with a short `429` (this address has too many) or `503` (the replica is full), both
//! with `Retry-After` and `Connection: close`, and closed, so a well-behaved client knows why
//! and a hostile one holds nothing.
//!
//! The per-address map only holds addresses with open connections, so it is bounded by the
//! global cap. Behind a reverse proxy every client shares the proxy's address: raise
//! `--max-connections-per-ip` (or set it to 0, no per-address cap) there.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The caps (0: no cap).
#[derive(Debug, Clone, Copy)]
pub struct ConnCaps {
    /// Open connections per peer IP.
    pub per_ip: usize,
    /// Open connections in all.
    pub total: usize,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The peer's address holds [`ConnCaps::per_ip`] connections already.
    PerIp,
    /// The replica holds [`ConnCaps::total`] connections already.
    Total,
}

impl Refusal {
    /// The complete HTTP answer sent before closing.
    pub fn response(self) -> &'static [u8] {
        match self {
            Self::PerIp => b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 44\r\n\r\ntoo many open connections from this address\n",
            Self::Total => b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 39\r\n\r\ntoo many open connections on this node\n",
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The open-connection counts of one listener.
#[derive(Debug, Clone)]
pub struct ConnCounter {
    caps: ConnCaps,
    counts: Arc<Mutex<Counts>>,
}

/// One counted connection; uncounted when dropped.
#[derive(Debug)]
pub struct ConnSlot {
    ip: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl ConnCounter {
    /// Counts against `caps`.
    pub fn new(caps: ConnCaps) -> Self {
        Self {
            caps,
            counts: Arc::default(),
        }
    }

    /// Counts a new connection from `ip`, or says why it must be refused.
    pub fn admit(&self, ip: IpAddr) -> Result<ConnSlot, Refusal> {
        let mut counts = media_ha::core::sync::lock(&self.counts);
        if self.caps.total > 0 && counts.total >= self.caps.total {
            return Err(Refusal::Total);
        }
        let mine = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if self.caps.per_ip > 0 && mine >= self.caps.per_ip {
            return Err(Refusal::PerIp);
        }
        counts.total += 1;
        counts.per_ip.insert(ip, mine + 1);
        Ok(ConnSlot {
            ip,
            counts: self.counts.clone(),
        })
    }

    /// Open connections in all.
    pub fn open(&self) -> usize {
        media_ha::core::sync::lock(&self.counts).total
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut counts = media_ha::core::sync::lock(&self.counts);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_all_and_frees_on_drop() {
        let counter = ConnCounter::new(ConnCaps {
            per_ip: 2,
            total: 3,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = counter.admit(a).unwrap();
        let _a2 = counter.admit(a).unwrap();
        assert_eq!(counter.admit(a).unwrap_err(), Refusal::PerIp);
        let _b1 = counter.admit(b).unwrap();
        assert_eq!(counter.admit(b).unwrap_err(), Refusal::Total);
        drop(a1);
        assert_eq!(counter.open(), 2);
        assert!(counter.admit(a).is_ok());
        for refusal in [Refusal::PerIp, Refusal::Total] {
            let text = std::str::from_utf8(refusal.response()).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(
                head.contains(&format!("Content-Length: {}", body.len())),
                "{text}"
            );
        }
    }
}
