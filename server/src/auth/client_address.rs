//! Who the client is, for rate limits: the peer, or what a trusted proxy says the peer was.

use std::net::{IpAddr, Ipv6Addr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The unit a rate limit counts: one IPv4 address, or one IPv6 /64 (what one subscriber is routed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressBucket(IpAddr);

/// The bucket's address (an IPv6 /64 with its host bits zero), as a key for stored counters.
impl std::fmt::Display for AddressBucket {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(formatter)
    }
}

impl AddressBucket {
    pub fn of(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => Self(IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX)))),
            },
        }
    }
}

/// The client's address: the peer itself unless the peer is a trusted proxy, and then the right-most address
/// of `X-Forwarded-For` that is not a trusted proxy (the left-most entries are whatever the client wrote).
///
/// Every address is compared in its canonical form: on a dual-stack listener (`[::]`) an IPv4 peer arrives as
/// `::ffff:a.b.c.d`, which no IPv4 range would contain.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    for entry in forwarded.iter().rev() {
        match forwarded_address(entry) {
            Some(address) if is_trusted(&address) => {}
            Some(address) => return address,
            // A hop we cannot read: trust stops here, and the last trusted hop is the client.
            None => break,
        }
    }
    forwarded.iter().rev().map_while(|entry| forwarded_address(entry)).last().unwrap_or(peer)
}

/// One `X-Forwarded-For` entry, as proxies write them: `192.0.2.1`, `192.0.2.1:5678`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:443`; canonical.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let address = if let Some(bracketed) = entry.strip_prefix('[') {
        let (address, rest) = bracketed.split_once(']')?;
        let port = rest.strip_prefix(':');
        if !(rest.is_empty() || port.is_some_and(|port| port.parse::<u16>().is_ok())) {
            return None;
        }
        address.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)?
    } else {
        entry
            .parse::<IpAddr>()
            .ok()
            .or_else(|| entry.parse::<std::net::SocketAddrV4>().ok().map(|at| IpAddr::V4(*at.ip())))?
    };
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_peer() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let cases: &[(&str, &[&'static str], &str)] = &[
            // An untrusted peer's header is ignored.
            ("203.0.113.9", &["198.51.100.1"], "203.0.113.9"),
            // A trusted proxy names the client.
            ("10.0.0.2", &["198.51.100.1"], "198.51.100.1"),
            // The client wrote a fake first entry; the proxy appended the real one.
            ("10.0.0.2", &["1.2.3.4, 198.51.100.1"], "198.51.100.1"),
            // Two trusted hops.
            ("10.0.0.2", &["198.51.100.1, 10.0.0.7"], "198.51.100.1"),
            ("10.0.0.2", &["198.51.100.1", "10.0.0.7"], "198.51.100.1"),
            // Nothing forwarded, or garbage: the peer.
            ("10.0.0.2", &[], "10.0.0.2"),
            ("10.0.0.2", &["not an address"], "10.0.0.2"),
            // Garbage behind a trusted hop: the last hop we could read.
            ("10.0.0.2", &["1.2.3.4, junk, 10.0.0.7"], "10.0.0.7"),
            // A dual-stack listener's IPv4 peer, and proxies that write ports, brackets or mapped addresses.
            ("::ffff:10.0.0.2", &["198.51.100.1"], "198.51.100.1"),
            ("::ffff:203.0.113.9", &["198.51.100.1"], "203.0.113.9"),
            ("10.0.0.2", &["198.51.100.1:5678"], "198.51.100.1"),
            ("10.0.0.2", &["[2001:db8::1]:443"], "2001:db8::1"),
            ("10.0.0.2", &["[2001:db8::1]"], "2001:db8::1"),
            ("10.0.0.2", &["2001:db8::1"], "2001:db8::1"),
            ("10.0.0.2", &["198.51.100.1, ::ffff:10.0.0.7"], "198.51.100.1"),
            ("10.0.0.2", &["[2001:db8::1]:port"], "10.0.0.2"),
            ("10.0.0.2", &["[2001:db8::1"], "10.0.0.2"),
            ("10.0.0.2", &["198.51.100.1:99999"], "10.0.0.2"),
        ];
        for (peer, header, expected) in cases {
            assert_eq!(client_address(ip(peer), &forwarded(header), &proxies), ip(expected), "{peer} {header:?}");
        }
        assert_eq!(client_address(ip("10.0.0.2"), &forwarded(&["198.51.100.1"]), &[]), ip("10.0.0.2"));
    }

    #[test]
    fn ipv6_clients_are_bucketed_by_their_64() {
        let a = AddressBucket::of(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, AddressBucket::of(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")));
        assert_ne!(a, AddressBucket::of(ip("2001:db8:1:3::1")));
        assert_eq!(AddressBucket::of(ip("::ffff:192.0.2.1")), AddressBucket::of(ip("192.0.2.1")));
        assert_ne!(AddressBucket::of(ip("192.0.2.1")), AddressBucket::of(ip("192.0.2.2")));
    }
}
