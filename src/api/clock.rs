use session_core::Clock;

/// `Date.now()`: every tab reads the expiry stored by another, so they need a clock they share.
pub struct BrowserClock;

impl Clock for BrowserClock {
    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }
}
