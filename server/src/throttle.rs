//! Sign-in and refresh throttling, in memory.
//!
//! A sign-in attempt is *reserved* before its password is checked, so twenty guesses sent at once count as
//! twenty in a row. Three limits apply:
//! - per (account, client address): a growing backoff after [`FREE_FAILURES`] failures, so one guesser slows
//!   down on one account without locking the real user (who signs in from another address) out;
//! - per account, from every address together: [`ACCOUNT_FAILURES_PER_HOUR`], high enough that one address
//!   under its backoff cannot reach it, low enough to stop a guesser spread over many addresses;
//! - per client address, across accounts: [`ADDRESS_ATTEMPTS_PER_MINUTE`].
//!
//! Failed refreshes (a token the server does not know) are limited per address as well.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use crate::client_address::AddressBucket;

pub const FREE_FAILURES: u32 = 5;
pub const MAX_BACKOFF_SECONDS: i64 = 15 * 60;
pub const ACCOUNT_FAILURES_PER_HOUR: u32 = 100;
pub const ADDRESS_ATTEMPTS_PER_MINUTE: u32 = 30;
pub const FAILED_REFRESHES_PER_MINUTE: u32 = 30;
/// Above this many tracked keys, stale entries are swept on the next write.
const SWEEP_THRESHOLD: usize = 10_000;

/// A fixed window counter: `count` events since `started_at`.
#[derive(Clone, Copy)]
struct Window {
    started_at: i64,
    count: u32,
}

/// Counters per key in fixed windows of `length` seconds.
struct Windows<K> {
    length: i64,
    limit: u32,
    entries: HashMap<K, Window>,
}

impl<K: Hash + Eq> Windows<K> {
    fn new(length: i64, limit: u32) -> Self {
        Self { length, limit, entries: HashMap::new() }
    }

    /// Seconds until the key may act again, if its window is full.
    fn wait(&self, key: &K, now: i64) -> Option<i64> {
        let window = self.entries.get(key).filter(|window| now - window.started_at < self.length)?;
        (window.count >= self.limit).then(|| window.started_at + self.length - now)
    }

    fn count(&mut self, key: K, now: i64) {
        if self.entries.len() > SWEEP_THRESHOLD {
            let length = self.length;
            self.entries.retain(|_, window| now - window.started_at < length);
        }
        let window = self.entries.entry(key).or_insert(Window { started_at: now, count: 0 });
        if now - window.started_at >= self.length {
            *window = Window { started_at: now, count: 0 };
        }
        window.count += 1;
    }

    fn uncount(&mut self, key: &K) {
        if let Some(window) = self.entries.get_mut(key) {
            window.count = window.count.saturating_sub(1);
        }
    }
}

#[derive(Clone, Copy)]
struct Backoff {
    failures: u32,
    locked_until: i64,
}

struct State {
    pairs: HashMap<(String, AddressBucket), Backoff>,
    accounts: Windows<String>,
    addresses: Windows<AddressBucket>,
    failed_refreshes: Windows<AddressBucket>,
}

pub struct Throttle {
    state: Mutex<State>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                pairs: HashMap::new(),
                accounts: Windows::new(60 * 60, ACCOUNT_FAILURES_PER_HOUR),
                addresses: Windows::new(60, ADDRESS_ATTEMPTS_PER_MINUTE),
                failed_refreshes: Windows::new(60, FAILED_REFRESHES_PER_MINUTE),
            }),
        }
    }
}

/// The right to check one password, counted as a failure until [`Throttle::succeeded`] says otherwise.
#[must_use]
pub struct Reservation {
    account: String,
    address: AddressBucket,
}

impl Throttle {
    /// Reserves a sign-in attempt, or answers how many seconds to wait.
    pub fn reserve(&self, username: &str, address: AddressBucket, now: i64) -> Result<Reservation, u64> {
        let account = account_key(username);
        let mut state = self.lock();
        let pair_key = (account.clone(), address);
        let pair_wait = state.pairs.get(&pair_key).map(|backoff| backoff.locked_until - now).filter(|wait| *wait > 0);
        let wait = [pair_wait, state.accounts.wait(&account, now), state.addresses.wait(&address, now)]
            .into_iter()
            .flatten()
            .max();
        if let Some(wait) = wait {
            return Err(u64::try_from(wait).unwrap_or(1));
        }
        state.addresses.count(address, now);
        state.accounts.count(account.clone(), now);
        if state.pairs.len() > SWEEP_THRESHOLD {
            state.pairs.retain(|_, backoff| backoff.locked_until + MAX_BACKOFF_SECONDS > now);
        }
        let backoff = state.pairs.entry(pair_key).or_insert(Backoff { failures: 0, locked_until: 0 });
        backoff.failures += 1;
        if backoff.failures >= FREE_FAILURES {
            let doublings = (backoff.failures - FREE_FAILURES).min(10);
            backoff.locked_until = now + (1i64 << doublings).min(MAX_BACKOFF_SECONDS);
        }
        Ok(Reservation { account, address })
    }

    /// The reserved attempt signed in: it was not a failure, and this client's backoff on the account ends.
    pub fn succeeded(&self, reservation: Reservation) {
        let mut state = self.lock();
        state.accounts.uncount(&reservation.account);
        state.pairs.remove(&(reservation.account, reservation.address));
    }

    /// The reserved attempt was never tried (the server was busy): it counts for nothing.
    pub fn cancel(&self, reservation: Reservation) {
        let mut state = self.lock();
        state.accounts.uncount(&reservation.account);
        state.addresses.uncount(&reservation.address);
        if let Some(backoff) = state.pairs.get_mut(&(reservation.account, reservation.address)) {
            backoff.failures = backoff.failures.saturating_sub(1);
        }
    }

    /// Seconds this address must wait before presenting another refresh token, if it failed too often.
    pub fn refresh_wait(&self, address: AddressBucket, now: i64) -> Option<u64> {
        self.lock().failed_refreshes.wait(&address, now).map(|wait| u64::try_from(wait).unwrap_or(1))
    }

    pub fn refresh_failed(&self, address: AddressBucket, now: i64) {
        self.lock().failed_refreshes.count(address, now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn account_key(username: &str) -> String {
    username.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;

    fn address(last: u8) -> AddressBucket {
        AddressBucket::of(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    #[test]
    fn a_burst_is_counted_as_a_sequence() {
        let throttle = Throttle::default();
        let reservations: Vec<_> = (0..20).map(|_| throttle.reserve("demo", address(1), 100)).collect();
        assert_eq!(reservations.iter().filter(|reservation| reservation.is_ok()).count(), FREE_FAILURES as usize);
        assert_eq!(reservations.last().unwrap().as_ref().err(), Some(&1));
    }

    #[test]
    fn backoff_grows_per_account_and_address_and_ends_with_a_success() {
        let throttle = Throttle::default();
        for _ in 0..FREE_FAILURES {
            let _ = throttle.reserve("demo", address(1), 100).unwrap();
        }
        assert_eq!(throttle.reserve("Demo", address(1), 100).err(), Some(1));
        let _ = throttle.reserve("demo", address(1), 101).unwrap();
        assert_eq!(throttle.reserve("demo", address(1), 101).err(), Some(2));
        // Someone else, from another address, is not held back by this guesser.
        let real_user = throttle.reserve("demo", address(2), 101).unwrap();
        throttle.succeeded(real_user);
        let success = throttle.reserve("demo", address(1), 103).unwrap();
        throttle.succeeded(success);
        assert!(throttle.reserve("demo", address(1), 103).is_ok(), "a success ends the backoff");
    }

    #[test]
    fn one_guesser_cannot_reach_the_account_ceiling_but_many_addresses_do() {
        let throttle = Throttle::default();
        // One address, guessing as fast as it is let through for an hour.
        let mut now = 0;
        while now < 3600 {
            match throttle.reserve("demo", address(1), now) {
                Ok(_) => {}
                Err(wait) => now += i64::try_from(wait).unwrap(),
            }
        }
        let real_user = throttle.reserve("demo", address(2), now - 1);
        assert!(real_user.is_ok(), "one guesser locked the account");

        let throttle = Throttle::default();
        let refused = (0..=u8::MAX)
            .flat_map(|last| (0..FREE_FAILURES).map(move |_| last))
            .map(|last| throttle.reserve("demo", address(last), 0))
            .filter(Result::is_err)
            .count();
        assert!(refused > 1000, "a spread-out guesser is stopped at the ceiling");
    }

    #[test]
    fn one_address_gets_a_bounded_number_of_attempts_a_minute() {
        let throttle = Throttle::default();
        for attempt in 0..ADDRESS_ATTEMPTS_PER_MINUTE {
            assert!(throttle.reserve(&format!("user{attempt}"), address(1), 0).is_ok());
        }
        assert_eq!(throttle.reserve("another", address(1), 10).err(), Some(50));
        assert!(throttle.reserve("another", address(1), 60).is_ok());
    }

    #[test]
    fn failed_refreshes_are_limited_per_address() {
        let throttle = Throttle::default();
        for _ in 0..FAILED_REFRESHES_PER_MINUTE {
            assert_eq!(throttle.refresh_wait(address(1), 0), None);
            throttle.refresh_failed(address(1), 0);
        }
        assert_eq!(throttle.refresh_wait(address(1), 20), Some(40));
        assert_eq!(throttle.refresh_wait(address(2), 20), None);
        assert_eq!(throttle.refresh_wait(address(1), 60), None);
    }
}
