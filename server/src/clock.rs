//! Time as a dependency, so expiry, idle timeouts and grace windows are tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs() as i64)
    }
}

/// A clock that moves only when told to; clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn starting_now() -> Self {
        Self::at(SystemClock.now())
    }

    pub fn at(unix_seconds: i64) -> Self {
        Self(Arc::new(AtomicI64::new(unix_seconds)))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// An instance's clock set to its database's (PostgreSQL): the machine's time plus the offset last measured.
/// Instances on one database then date rotations, grace windows, session ends and access tokens on one time, so
/// a machine whose clock lags (or leads) can neither stretch a window nor start a session already over.
pub struct DatabaseTime {
    machine: Arc<dyn Clock>,
    offset: AtomicI64,
}

impl DatabaseTime {
    pub fn new(machine: Arc<dyn Clock>) -> Self {
        Self { machine, offset: AtomicI64::new(0) }
    }

    pub fn machine_now(&self) -> i64 {
        self.machine.now()
    }

    /// Follows the database's time `database_now`, read when the machine's clock said `machine_now`; returns
    /// the offset now applied.
    pub fn follow(&self, database_now: i64, machine_now: i64) -> i64 {
        let offset = offset_for(database_now - machine_now);
        self.offset.store(offset, Ordering::SeqCst);
        offset
    }
}

impl Clock for DatabaseTime {
    fn now(&self) -> i64 {
        self.machine.now() + self.offset.load(Ordering::SeqCst)
    }
}

/// The correction for a machine `behind` seconds behind the database (negative: ahead): none within a second
/// (both are read in whole seconds, so clocks in step can read a second apart), all of it beyond.
fn offset_for(behind: i64) -> i64 {
    if behind.abs() <= 1 { 0 } else { behind }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_follows_the_database_beyond_a_second() {
        for (behind, offset) in [(0, 0), (1, 0), (-1, 0), (2, 2), (-2, -2), (60, 60), (-3600, -3600)] {
            assert_eq!(offset_for(behind), offset, "{behind} s behind");
        }
    }

    #[test]
    fn the_followed_time_is_the_machines_plus_the_offset() {
        let machine = ManualClock::at(1_000);
        let time = DatabaseTime::new(Arc::new(machine.clone()));
        assert_eq!(time.now(), 1_000);
        assert_eq!(time.follow(1_060, 1_000), 60);
        assert_eq!(time.now(), 1_060);
        machine.advance(5);
        assert_eq!(time.now(), 1_065, "the machine's clock still moves it");
        assert_eq!(time.follow(1_065, 1_005), 60);
        assert_eq!(time.follow(1_006, 1_005), 0, "back in step");
        assert_eq!(time.now(), 1_005);
    }
}
