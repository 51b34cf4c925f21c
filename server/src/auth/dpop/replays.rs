//! Which proofs were seen, for as long as a proof can be fresh ([`REPLAY_WINDOW`](super::REPLAY_WINDOW)): in
//! this process's memory on SQLite (one instance), in a table every instance shares on PostgreSQL, so that a
//! proof replayed at another instance is refused too.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use crate::store::Store;

/// Proofs remembered in memory at most; past it the soonest to end make room (a proof must pass its token's or
/// session's check before it is remembered, so only clients with a live session can fill it).
const MEMORY_CAPACITY: usize = 200_000;

pub enum Replays {
    Memory(Mutex<Remembered>),
    Shared(Store),
}

impl Replays {
    pub fn in_memory() -> Self {
        Self::Memory(Mutex::new(Remembered::with_capacity(MEMORY_CAPACITY)))
    }

    pub fn shared(store: Store) -> Self {
        Self::Shared(store)
    }

    /// Remembers `key` until `until`: `true` the first time, `false` when it was seen and has not ended.
    pub async fn first_use(&self, key: [u8; 32], until: i64, now: i64) -> Result<bool, sqlx::Error> {
        match self {
            Self::Memory(remembered) => {
                Ok(remembered.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).first_use(key, until, now))
            }
            Self::Shared(store) => store.first_use_of_proof(&key, until, now).await,
        }
    }
}

/// Keys with their end, and the same ordered by end, to forget the ended (and, when full, the soonest to end)
/// without a sweep over everything.
pub struct Remembered {
    ends: HashMap<[u8; 32], i64>,
    by_end: BTreeSet<(i64, [u8; 32])>,
    capacity: usize,
}

impl Remembered {
    fn with_capacity(capacity: usize) -> Self {
        Self { ends: HashMap::new(), by_end: BTreeSet::new(), capacity }
    }

    fn first_use(&mut self, key: [u8; 32], until: i64, now: i64) -> bool {
        while let Some(&(end, ended)) = self.by_end.first() {
            if end > now && self.ends.len() < self.capacity {
                break;
            }
            self.by_end.pop_first();
            self.ends.remove(&ended);
        }
        if self.ends.contains_key(&key) {
            return false;
        }
        self.ends.insert(key, until);
        self.by_end.insert((until, key));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_until_it_ends_and_then_forgotten() {
        let mut remembered = Remembered::with_capacity(10);
        assert!(remembered.first_use([1; 32], 100, 0));
        assert!(!remembered.first_use([1; 32], 100, 50));
        assert!(!remembered.first_use([1; 32], 100, 99));
        assert!(remembered.first_use([2; 32], 200, 100), "another key");
        assert_eq!(remembered.ends.len(), 1, "the ended one is forgotten");
        assert!(remembered.first_use([1; 32], 300, 100), "ended: a new proof may reuse the id");
    }

    #[test]
    fn when_full_the_soonest_to_end_make_room() {
        let mut remembered = Remembered::with_capacity(3);
        for (index, end) in [(1u8, 30), (2, 10), (3, 20)] {
            assert!(remembered.first_use([index; 32], end, 0));
        }
        assert!(remembered.first_use([4; 32], 40, 0));
        assert_eq!(remembered.ends.len(), 3);
        assert!(!remembered.ends.contains_key(&[2; 32]), "the soonest to end went");
        assert!(!remembered.first_use([1; 32], 30, 0), "the others are still refused");
    }
}
