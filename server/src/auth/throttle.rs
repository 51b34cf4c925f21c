//! Sign-in and refresh throttling.
//!
//! A sign-in attempt is *reserved* before its password is checked, so twenty guesses sent at once count as
//! twenty in a row. From an unknown device three limits apply:
//! - per (account, client address): a growing backoff after [`FREE_FAILURES`] failures, so one guesser slows
//!   down on one account without locking the real user (who signs in from another address) out;
//! - per account, from every address together: [`ACCOUNT_FAILURES_PER_HOUR`], high enough that one address
//!   under its backoff cannot reach it, low enough to stop a guesser spread over many addresses;
//! - per client address, across accounts: [`ADDRESS_ATTEMPTS_PER_MINUTE`].
//!
//! A known device (one holding a device cookie for the account, `crate::auth::devices`) has a budget of its own
//! instead of the first two: the same growing backoff, per device. Guesses from elsewhere never reach it, and
//! guesses made with a stolen device cookie lock only that device. The per-address limit applies to both.
//!
//! Failed refreshes (a token the server does not know) are limited per address as well.
//!
//! The rules are pure functions of [`Counter`]s; the counters live in this process's memory, or, on PostgreSQL,
//! in the database, where every instance reads and writes them under a row lock, so the limits hold however
//! many instances serve.

mod counters;
mod memory;

use std::sync::Mutex;

use counters::REFRESH_WINDOW;
#[cfg(test)]
pub use counters::{
    ACCOUNT_FAILURES_PER_HOUR, ADDRESS_ATTEMPTS_PER_MINUTE, FAILED_REFRESHES_PER_MINUTE, FREE_FAILURES,
};

use crate::auth::client_address::AddressBucket;
use crate::auth::devices::KnownDevice;
use crate::store::{Counter, Store};
use memory::MemoryCounters;

/// The most counters kept in memory (each under 300 bytes with its place in the order: a key holds a valid
/// username, at most 64 characters). Past it, the counters closest to their end make room (`memory`).
pub const MEMORY_CAPACITY: usize = 100_000;

pub struct Throttle {
    counters: Counters,
}

enum Counters {
    Memory(Mutex<MemoryCounters>),
    Shared(Store),
}

/// The right to check one password, counted as a failure until [`Throttle::succeeded`] says otherwise.
#[must_use]
pub enum Reservation {
    /// From an unknown device: the (account, address) pair, the account, the address.
    Unknown([String; 3]),
    /// From a device known to the account: the device, the address.
    Known([String; 2]),
}

impl Throttle {
    /// Counters in this process's memory: for one instance.
    pub fn in_memory() -> Self {
        Self::in_memory_up_to(MEMORY_CAPACITY)
    }

    fn in_memory_up_to(capacity: usize) -> Self {
        Self { counters: Counters::Memory(Mutex::new(MemoryCounters::new(capacity))) }
    }

    /// Counters in the database every instance shares (PostgreSQL).
    pub fn shared(store: Store) -> Self {
        Self { counters: Counters::Shared(store) }
    }

    /// Reserves a sign-in attempt, or answers how many seconds to wait.
    pub async fn reserve(
        &self,
        username: &str,
        address: AddressBucket,
        device: Option<&KnownDevice>,
        now: i64,
    ) -> Result<Result<Reservation, u64>, sqlx::Error> {
        if let Some(device) = device {
            let keys = [format!("device {}", device.nonce()), address_key(address)];
            let decided = self.update(&keys, now, |[device, address]: &mut [Counter; 2]| {
                counters::reserve_known(device, address, now)
            });
            return Ok(decided.await?.map(|()| Reservation::Known(keys)));
        }
        let keys = sign_in_keys(username, address);
        let decided = self
            .update(&keys, now, |[pair, account, address]: &mut [Counter; 3]| {
                counters::reserve(pair, account, address, now)
            })
            .await?;
        Ok(decided.map(|()| Reservation::Unknown(keys)))
    }

    /// The reserved attempt signed in: it was not a failure, and this client's backoff on the account ends.
    pub async fn succeeded(&self, reservation: Reservation, now: i64) -> Result<(), sqlx::Error> {
        match reservation {
            Reservation::Unknown(keys) => {
                self.update(&keys, now, |[pair, account, _]: &mut [Counter; 3]| counters::succeed(pair, account)).await
            }
            Reservation::Known(keys) => {
                self.update(&keys, now, |[device, _]: &mut [Counter; 2]| counters::succeed_known(device)).await
            }
        }
    }

    /// The reserved attempt was never tried (the server was busy): it counts for nothing.
    pub async fn cancel(&self, reservation: Reservation, now: i64) -> Result<(), sqlx::Error> {
        match reservation {
            Reservation::Unknown(keys) => {
                self.update(&keys, now, |[pair, account, address]: &mut [Counter; 3]| {
                    counters::cancel(pair, account, address);
                })
                .await
            }
            Reservation::Known(keys) => {
                self.update(&keys, now, |[device, address]: &mut [Counter; 2]| counters::cancel_known(device, address))
                    .await
            }
        }
    }

    /// Seconds this address must wait before presenting another refresh token, if it failed too often. Only
    /// read: every refresh asks, and a question costs no write (on PostgreSQL, no row lock).
    pub async fn refresh_wait(&self, address: AddressBucket, now: i64) -> Result<Option<u64>, sqlx::Error> {
        Ok(self.read(&refresh_key(address)).await?.window_wait(now, REFRESH_WINDOW))
    }

    pub async fn refresh_failed(&self, address: AddressBucket, now: i64) -> Result<(), sqlx::Error> {
        let keys = [refresh_key(address)];
        self.update(&keys, now, |[failures]: &mut [Counter; 1]| failures.window_count(now, REFRESH_WINDOW)).await
    }

    /// The counter of `key` as it stands.
    async fn read(&self, key: &str) -> Result<Counter, sqlx::Error> {
        match &self.counters {
            Counters::Memory(memory) => Ok(memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(key)),
            Counters::Shared(store) => store.counter(key).await,
        }
    }

    /// Reads the counters of `keys`, lets `change` decide and change them, and writes them back, as one step.
    async fn update<const N: usize, R>(
        &self,
        keys: &[String; N],
        now: i64,
        change: impl FnOnce(&mut [Counter; N]) -> R,
    ) -> Result<R, sqlx::Error> {
        match &self.counters {
            Counters::Memory(memory) => {
                let mut memory = memory.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let mut current = keys.clone().map(|key| memory.get(&key));
                let decided = change(&mut current);
                for (key, counter) in keys.iter().zip(current) {
                    memory.put(key, counter, now);
                }
                Ok(decided)
            }
            Counters::Shared(store) => store.update_counters(keys, change).await,
        }
    }
}

/// Keyed by the username exactly as the account is (usernames are unique as written, and the caller has
/// checked the name against the account rule, so a key is short).
fn sign_in_keys(username: &str, address: AddressBucket) -> [String; 3] {
    [format!("pair {address} {username}"), format!("account {username}"), address_key(address)]
}

fn address_key(address: AddressBucket) -> String {
    format!("address {address}")
}

fn refresh_key(address: AddressBucket) -> String {
    format!("refresh {address}")
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::auth::devices::DeviceCookies;

    fn address(last: u8) -> AddressBucket {
        AddressBucket::of(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    async fn reserve(throttle: &Throttle, username: &str, from: u8, now: i64) -> Result<Reservation, u64> {
        throttle.reserve(username, address(from), None, now).await.unwrap()
    }

    #[tokio::test]
    async fn a_burst_is_counted_as_a_sequence() {
        let throttle = Throttle::in_memory();
        let mut outcomes = Vec::new();
        for _ in 0..20 {
            outcomes.push(reserve(&throttle, "demo", 1, 100).await);
        }
        assert_eq!(outcomes.iter().filter(|outcome| outcome.is_ok()).count(), FREE_FAILURES as usize);
        assert_eq!(outcomes.last().unwrap().as_ref().err(), Some(&1));
    }

    #[tokio::test]
    async fn backoff_grows_per_account_and_address_and_ends_with_a_success() {
        let throttle = Throttle::in_memory();
        for _ in 0..FREE_FAILURES {
            let _ = reserve(&throttle, "demo", 1, 100).await.unwrap();
        }
        assert_eq!(reserve(&throttle, "demo", 1, 100).await.err(), Some(1));
        // Usernames are unique as written: "Demo" is another account, with a budget of its own.
        assert!(reserve(&throttle, "Demo", 1, 100).await.is_ok());
        let _ = reserve(&throttle, "demo", 1, 101).await.unwrap();
        assert_eq!(reserve(&throttle, "demo", 1, 101).await.err(), Some(2));
        // Someone else, from another address, is not held back by this guesser.
        let real_user = reserve(&throttle, "demo", 2, 101).await.unwrap();
        throttle.succeeded(real_user, 101).await.unwrap();
        let success = reserve(&throttle, "demo", 1, 103).await.unwrap();
        throttle.succeeded(success, 103).await.unwrap();
        assert!(reserve(&throttle, "demo", 1, 103).await.is_ok(), "a success ends the backoff");
    }

    #[tokio::test]
    async fn one_guesser_cannot_reach_the_account_ceiling_but_many_addresses_do() {
        let throttle = Throttle::in_memory();
        // One address, guessing as fast as it is let through for an hour.
        let mut now = 0;
        while now < 3600 {
            if let Err(wait) = reserve(&throttle, "demo", 1, now).await {
                now += i64::try_from(wait).unwrap();
            }
        }
        assert!(reserve(&throttle, "demo", 2, now - 1).await.is_ok(), "one guesser locked the account");

        let throttle = Throttle::in_memory();
        let mut refused = 0;
        for last in 0..=u8::MAX {
            for _ in 0..FREE_FAILURES {
                refused += usize::from(reserve(&throttle, "demo", last, 0).await.is_err());
            }
        }
        assert!(refused > 1000, "a spread-out guesser is stopped at the ceiling of {ACCOUNT_FAILURES_PER_HOUR}");
    }

    #[tokio::test]
    async fn one_address_gets_a_bounded_number_of_attempts_a_minute() {
        let throttle = Throttle::in_memory();
        for attempt in 0..ADDRESS_ATTEMPTS_PER_MINUTE {
            assert!(reserve(&throttle, &format!("user{attempt}"), 1, 0).await.is_ok());
        }
        assert_eq!(reserve(&throttle, "another", 1, 10).await.err(), Some(50));
        assert!(reserve(&throttle, "another", 1, 60).await.is_ok());
    }

    #[tokio::test]
    async fn a_cancelled_attempt_counts_for_nothing() {
        let throttle = Throttle::in_memory();
        for _ in 0..20 {
            let reservation = reserve(&throttle, "demo", 1, 0).await.unwrap();
            throttle.cancel(reservation, 0).await.unwrap();
        }
        assert!(reserve(&throttle, "demo", 1, 0).await.is_ok());
    }

    #[tokio::test]
    async fn a_full_memory_lets_attempts_through_and_a_read_adds_nothing() {
        let throttle = Throttle::in_memory_up_to(6);
        assert_eq!(throttle.refresh_wait(address(9), 0).await.unwrap(), None);
        // Guesses at many names fill the memory; the throttle goes on deciding (dropping the oldest counters).
        for (index, username) in ["ada", "bob", "cy", "dee"].into_iter().enumerate() {
            let now = i64::try_from(index).unwrap();
            assert!(reserve(&throttle, username, 1, now).await.is_ok(), "{username}");
        }
        // The address's counter is rewritten at every attempt: it stays, and still counts.
        for attempt in 4..ADDRESS_ATTEMPTS_PER_MINUTE {
            let _ = reserve(&throttle, &format!("user{attempt}"), 1, 10).await;
        }
        assert_eq!(reserve(&throttle, "eve", 1, 10).await.err(), Some(50));
    }

    #[tokio::test]
    async fn a_known_device_has_a_backoff_of_its_own_and_no_account_ceiling() {
        let throttle = Throttle::in_memory();
        let cookies = DeviceCookies::new(b"a key".to_vec());
        let device = cookies.check(&cookies.issue("demo", "$argon2id$demo"), "demo", 0).unwrap();
        let from_device = |now| throttle.reserve("demo", address(7), Some(&device), now);
        // Guessers everywhere reach the account's ceiling: unknown devices wait...
        for last in 0..=u8::MAX {
            for _ in 0..FREE_FAILURES {
                let _ = reserve(&throttle, "demo", last, 0).await;
            }
        }
        assert!(reserve(&throttle, "demo", 8, 0).await.is_err());
        // ...the known device gets its own five failures, then waits; a cancelled attempt counts for nothing.
        let cancelled = from_device(0).await.unwrap().unwrap();
        throttle.cancel(cancelled, 0).await.unwrap();
        for _ in 0..FREE_FAILURES {
            let _ = from_device(0).await.unwrap().unwrap();
        }
        assert_eq!(from_device(0).await.unwrap().err(), Some(1));
        // A success ends the device's backoff.
        let success = from_device(1).await.unwrap().unwrap();
        throttle.succeeded(success, 1).await.unwrap();
        for _ in 0..FREE_FAILURES {
            let _ = from_device(1).await.unwrap().unwrap();
        }
    }

    #[tokio::test]
    async fn failed_refreshes_are_limited_per_address() {
        let throttle = Throttle::in_memory();
        for _ in 0..FAILED_REFRESHES_PER_MINUTE {
            assert_eq!(throttle.refresh_wait(address(1), 0).await.unwrap(), None);
            throttle.refresh_failed(address(1), 0).await.unwrap();
        }
        assert_eq!(throttle.refresh_wait(address(1), 20).await.unwrap(), Some(40));
        assert_eq!(throttle.refresh_wait(address(2), 20).await.unwrap(), None);
        assert_eq!(throttle.refresh_wait(address(1), 60).await.unwrap(), None);
    }
}
