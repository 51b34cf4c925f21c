//! Which proofs were seen, for as long as a proof can be fresh ([`REPLAY_WINDOW`](super::REPLAY_WINDOW)): in
//! this process's memory on SQLite (one instance), in a table every instance shares on PostgreSQL, so that a
//! proof replayed at another instance is refused too.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use crate::store::Store;

/// Proofs remembered in memory at most. A proof is remembered only once its token's or session's check passed
/// (a live session, a right password, the session's own key), so only signed-in clients can fill it; when full,
/// proofs are refused (`503`) rather than an unended one forgotten, which would let it be replayed.
const MEMORY_CAPACITY: usize = 200_000;
/// Proofs of one account remembered in memory at most, whatever keys they were made with (a client chooses its
/// key, and each sign-in may bring a new one): one account, even one looping requests from many sessions,
/// fills a fiftieth of the memory (4,000 proofs in the 660 s a proof is remembered, six a second; a browser
/// proves a few requests a minute, `cargo xtask bench client` 2,000 in a burst), so filling it takes fifty
/// accounts, and the others go on.
const MEMORY_PER_ACCOUNT: usize = MEMORY_CAPACITY / 50;

/// Whether a proof may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstUse {
    Yes,
    /// Seen before, and its record has not ended: a replay.
    Replayed,
    /// Nothing ended to make room: the proof cannot be remembered, so it is not accepted.
    Full,
    /// Its account has as many proofs remembered as one account may: not accepted until some end.
    TooMany,
}

pub enum Replays {
    Memory(Mutex<Remembered>),
    Shared(Store),
}

impl Replays {
    pub fn in_memory() -> Self {
        Self::Memory(Mutex::new(Remembered::with_capacity(MEMORY_CAPACITY, MEMORY_PER_ACCOUNT)))
    }

    pub fn shared(store: Store) -> Self {
        Self::Shared(store)
    }

    /// Remembers `key`, a proof made for the account `user_id`, until `until`, the first time.
    pub async fn first_use(&self, key: [u8; 32], user_id: i64, until: i64, now: i64) -> Result<FirstUse, sqlx::Error> {
        match self {
            Self::Memory(remembered) => Ok(remembered
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .first_use(key, user_id, until, now)),
            Self::Shared(store) => {
                let first = store.first_use_of_proof(&key, until, now).await?;
                Ok(if first { FirstUse::Yes } else { FirstUse::Replayed })
            }
        }
    }
}

/// Keys with their end and account, the same ordered by end (to forget the ended without a sweep over
/// everything), and how many each account has.
pub struct Remembered {
    ends: HashMap<[u8; 32], (i64, i64)>,
    by_end: BTreeSet<(i64, [u8; 32])>,
    per_account: HashMap<i64, usize>,
    capacity: usize,
    per_account_capacity: usize,
}

impl Remembered {
    fn with_capacity(capacity: usize, per_account_capacity: usize) -> Self {
        Self {
            ends: HashMap::new(),
            by_end: BTreeSet::new(),
            per_account: HashMap::new(),
            capacity,
            per_account_capacity,
        }
    }

    fn first_use(&mut self, key: [u8; 32], user_id: i64, until: i64, now: i64) -> FirstUse {
        while let Some(&(end, ended)) = self.by_end.first() {
            if end > now {
                break;
            }
            self.by_end.pop_first();
            if let Some((_, owner)) = self.ends.remove(&ended)
                && let Some(count) = self.per_account.get_mut(&owner)
            {
                *count -= 1;
                if *count == 0 {
                    self.per_account.remove(&owner);
                }
            }
        }
        if self.ends.contains_key(&key) {
            return FirstUse::Replayed;
        }
        if self.per_account.get(&user_id).is_some_and(|&count| count >= self.per_account_capacity) {
            return FirstUse::TooMany;
        }
        if self.ends.len() >= self.capacity {
            return FirstUse::Full;
        }
        self.ends.insert(key, (until, user_id));
        self.by_end.insert((until, key));
        *self.per_account.entry(user_id).or_default() += 1;
        FirstUse::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_until_it_ends_and_then_forgotten() {
        let mut remembered = Remembered::with_capacity(10, 10);
        assert_eq!(remembered.first_use([1; 32], 1, 100, 0), FirstUse::Yes);
        assert_eq!(remembered.first_use([1; 32], 1, 100, 50), FirstUse::Replayed);
        assert_eq!(remembered.first_use([1; 32], 1, 100, 99), FirstUse::Replayed);
        assert_eq!(remembered.first_use([2; 32], 1, 200, 100), FirstUse::Yes, "another key");
        assert_eq!(remembered.ends.len(), 1, "the ended one is forgotten");
        assert_eq!(remembered.first_use([1; 32], 1, 300, 100), FirstUse::Yes, "ended: a new proof may reuse the id");
    }

    #[test]
    fn when_full_nothing_unended_is_forgotten_and_new_proofs_wait_for_room() {
        let mut remembered = Remembered::with_capacity(3, 3);
        for (index, end) in [(1u8, 30), (2, 10), (3, 20)] {
            assert_eq!(remembered.first_use([index; 32], i64::from(index), end, 0), FirstUse::Yes);
        }
        assert_eq!(remembered.first_use([4; 32], 4, 40, 0), FirstUse::Full, "refused, not a replay window opened");
        for index in 1..=3u8 {
            assert_eq!(remembered.first_use([index; 32], 1, 99, 0), FirstUse::Replayed, "{index} is still refused");
        }
        assert_eq!(remembered.first_use([4; 32], 4, 40, 10), FirstUse::Yes, "room once one ended");
    }

    #[test]
    fn one_account_takes_at_most_its_share_whatever_its_keys_and_leaves_room_for_every_other() {
        let mut remembered = Remembered::with_capacity(10, 3);
        for index in 1..=3u8 {
            // Each from another key (another sign-in): the proofs' own digests differ, the account is one.
            assert_eq!(remembered.first_use([index; 32], 7, 100, 0), FirstUse::Yes);
        }
        assert_eq!(remembered.first_use([4; 32], 7, 100, 0), FirstUse::TooMany, "its share is used");
        assert_eq!(remembered.first_use([1; 32], 7, 100, 0), FirstUse::Replayed, "a replay is still one");
        assert_eq!(remembered.first_use([5; 32], 8, 100, 0), FirstUse::Yes, "another account is not held back");
        assert_eq!(remembered.first_use([6; 32], 7, 200, 100), FirstUse::Yes, "its share is back as they end");
        let counts: Vec<_> = remembered.per_account.iter().map(|(account, count)| (*account, *count)).collect();
        assert_eq!(counts, [(7, 1)], "an account whose proofs all ended is forgotten");
    }
}
