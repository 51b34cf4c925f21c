use std::time::Duration;

use session_core::Clock;

/// The [`Clock`] of a browser: `Date.now()` for expiry times, which every tab reads from the shared store; `performance.now()` for
/// durations, which a wall-clock change must not stretch.
pub struct BrowserClock;

impl Clock for BrowserClock {
    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }

    fn monotonic_ms(&self) -> f64 {
        monotonic_ms()
    }
}

/// `performance.now()`: for the durations a wall-clock change must neither freeze nor stretch (request deadlines,
/// the refresh's backoff). Cache freshness follows the wall clock instead, as TanStack Query's does.
pub fn monotonic_ms() -> f64 {
    web_sys::window().and_then(|window| window.performance()).map_or_else(js_sys::Date::now, |clock| clock.now())
}

/// `duration` in whole milliseconds for the browser's timers, at most `u32::MAX` (49 days).
pub(crate) fn whole_millis(duration: Duration) -> u32 {
    u32::try_from(duration.as_millis()).unwrap_or(u32::MAX)
}

/// Resolves after `duration`, on the browser's timer: the query cache's retries and the test helpers wait on it.
pub(crate) async fn sleep(duration: Duration) {
    let (done, wait) = futures::channel::oneshot::channel::<()>();
    leptos::prelude::set_timeout(
        move || {
            let _ = done.send(());
        },
        duration,
    );
    let _ = wait.await;
}
