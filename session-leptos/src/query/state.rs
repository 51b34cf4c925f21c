//! One cache entry's state and its transitions, with the time passed in: what TanStack Query v5 does for one
//! query key, as pure functions the browser adapter calls and native tests drive with a fake clock.

use std::time::Duration;

use session_core::SessionError;

use super::policy::{RETRIES, is_retryable, retry_delay_ms};

/// TanStack Query's `staleTime` and `gcTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueryOptions {
    /// Data younger than this is fresh: mounting, focusing or reconnecting makes no request.
    pub stale_time: Duration,
    /// An entry nobody reads any more is dropped this long after its last reader left.
    pub gc_time: Duration,
}

const FIVE_MINUTES: Duration = Duration::from_secs(5 * 60);

/// Five minutes each: the article's `staleTime`, and TanStack's default `gcTime`.
impl Default for QueryOptions {
    fn default() -> Self {
        Self { stale_time: FIVE_MINUTES, gc_time: FIVE_MINUTES }
    }
}

impl QueryOptions {
    /// With another `staleTime` (zero: every mount, focus and reconnect refetches).
    #[must_use]
    pub fn stale_time(self, stale_time: Duration) -> Self {
        Self { stale_time, ..self }
    }

    /// With another `gcTime`.
    #[must_use]
    pub fn gc_time(self, gc_time: Duration) -> Self {
        Self { gc_time, ..self }
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Whether a fetch is running for an entry: TanStack Query's `fetchStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchStatus {
    /// Nothing runs.
    Idle,
    /// A fetch (or its retries) runs.
    Fetching,
    /// A fetch is wanted but the browser is offline: it starts when the network is back.
    Paused,
}

/// What the adapter does after a fetch attempt ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum AfterAttempt {
    /// Done (data stored, or the error is final), or the answer belonged to a fetch that no longer counts.
    Settled,
    /// Wait this long, then call [`QueryState::retry`].
    RetryIn(f64),
}

/// One entry of the cache as its readers see it ([`Query::with`](crate::Query::with)).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryState<T> {
    /// The last data fetched or set; kept while a refetch runs and when it fails.
    pub data: Option<T>,
    /// Monotonic milliseconds of the last successful fetch or `set_data`.
    pub updated_at_ms: Option<f64>,
    /// The last fetch's final error; cleared by the next success. Never replaces data.
    pub error: Option<SessionError>,
    /// Whether a fetch runs now.
    pub fetch_status: FetchStatus,
    /// Failed attempts of the current fetch.
    pub failures: u32,
    invalidated: bool,
    observers: u32,
    inactive_since_ms: Option<f64>,
    /// Identifies the current fetch; an answer carrying another id arrived after a reset and is dropped.
    fetch_id: u64,
}

impl<T> Default for QueryState<T> {
    fn default() -> Self {
        Self {
            data: None,
            updated_at_ms: None,
            error: None,
            fetch_status: FetchStatus::Idle,
            failures: 0,
            invalidated: false,
            observers: 0,
            inactive_since_ms: None,
            fetch_id: 0,
        }
    }
}

impl<T> QueryState<T> {
    /// No data yet: what TanStack calls `isPending`.
    pub fn is_pending(&self) -> bool {
        self.data.is_none()
    }

    /// What a reader shows: the data if there is any (a later failure never replaces it), else the final error,
    /// else nothing yet.
    pub(crate) fn outcome(&self) -> Option<Result<T, SessionError>>
    where
        T: Clone,
    {
        self.data.clone().map(Ok).or_else(|| self.error.clone().map(Err))
    }

    /// The same state with its data mapped by `map` (`None` for data it cannot map).
    pub(crate) fn map_data<U>(&self, map: impl FnOnce(&T) -> Option<U>) -> QueryState<U> {
        QueryState {
            data: self.data.as_ref().and_then(map),
            updated_at_ms: self.updated_at_ms,
            error: self.error.clone(),
            fetch_status: self.fetch_status,
            failures: self.failures,
            invalidated: self.invalidated,
            observers: self.observers,
            inactive_since_ms: self.inactive_since_ms,
            fetch_id: self.fetch_id,
        }
    }

    /// A fetch runs (the first, or a refetch while the old data is shown).
    pub fn is_fetching(&self) -> bool {
        self.fetch_status == FetchStatus::Fetching
    }

    /// Some component reads it now.
    pub fn is_active(&self) -> bool {
        self.observers > 0
    }

    /// Missing, invalidated or older than `stale_time` at `now_ms` (wall-clock milliseconds, as TanStack Query
    /// counts them: a night's sleep ages the data, which `performance.now()` would not). Data stamped after
    /// `now_ms` (the clock was set back) is stale: its age is unknown, and it must not stay fresh for as long
    /// as the clock was moved.
    pub fn is_stale(&self, now_ms: f64, options: QueryOptions) -> bool {
        self.invalidated || self.updated_at_ms.is_none_or(|at| has_lasted(at, now_ms, options.stale_time))
    }

    /// Whether a mount, focus or reconnect should fetch: stale, and no fetch already running or waiting (that one
    /// is shared).
    pub(crate) fn wants_fetch(&self, now_ms: f64, options: QueryOptions) -> bool {
        self.fetch_status == FetchStatus::Idle && self.is_stale(now_ms, options)
    }

    /// Starts a fetch, or pauses it while offline; the id to run it under, if it may run now.
    pub(crate) fn start_fetch(&mut self, online: bool) -> Option<u64> {
        if self.fetch_status != FetchStatus::Idle {
            return None;
        }
        self.fetch_id += 1;
        self.failures = 0;
        self.begin(online)
    }

    /// A paused fetch (offline at its start or at a retry) goes on once online.
    pub(crate) fn resume(&mut self, online: bool) -> Option<u64> {
        if self.fetch_status != FetchStatus::Paused {
            return None;
        }
        self.begin(online)
    }

    /// After the wait [`AfterAttempt::RetryIn`] asked for: try again under `id`, or pause while offline.
    pub(crate) fn retry(&mut self, id: u64, online: bool) -> Option<u64> {
        if id != self.fetch_id || self.fetch_status != FetchStatus::Fetching {
            return None;
        }
        self.begin(online)
    }

    fn begin(&mut self, online: bool) -> Option<u64> {
        self.fetch_status = if online { FetchStatus::Fetching } else { FetchStatus::Paused };
        online.then_some(self.fetch_id)
    }

    /// An attempt under `id` ended with `result` at `now_ms`.
    pub(crate) fn finish(&mut self, id: u64, now_ms: f64, result: Result<T, SessionError>) -> AfterAttempt {
        if id != self.fetch_id || self.fetch_status != FetchStatus::Fetching {
            return AfterAttempt::Settled;
        }
        match result {
            Ok(data) => {
                self.set_data(now_ms, data);
                self.fetch_status = FetchStatus::Idle;
            }
            Err(error) => {
                self.failures += 1;
                if is_retryable(&error) && self.failures <= RETRIES {
                    return AfterAttempt::RetryIn(retry_delay_ms(self.failures));
                }
                // The data stays: a failed refetch shows the error beside what the user already had.
                self.error = Some(error);
                self.fetch_status = FetchStatus::Idle;
            }
        }
        AfterAttempt::Settled
    }

    /// Data from elsewhere (a mutation's answer): fresh from now, and any error is gone.
    pub(crate) fn set_data(&mut self, now_ms: f64, data: T) {
        self.data = Some(data);
        self.updated_at_ms = Some(now_ms);
        self.error = None;
        self.failures = 0;
        self.invalidated = false;
    }

    /// Stale at once, whatever its age; active readers refetch.
    pub(crate) fn invalidate(&mut self) {
        self.invalidated = true;
    }

    /// Back to empty (a session change): no data, no error, and whatever is in flight no longer counts.
    pub(crate) fn reset(&mut self) {
        let (observers, inactive_since_ms, fetch_id) = (self.observers, self.inactive_since_ms, self.fetch_id);
        *self = Self { observers, inactive_since_ms, fetch_id: fetch_id + 1, ..Self::default() };
    }

    /// The last reader left while a fetch ran or waited: it is abandoned (the adapter aborts it), and its answer,
    /// should one still come, is dropped.
    pub(crate) fn cancel(&mut self) {
        if self.fetch_status != FetchStatus::Idle {
            self.fetch_status = FetchStatus::Idle;
            self.failures = 0;
            self.fetch_id += 1;
        }
    }

    pub(crate) fn observe(&mut self) {
        self.observers += 1;
        self.inactive_since_ms = None;
    }

    pub(crate) fn unobserve(&mut self, now_ms: f64) {
        self.observers = self.observers.saturating_sub(1);
        if self.observers == 0 {
            self.inactive_since_ms = Some(now_ms);
        }
    }

    /// Nobody has read it for `gc_time` and nothing is running for it: drop it.
    pub(crate) fn is_garbage(&self, now_ms: f64, options: QueryOptions) -> bool {
        self.observers == 0
            && self.fetch_status != FetchStatus::Fetching
            && self.inactive_since_ms.is_some_and(|since| has_lasted(since, now_ms, options.gc_time))
    }
}

/// Whether `duration` has passed from `since_ms` to `now_ms` on the wall clock; a clock set back before
/// `since_ms` counts as passed (see [`QueryState::is_stale`]).
fn has_lasted(since_ms: f64, now_ms: f64, duration: Duration) -> bool {
    now_ms < since_ms || now_ms - since_ms >= ms(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: QueryOptions =
        QueryOptions { stale_time: Duration::from_secs(300), gc_time: Duration::from_secs(300) };

    /// An entry that fetched `"first"` at `at_ms`.
    fn fetched_at(at_ms: f64) -> QueryState<&'static str> {
        let mut state = QueryState::default();
        state.observe();
        let id = state.start_fetch(true).unwrap();
        assert_eq!(state.finish(id, at_ms, Ok("first")), AfterAttempt::Settled);
        state
    }

    #[test]
    fn a_reader_sees_the_data_before_any_error_and_nothing_before_either() {
        let failed = |data: Option<&'static str>| QueryState {
            data,
            error: Some(SessionError::Network),
            ..QueryState::default()
        };
        let cases = [
            (QueryState::default(), None),
            (fetched_at(0.0), Some(Ok("first"))),
            (failed(Some("first")), Some(Ok("first"))),
            (failed(None), Some(Err(SessionError::Network))),
        ];
        for (state, outcome) in cases {
            assert_eq!(state.outcome(), outcome, "{state:?}");
        }
        let mut reset = fetched_at(0.0);
        reset.reset();
        assert_eq!(reset.outcome(), None, "a session change leaves nothing to show");
    }

    #[test]
    fn a_missing_entry_is_pending_and_one_fetch_serves_every_reader() {
        let mut state = QueryState::<&str>::default();
        assert!(state.is_pending() && state.wants_fetch(0.0, OPTIONS));
        state.observe();
        let id = state.start_fetch(true);
        assert!(id.is_some() && state.is_fetching());
        // A second reader mounting meanwhile shares the running fetch.
        state.observe();
        assert!(!state.wants_fetch(0.0, OPTIONS));
        assert_eq!(state.start_fetch(true), None);
        state.finish(id.unwrap(), 10.0, Ok("user"));
        assert_eq!(state.data, Some("user"));
        assert!(!state.is_pending() && !state.is_fetching());
    }

    #[test]
    fn fresh_for_the_stale_time_then_shown_while_refetched() {
        let mut state = fetched_at(1_000.0);
        assert!(!state.wants_fetch(1_000.0 + 299_999.0, OPTIONS), "fresh just inside five minutes");
        assert!(state.wants_fetch(1_000.0 + 300_000.0, OPTIONS), "stale at five minutes");
        let id = state.start_fetch(true).unwrap();
        assert_eq!(state.data, Some("first"), "stale-while-revalidate: the old data shows");
        assert!(state.is_fetching() && !state.is_pending());
        state.finish(id, 301_500.0, Ok("second"));
        assert_eq!((state.data, state.updated_at_ms), (Some("second"), Some(301_500.0)));
    }

    #[test]
    fn network_failures_are_retried_three_times_one_two_four_seconds_apart() {
        let mut state = QueryState::<&str>::default();
        let id = state.start_fetch(true).unwrap();
        let mut waits = Vec::new();
        while let AfterAttempt::RetryIn(wait) = state.finish(id, 0.0, Err(SessionError::Network)) {
            waits.push(wait);
            assert_eq!(state.retry(id, true), Some(id));
            assert!(state.error.is_none() && state.is_fetching(), "no error shown between attempts");
        }
        assert_eq!(waits, [1_000.0, 2_000.0, 4_000.0]);
        assert_eq!(
            (state.error, state.failures, state.fetch_status),
            (Some(SessionError::Network), 4, FetchStatus::Idle)
        );
    }

    #[test]
    fn a_refusal_is_not_retried_and_an_error_does_not_replace_data() {
        let mut state = fetched_at(0.0);
        state.invalidate();
        let id = state.start_fetch(true).unwrap();
        assert_eq!(state.finish(id, 5.0, Err(SessionError::Unauthorized)), AfterAttempt::Settled);
        assert_eq!(state.data, Some("first"));
        assert_eq!(state.error, Some(SessionError::Unauthorized));
        // The next success clears the error.
        let id = state.start_fetch(true).unwrap();
        state.finish(id, 6.0, Ok("again"));
        assert_eq!((state.data, state.error), (Some("again"), None));
    }

    #[test]
    fn offline_fetches_pause_and_resume_when_online() {
        let mut state = QueryState::<&str>::default();
        assert_eq!(state.start_fetch(false), None);
        assert_eq!(state.fetch_status, FetchStatus::Paused);
        assert!(!state.wants_fetch(0.0, OPTIONS), "a paused fetch is not started twice");
        let id = state.resume(true).unwrap();
        assert!(state.is_fetching());
        // Offline again when a retry is due: paused, not failed.
        assert!(matches!(state.finish(id, 0.0, Err(SessionError::Network)), AfterAttempt::RetryIn(_)));
        assert_eq!(state.retry(id, false), None);
        assert_eq!(state.fetch_status, FetchStatus::Paused);
        assert_eq!(state.resume(true), Some(id));
        state.finish(id, 1.0, Ok("back"));
        assert_eq!(state.data, Some("back"));
    }

    #[test]
    fn invalidated_data_is_stale_at_once_and_set_data_is_fresh() {
        let mut state = fetched_at(0.0);
        state.invalidate();
        assert!(state.wants_fetch(1.0, OPTIONS));
        state.set_data(2.0, "edited");
        assert!(!state.wants_fetch(3.0, OPTIONS));
        assert_eq!(state.data, Some("edited"));
    }

    #[test]
    fn a_reset_empties_the_entry_and_drops_the_answer_in_flight() {
        let mut state = fetched_at(0.0);
        state.invalidate();
        let id = state.start_fetch(true).unwrap();
        state.reset();
        assert_eq!((state.data, state.fetch_status), (None, FetchStatus::Idle));
        assert_eq!(state.finish(id, 1.0, Ok("the previous user's")), AfterAttempt::Settled);
        assert_eq!(state.data, None, "an answer for the last session was stored");
        assert!(state.is_active(), "its readers still read it");
    }

    #[test]
    fn a_fetch_nobody_waits_for_is_cancelled_and_its_answer_dropped() {
        let mut state = fetched_at(0.0);
        state.invalidate();
        let id = state.start_fetch(true).unwrap();
        state.cancel();
        assert_eq!(state.fetch_status, FetchStatus::Idle);
        assert_eq!(state.finish(id, 1.0, Ok("late")), AfterAttempt::Settled);
        assert_eq!(state.data, Some("first"));
        assert!(state.wants_fetch(2.0, OPTIONS), "still stale: the next reader fetches");
    }

    #[test]
    fn an_unread_entry_is_garbage_after_the_gc_time() {
        let mut state = fetched_at(0.0);
        assert!(!state.is_garbage(1e9, OPTIONS), "read");
        state.unobserve(10.0);
        assert!(!state.is_garbage(10.0 + 299_999.0, OPTIONS));
        assert!(state.is_garbage(10.0 + 300_000.0, OPTIONS));
        state.observe();
        assert!(!state.is_garbage(1e9, OPTIONS), "read again");
    }

    #[test]
    fn the_wall_clock_ages_data_and_a_clock_set_back_does_not_make_it_immortal() {
        let day = 86_400_000.0;
        let fetched = 10.0 * day;
        // (now, stale?)
        let table = [
            (fetched, false),
            (fetched + 299_999.0, false),
            (fetched + day, true), // a night's sleep: timers stood still, the wall clock did not
            (fetched - 1.0, true), // set back: the age is unknown
            (fetched - 365.0 * day, true),
        ];
        for (now, stale) in table {
            assert_eq!(fetched_at(fetched).is_stale(now, OPTIONS), stale, "{now}");
        }
        let mut unread = fetched_at(fetched);
        unread.unobserve(fetched);
        assert!(unread.is_garbage(fetched - day, OPTIONS), "set back: collected rather than kept forever");
    }
}
