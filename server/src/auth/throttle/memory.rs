//! The throttle's counters in this process's memory (one instance, on SQLite): at most a fixed number. Kept in
//! two orders, so no write ever walks them all: by the moment each says nothing any more (a write forgets those
//! that have ended), and by its last write (above the capacity, the least recently written makes room, rather
//! than anyone being refused). A client under a limit rewrites its counters with every attempt, so a flood of
//! new names pushes out idle counters first, never the flooding address's own.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::store::Counter;

pub struct MemoryCounters {
    counters: HashMap<Arc<str>, Kept>,
    /// Every kept counter by [`Counter::ends_at`], soonest first.
    by_end: BTreeSet<(i64, Arc<str>)>,
    /// Every kept counter by its last write, oldest first.
    by_write: BTreeSet<(u64, Arc<str>)>,
    writes: u64,
    capacity: usize,
    /// Whether counters are being dropped to make room (told to the log once per episode).
    crowded: bool,
}

#[derive(Clone, Copy)]
struct Kept {
    counter: Counter,
    written: u64,
}

impl MemoryCounters {
    pub fn new(capacity: usize) -> Self {
        Self {
            counters: HashMap::new(),
            by_end: BTreeSet::new(),
            by_write: BTreeSet::new(),
            writes: 0,
            capacity: capacity.max(1),
            crowded: false,
        }
    }

    /// The counter of `key`: a fresh one when none is kept.
    pub fn get(&self, key: &str) -> Counter {
        self.counters.get(key).map(|kept| kept.counter).unwrap_or_default()
    }

    /// Keeps `counter` under `key` (a fresh one, or one that has ended, is not kept: a read adds nothing),
    /// forgets every counter that has ended by `now`, and above the capacity the least recently written.
    pub fn put(&mut self, key: &str, counter: Counter, now: i64) {
        let key: Arc<str> = self.counters.get_key_value(key).map_or_else(|| key.into(), |(kept, _)| Arc::clone(kept));
        self.remove(&key);
        if counter != Counter::default() && counter.ends_at() > now {
            self.writes += 1;
            self.counters.insert(Arc::clone(&key), Kept { counter, written: self.writes });
            self.by_end.insert((counter.ends_at(), Arc::clone(&key)));
            self.by_write.insert((self.writes, key));
        }
        while let Some((_, ended)) = self.by_end.first().filter(|(ends_at, _)| *ends_at <= now) {
            let ended = Arc::clone(ended);
            self.remove(&ended);
        }
        while self.counters.len() > self.capacity {
            if !self.crowded {
                self.crowded = true;
                tracing::warn!(
                    event = "throttle_crowded",
                    capacity = self.capacity,
                    "throttle memory full: the least recently written counters make room"
                );
            }
            let Some((_, oldest)) = self.by_write.first() else { break };
            let oldest = Arc::clone(oldest);
            self.remove(&oldest);
        }
        if self.crowded && self.counters.len() < self.capacity {
            self.crowded = false;
            tracing::info!(event = "throttle_uncrowded", "throttle memory below its capacity again");
        }
    }

    fn remove(&mut self, key: &Arc<str>) {
        if let Some(kept) = self.counters.remove(key) {
            self.by_end.remove(&(kept.counter.ends_at(), Arc::clone(key)));
            self.by_write.remove(&(kept.written, Arc::clone(key)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(started_at: i64) -> Counter {
        Counter { started_at, count: 1, locked_until: 0 }
    }

    #[test]
    fn ended_counters_are_forgotten_and_a_full_memory_drops_the_least_recently_written() {
        let mut memory = MemoryCounters::new(3);
        memory.put("read", Counter::default(), 0);
        assert_eq!(memory.counters.len(), 0, "a fresh counter is not kept");
        memory.put("a", window(0), 0);
        memory.put("b", window(10), 10);
        memory.put("c", window(20), 20);
        // "a" is written again (a client still trying): "b" is now the least recently written.
        memory.put("a", Counter { count: 2, ..window(0) }, 25);
        memory.put("d", window(30), 30);
        assert_eq!(memory.get("b"), Counter::default(), "the least recently written went");
        assert_eq!(memory.get("a").count, 2);
        assert_eq!(memory.get("d"), window(30));
        // An hour after it started, "a" has ended: forgotten at the next write, making room without crowding.
        memory.put("e", window(3600), 3600);
        assert_eq!(memory.get("a"), Counter::default());
        assert_eq!((memory.get("c"), memory.get("d"), memory.get("e")), (window(20), window(30), window(3600)));
        assert_eq!(memory.counters.len(), memory.by_end.len());
        assert_eq!(memory.counters.len(), memory.by_write.len());
    }
}
