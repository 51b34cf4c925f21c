//! Time as a dependency, so expiry, idle timeouts and grace windows are tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// An instance's time set to its database's (PostgreSQL): the database's time when last read, moved on by this
/// machine's monotonic clock since. Instances on one database then date rotations, grace windows, session ends and
/// access tokens on one time: a machine whose wall clock lags or leads can neither stretch a window nor start a
/// session already over, and a step of that clock (NTP catching up, a VM resumed) changes nothing.
pub struct DatabaseTime {
    /// The database's time in milliseconds, at that instant.
    synced: Mutex<(i64, Instant)>,
}

/// A reading of the database's clock: its time in milliseconds, read between `sent` and `received`.
#[derive(Debug, Clone, Copy)]
pub struct ClockReading {
    pub database_ms: i64,
    pub sent: Instant,
    pub received: Instant,
}

/// What a new reading does to the followed time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resync {
    /// Within a second of the time followed: kept as it is, so the time never jumps for a rounding.
    InStep,
    /// The round trip took too long to tell the time by: ignored.
    TooSlow,
    /// The database's clock moved (stepped by its host): followed, by this many milliseconds.
    Moved(i64),
}

/// A reading whose round trip took longer than this cannot date within the tolerance.
const MAX_ROUND_TRIP: Duration = Duration::from_millis(500);
/// The followed time changes only when a reading differs by more than this.
const TOLERANCE_MS: i64 = 1_000;

impl DatabaseTime {
    /// The time of `reading`, taken at the middle of its round trip.
    pub fn new(reading: ClockReading) -> Self {
        Self { synced: Mutex::new(midpoint(reading)) }
    }

    /// Follows a new reading when it is quick enough and off by more than a second.
    pub fn resync(&self, reading: ClockReading) -> Resync {
        let mut synced = self.synced.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (database_ms, at) = midpoint(reading);
        let followed_ms = ms_at(*synced, at);
        let decision = decide(followed_ms, database_ms, reading.received.saturating_duration_since(reading.sent));
        if let Resync::Moved(_) = decision {
            *synced = (database_ms, at);
        }
        decision
    }

    fn now_ms(&self) -> i64 {
        ms_at(*self.synced.lock().unwrap_or_else(|poisoned| poisoned.into_inner()), Instant::now())
    }
}

impl Clock for DatabaseTime {
    fn now(&self) -> i64 {
        self.now_ms().div_euclid(1_000)
    }
}

fn midpoint(reading: ClockReading) -> (i64, Instant) {
    (reading.database_ms, reading.sent + reading.received.saturating_duration_since(reading.sent) / 2)
}

/// The followed time at `instant`, from the time `synced` was read at.
fn ms_at((database_ms, at): (i64, Instant), instant: Instant) -> i64 {
    let elapsed =
        |later: Instant, earlier: Instant| i64::try_from(later.saturating_duration_since(earlier).as_millis());
    match (elapsed(instant, at), elapsed(at, instant)) {
        (Ok(forward), _) if instant >= at => database_ms + forward,
        (_, Ok(back)) => database_ms - back,
        _ => database_ms,
    }
}

/// The policy of a new reading: ignored when its round trip was slow, kept in step within the tolerance,
/// followed beyond it.
fn decide(followed_ms: i64, database_ms: i64, round_trip: Duration) -> Resync {
    if round_trip > MAX_ROUND_TRIP {
        return Resync::TooSlow;
    }
    let moved = database_ms - followed_ms;
    if moved.abs() <= TOLERANCE_MS { Resync::InStep } else { Resync::Moved(moved) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reading_is_followed_only_when_quick_and_off_by_more_than_a_second() {
        let quick = Duration::from_millis(20);
        for (followed, database, round_trip, expected) in [
            (10_000, 10_000, quick, Resync::InStep),
            (10_000, 11_000, quick, Resync::InStep),
            (10_000, 9_000, quick, Resync::InStep),
            (10_000, 11_001, quick, Resync::Moved(1_001)),
            (10_000, 8_000, quick, Resync::Moved(-2_000)),
            (10_000, 70_000, MAX_ROUND_TRIP, Resync::Moved(60_000)),
            (10_000, 70_000, MAX_ROUND_TRIP + Duration::from_millis(1), Resync::TooSlow),
        ] {
            assert_eq!(decide(followed, database, round_trip), expected, "{followed} → {database} in {round_trip:?}");
        }
    }

    #[test]
    fn the_followed_time_moves_with_the_monotonic_clock_from_the_middle_of_the_read() {
        let sent = Instant::now();
        let reading = |database_ms, sent: Instant, round_trip| ClockReading {
            database_ms,
            sent,
            received: sent + Duration::from_millis(round_trip),
        };
        let time = DatabaseTime::new(reading(1_000_000, sent, 200));
        let middle = sent + Duration::from_millis(100);
        assert_eq!(ms_at(*time.synced.lock().unwrap(), middle + Duration::from_millis(2_500)), 1_002_500);
        assert_eq!(ms_at(*time.synced.lock().unwrap(), middle - Duration::from_millis(500)), 999_500);
        // A minute later (read from `later` for 10 ms) the followed time is 1_059_905 ms; the database reads
        // 135 ms more: in step, nothing changes.
        let later = sent + Duration::from_secs(60);
        assert_eq!(time.resync(reading(1_060_040, later, 10)), Resync::InStep);
        assert_eq!(ms_at(*time.synced.lock().unwrap(), middle), 1_000_000);
        // Its host's clock was stepped five seconds forward: followed.
        assert_eq!(time.resync(reading(1_064_905, later, 10)), Resync::Moved(5_000));
        assert_eq!(ms_at(*time.synced.lock().unwrap(), later + Duration::from_millis(5)), 1_064_905);
    }
}
