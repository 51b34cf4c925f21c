//! Open connections counted per client address, so one client cannot take the whole connection cap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use ipnet::IpNet;

use crate::auth::client_address::AddressBucket;

/// Open connections by client address.
type OpenCounts = Arc<Mutex<HashMap<AddressBucket, usize>>>;

/// How many connections each address has open.
#[derive(Clone)]
pub struct PerAddress {
    open: OpenCounts,
    limit: usize,
    unlimited: Arc<[IpNet]>,
}

/// One open connection, counted until dropped.
pub struct Counted {
    open: Option<(OpenCounts, AddressBucket)>,
}

impl PerAddress {
    pub fn new(limit: usize, unlimited: &[IpNet]) -> Self {
        Self { open: Arc::default(), limit, unlimited: unlimited.into() }
    }

    /// Counts a connection from `peer`, or `None` when its address has `limit` open already.
    pub fn admit(&self, peer: IpAddr) -> Option<Counted> {
        let peer = peer.to_canonical();
        if self.unlimited.iter().any(|net| net.contains(&peer)) {
            return Some(Counted { open: None });
        }
        let bucket = AddressBucket::of(peer);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(bucket).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Counted { open: Some((Arc::clone(&self.open), bucket)) })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let Some((open, bucket)) = self.open.take() else { return };
        let mut open = open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&bucket) {
            *count -= 1;
            if *count == 0 {
                open.remove(&bucket);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn each_address_gets_its_own_count_and_a_closed_connection_frees_its_place() {
        let per_address = PerAddress::new(2, &["10.0.0.0/8".parse().unwrap()]);
        let first = per_address.admit(ip("192.0.2.1")).unwrap();
        let _second = per_address.admit(ip("::ffff:192.0.2.1")).unwrap();
        assert!(per_address.admit(ip("192.0.2.1")).is_none(), "a third from one address");
        assert!(per_address.admit(ip("192.0.2.2")).is_some(), "another address");
        let _v6 = [per_address.admit(ip("2001:db8::1")).unwrap(), per_address.admit(ip("2001:db8::2")).unwrap()];
        assert!(per_address.admit(ip("2001:db8::ffff")).is_none(), "one /64 is one client");
        let proxy: Vec<_> = (0..5).map(|_| per_address.admit(ip("10.0.0.5"))).collect();
        assert!(proxy.iter().all(Option::is_some), "a trusted proxy carries many clients");
        drop(first);
        assert!(per_address.admit(ip("192.0.2.1")).is_some());
    }
}
