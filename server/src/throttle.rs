//! Login throttling per account (growing backoff after repeated failures) and per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

const FREE_FAILURES: u32 = 5;
const MAX_BACKOFF_SECONDS: i64 = 15 * 60;
const ADDRESS_WINDOW_SECONDS: i64 = 60;
const ADDRESS_ATTEMPTS_PER_WINDOW: u32 = 30;
/// Above this many tracked keys, stale entries are swept on the next write.
const SWEEP_THRESHOLD: usize = 10_000;

#[derive(Default)]
pub struct LoginThrottle {
    accounts: Mutex<HashMap<String, AccountFailures>>,
    addresses: Mutex<HashMap<IpAddr, AddressWindow>>,
}

#[derive(Clone, Copy)]
struct AccountFailures {
    count: u32,
    locked_until: i64,
}

#[derive(Clone, Copy)]
struct AddressWindow {
    started_at: i64,
    attempts: u32,
}

impl LoginThrottle {
    /// Counts the attempt against the address and answers how long to wait, if the attempt must be refused.
    pub fn check(&self, username: &str, address: IpAddr, now: i64) -> Option<u64> {
        let account_wait = self
            .accounts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&account_key(username))
            .map_or(0, |failures| failures.locked_until - now);

        let mut addresses = self.addresses.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if addresses.len() > SWEEP_THRESHOLD {
            addresses.retain(|_, window| now - window.started_at < ADDRESS_WINDOW_SECONDS);
        }
        let window = addresses.entry(address).or_insert(AddressWindow { started_at: now, attempts: 0 });
        if now - window.started_at >= ADDRESS_WINDOW_SECONDS {
            *window = AddressWindow { started_at: now, attempts: 0 };
        }
        window.attempts += 1;
        let address_wait = if window.attempts > ADDRESS_ATTEMPTS_PER_WINDOW {
            window.started_at + ADDRESS_WINDOW_SECONDS - now
        } else {
            0
        };

        let wait = account_wait.max(address_wait);
        (wait > 0).then_some(wait as u64)
    }

    pub fn record_failure(&self, username: &str, now: i64) {
        let mut accounts = self.accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if accounts.len() > SWEEP_THRESHOLD {
            accounts.retain(|_, failures| failures.locked_until + MAX_BACKOFF_SECONDS > now);
        }
        let failures = accounts.entry(account_key(username)).or_insert(AccountFailures { count: 0, locked_until: 0 });
        failures.count += 1;
        if failures.count >= FREE_FAILURES {
            let doublings = (failures.count - FREE_FAILURES).min(10);
            failures.locked_until = now + (1i64 << doublings).min(MAX_BACKOFF_SECONDS);
        }
    }

    pub fn record_success(&self, username: &str) {
        self.accounts.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&account_key(username));
    }
}

fn account_key(username: &str) -> String {
    username.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn backoff_starts_after_five_failures_and_grows() {
        let throttle = LoginThrottle::default();
        for _ in 0..4 {
            throttle.record_failure("demo", 100);
            assert_eq!(throttle.check("demo", HOME, 100), None);
        }
        throttle.record_failure("demo", 100);
        assert_eq!(throttle.check("demo", HOME, 100), Some(1));
        throttle.record_failure("demo", 101);
        assert_eq!(throttle.check("Demo", HOME, 101), Some(2));
        throttle.record_success("demo");
        assert_eq!(throttle.check("demo", HOME, 101), None);
    }

    #[test]
    fn one_address_gets_a_bounded_number_of_attempts_a_minute() {
        let throttle = LoginThrottle::default();
        for attempt in 0..ADDRESS_ATTEMPTS_PER_WINDOW {
            assert_eq!(throttle.check(&format!("user{attempt}"), HOME, 0), None);
        }
        assert_eq!(throttle.check("another", HOME, 10), Some(50));
        assert_eq!(throttle.check("another", HOME, 60), None);
    }
}
