//! Which address a request comes from, when a reverse proxy stands in front.
//!
//! Why: the sign-in brake counts failures per client address (`signin_brake.rs`). Behind
//! HAProxy, an ingress or any reverse proxy, every request arrives from the proxy's address,
//! so before this a stranger's 30 wrong passwords in 5 minutes (made-up user names will do)
//! braked sign-in for every user of the cluster, and 5 wrong passwords for one user's name
//! locked that user out, renewable for as long as the stranger kept it up (second attack
//! pass, issue 20).
//!
//! How: `--trusted-proxies` lists the proxies' addresses or networks. A request whose peer is
//! one of them is attributed to the right-most `X-Forwarded-For` entry that is not itself a
//! trusted proxy: each proxy appends the address it saw, so entries to the left of that one were
//! written by the client and are never believed. A request from any other peer is the peer's
//! own, whatever headers it sends: with no trusted proxy (the default) `X-Forwarded-For` is
//! ignored entirely, so a client cannot pick the address it is braked as.

use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Whether `ip` is one of the proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The client's address: `peer` itself unless it is a trusted proxy, else the right-most
    /// `X-Forwarded-For` address that is not a trusted proxy (the last trusted hop when every
    /// entry is one, or when the first untrusted entry is not an address).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if self.contains(ip) => client = ip,
                Some(ip) => return ip.to_canonical(),
                None => return client,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(sock) = hop.parse::<std::net::SocketAddr>() {
        return Some(sock.ip());
    }
    None
}

impl FromStr for TrustedProxies {
    type Err = String;

    /// A comma-separated list of addresses and networks (`10.0.0.0/8, 127.0.0.1, fd00::/8`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{p:?} is not an address or a network (10.0.0.0/8)"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let none = TrustedProxies::default();
        let xff = headers(&["203.0.113.9"]);
        assert_eq!(none.client_ip(ip("10.0.0.5"), &xff), ip("10.0.0.5"));

        let trusted: TrustedProxies = "10.0.0.0/24, 127.0.0.1".parse().unwrap();
        assert_eq!(trusted.client_ip(ip("10.0.0.5"), &xff), ip("203.0.113.9"));
        // Not from a proxy: the header is the client's own claim.
        assert_eq!(
            trusted.client_ip(ip("198.51.100.1"), &xff),
            ip("198.51.100.1")
        );
        // IPv4-mapped peers count as the IPv4 address.
        assert_eq!(
            trusted.client_ip(ip("::ffff:127.0.0.1"), &xff),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted: TrustedProxies = "10.0.0.0/24".parse().unwrap();
        // The client claimed 1.1.1.1; the proxy appended what it saw.
        let xff = headers(&["1.1.1.1, 203.0.113.9"]);
        assert_eq!(trusted.client_ip(ip("10.0.0.5"), &xff), ip("203.0.113.9"));
        // Two proxies, two header lines, a port.
        let xff = headers(&["1.1.1.1", "203.0.113.9:4711, 10.0.0.7"]);
        assert_eq!(trusted.client_ip(ip("10.0.0.5"), &xff), ip("203.0.113.9"));
        // Garbage from the client stays on the client's side of the proxy's entry.
        let xff = headers(&["junk, [2001:db8::1]:80"]);
        assert_eq!(trusted.client_ip(ip("10.0.0.5"), &xff), ip("2001:db8::1"));
        // Nothing untrusted: the last trusted hop.
        let xff = headers(&["10.0.0.9"]);
        assert_eq!(trusted.client_ip(ip("10.0.0.5"), &xff), ip("10.0.0.9"));
        assert_eq!(
            trusted.client_ip(ip("10.0.0.5"), &headers(&[])),
            ip("10.0.0.5")
        );
        let xff = headers(&["junk"]);
        assert_eq!(trusted.client_ip(ip("10.0.0.5"), &xff), ip("10.0.0.5"));
    }

    #[test]
    fn lists_parse() {
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        assert!("10.0.0.0/8,fd00::/8, 192.0.2.1"
            .parse::<TrustedProxies>()
            .is_ok());
        assert!("10.0.0.0/33".parse::<TrustedProxies>().is_err());
        assert!("proxy.local".parse::<TrustedProxies>().is_err());
    }
}
