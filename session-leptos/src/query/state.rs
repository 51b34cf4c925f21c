//! One cache entry's state and its transitions, with the time passed in: what TanStack Query v5 does for one
//! query key, as pure functions the browser adapter calls and native tests drive with a fake clock.

use session_core::ApiError;

use super::policy::{RETRIES, is_retryable, retry_delay_ms};

/// TanStack Query's `staleTime` and `gcTime`, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryOptions {
    /// Data younger than this is fresh: mounting, focusing or reconnecting makes no request.
    pub stale_time_ms: f64,
    /// An entry nobody reads any more is dropped this long after its last reader left.
    pub gc_time_ms: f64,
}

/// Five minutes each: the article's `staleTime`, and TanStack's default `gcTime`.
impl Default for QueryOptions {
    fn default() -> Self {
        Self { stale_time_ms: 5.0 * 60.0 * 1000.0, gc_time_ms: 5.0 * 60.0 * 1000.0 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchStatus {
    Idle,
    Fetching,
    /// A fetch is wanted but the browser is offline: it starts when the network is back.
    Paused,
}

/// What the adapter does after a fetch attempt ends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AfterAttempt {
    /// Done (data stored, or the error is final), or the answer belonged to a fetch that no longer counts.
    Settled,
    /// Wait this long, then call [`QueryState::retry`].
    RetryIn(f64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryState<T> {
    pub data: Option<T>,
    /// Monotonic milliseconds of the last successful fetch or `set_data`.
    pub updated_at_ms: Option<f64>,
    /// The last fetch's final error; cleared by the next success. Never replaces data.
    pub error: Option<ApiError>,
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

    pub fn is_fetching(&self) -> bool {
        self.fetch_status == FetchStatus::Fetching
    }

    pub fn is_active(&self) -> bool {
        self.observers > 0
    }

    /// Missing, invalidated or older than `stale_time`.
    pub fn is_stale(&self, now_ms: f64, options: QueryOptions) -> bool {
        self.invalidated || self.updated_at_ms.is_none_or(|at| now_ms - at >= options.stale_time_ms)
    }

    /// Whether a mount, focus or reconnect should fetch: stale, and no fetch already running or waiting (that one
    /// is shared).
    pub fn wants_fetch(&self, now_ms: f64, options: QueryOptions) -> bool {
        self.fetch_status == FetchStatus::Idle && self.is_stale(now_ms, options)
    }

    /// Starts a fetch, or pauses it while offline; the id to run it under, if it may run now.
    pub fn start_fetch(&mut self, online: bool) -> Option<u64> {
        if self.fetch_status != FetchStatus::Idle {
            return None;
        }
        self.fetch_id += 1;
        self.failures = 0;
        self.begin(online)
    }

    /// A paused fetch (offline at its start or at a retry) goes on once online.
    pub fn resume(&mut self, online: bool) -> Option<u64> {
        if self.fetch_status != FetchStatus::Paused {
            return None;
        }
        self.begin(online)
    }

    /// After the wait [`AfterAttempt::RetryIn`] asked for: try again under `id`, or pause while offline.
    pub fn retry(&mut self, id: u64, online: bool) -> Option<u64> {
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
    pub fn finish(&mut self, id: u64, now_ms: f64, result: Result<T, ApiError>) -> AfterAttempt {
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
    pub fn set_data(&mut self, now_ms: f64, data: T) {
        self.data = Some(data);
        self.updated_at_ms = Some(now_ms);
        self.error = None;
        self.failures = 0;
        self.invalidated = false;
    }

    /// Stale at once, whatever its age; active readers refetch.
    pub fn invalidate(&mut self) {
        self.invalidated = true;
    }

    /// Back to empty (a session change): no data, no error, and whatever is in flight no longer counts.
    pub fn reset(&mut self) {
        let (observers, inactive_since_ms, fetch_id) = (self.observers, self.inactive_since_ms, self.fetch_id);
        *self = Self { observers, inactive_since_ms, fetch_id: fetch_id + 1, ..Self::default() };
    }

    /// The last reader left while a fetch ran or waited: it is abandoned (the adapter aborts it), and its answer,
    /// should one still come, is dropped.
    pub fn cancel(&mut self) {
        if self.fetch_status != FetchStatus::Idle {
            self.fetch_status = FetchStatus::Idle;
            self.failures = 0;
            self.fetch_id += 1;
        }
    }

    pub fn observe(&mut self) {
        self.observers += 1;
        self.inactive_since_ms = None;
    }

    pub fn unobserve(&mut self, now_ms: f64) {
        self.observers = self.observers.saturating_sub(1);
        if self.observers == 0 {
            self.inactive_since_ms = Some(now_ms);
        }
    }

    /// Nobody has read it for `gc_time` and nothing is running for it: drop it.
    pub fn is_garbage(&self, now_ms: f64, options: QueryOptions) -> bool {
        self.observers == 0
            && self.fetch_status != FetchStatus::Fetching
            && self.inactive_since_ms.is_some_and(|since| now_ms - since >= options.gc_time_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: QueryOptions = QueryOptions { stale_time_ms: 300_000.0, gc_time_ms: 300_000.0 };

    /// An entry that fetched `"first"` at `at_ms`.
    fn fetched_at(at_ms: f64) -> QueryState<&'static str> {
        let mut state = QueryState::default();
        state.observe();
        let id = state.start_fetch(true).unwrap();
        assert_eq!(state.finish(id, at_ms, Ok("first")), AfterAttempt::Settled);
        state
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
        while let AfterAttempt::RetryIn(wait) = state.finish(id, 0.0, Err(ApiError::Network)) {
            waits.push(wait);
            assert_eq!(state.retry(id, true), Some(id));
            assert!(state.error.is_none() && state.is_fetching(), "no error shown between attempts");
        }
        assert_eq!(waits, [1_000.0, 2_000.0, 4_000.0]);
        assert_eq!((state.error, state.failures, state.fetch_status), (Some(ApiError::Network), 4, FetchStatus::Idle));
    }

    #[test]
    fn a_refusal_is_not_retried_and_an_error_does_not_replace_data() {
        let mut state = fetched_at(0.0);
        state.invalidate();
        let id = state.start_fetch(true).unwrap();
        assert_eq!(state.finish(id, 5.0, Err(ApiError::Unauthorized)), AfterAttempt::Settled);
        assert_eq!(state.data, Some("first"));
        assert_eq!(state.error, Some(ApiError::Unauthorized));
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
        assert!(matches!(state.finish(id, 0.0, Err(ApiError::Network)), AfterAttempt::RetryIn(_)));
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
}
