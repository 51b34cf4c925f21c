//! The throttle's rules as pure functions of counters: a fixed window (`count` events since `started_at`) or a
//! backoff (`count` failures, refused until `locked_until`), whichever a key needs.

use crate::store::{Counter, ForgetBefore};

pub const FREE_FAILURES: u32 = 5;
pub const MAX_BACKOFF_SECONDS: i64 = 15 * 60;
pub const ACCOUNT_FAILURES_PER_HOUR: u32 = 100;
pub const ADDRESS_ATTEMPTS_PER_MINUTE: u32 = 30;
pub const FAILED_REFRESHES_PER_MINUTE: u32 = 30;

/// A fixed window: at most `limit` events in `seconds`.
#[derive(Debug, Clone, Copy)]
pub struct WindowRule {
    pub seconds: i64,
    pub limit: u32,
}

pub const ADDRESS_WINDOW: WindowRule = WindowRule { seconds: 60, limit: ADDRESS_ATTEMPTS_PER_MINUTE };
pub const ACCOUNT_WINDOW: WindowRule = WindowRule { seconds: 60 * 60, limit: ACCOUNT_FAILURES_PER_HOUR };
pub const REFRESH_WINDOW: WindowRule = WindowRule { seconds: 60, limit: FAILED_REFRESHES_PER_MINUTE };

impl Counter {
    /// Seconds until the window lets another event through, if it is full.
    pub fn window_wait(&self, now: i64, rule: WindowRule) -> Option<u64> {
        let open = now - self.started_at < rule.seconds;
        (open && self.count >= rule.limit).then(|| seconds(self.started_at + rule.seconds - now))
    }

    pub fn window_count(&mut self, now: i64, rule: WindowRule) {
        if now - self.started_at >= rule.seconds {
            *self = Self { started_at: now, count: 0, locked_until: 0 };
        }
        self.count += 1;
    }

    fn uncount(&mut self) {
        self.count = self.count.saturating_sub(1);
    }

    fn backoff_wait(&self, now: i64) -> Option<u64> {
        (self.locked_until > now).then(|| seconds(self.locked_until - now))
    }

    /// One more failure; from the [`FREE_FAILURES`]th on, refused for 1 s, doubling, up to 15 minutes.
    fn backoff_fail(&mut self, now: i64) {
        self.count += 1;
        if self.count >= FREE_FAILURES {
            let doublings = (self.count - FREE_FAILURES).min(10);
            self.locked_until = now + (1i64 << doublings).min(MAX_BACKOFF_SECONDS);
        }
    }

    /// When it stops saying anything: its window started an hour before (none is longer than the account's
    /// hour) and its backoff ended 15 minutes before (a backoff is never longer).
    pub fn ends_at(&self) -> i64 {
        (self.started_at + ACCOUNT_WINDOW.seconds).max(self.locked_until + MAX_BACKOFF_SECONDS)
    }
}

impl ForgetBefore {
    /// The shared table's form of [`Counter::ends_at`]: a counter has ended at `now` when its window started at
    /// or before `started_at` and its backoff ended at or before `locked_until`.
    pub fn at(now: i64) -> Self {
        Self { started_at: now - ACCOUNT_WINDOW.seconds, locked_until: now - MAX_BACKOFF_SECONDS }
    }
}

fn seconds(wait: i64) -> u64 {
    u64::try_from(wait).unwrap_or(1).max(1)
}

/// A sign-in attempt from an unknown device: refused with the longest wait any of its three counters asks for,
/// or counted in all three as a failure (until it succeeds).
pub fn reserve(pair: &mut Counter, account: &mut Counter, address: &mut Counter, now: i64) -> Result<(), u64> {
    if let Some(account_wait) = account.window_wait(now, ACCOUNT_WINDOW) {
        let other_waits = [pair.backoff_wait(now), address.window_wait(now, ADDRESS_WINDOW)];
        return Err(other_waits.into_iter().flatten().fold(account_wait, u64::max));
    }
    reserve_known(pair, address, now)?;
    account.window_count(now, ACCOUNT_WINDOW);
    Ok(())
}

/// A sign-in attempt against one backoff (a known device's, or for an unknown device its (account, address)
/// pair's) and the address's window: refused while either says so, or counted in both, as a failure of the
/// backoff until it succeeds. The account's ceiling is not consulted.
pub fn reserve_known(backoff: &mut Counter, address: &mut Counter, now: i64) -> Result<(), u64> {
    let wait = [backoff.backoff_wait(now), address.window_wait(now, ADDRESS_WINDOW)].into_iter().flatten().max();
    if let Some(wait) = wait {
        return Err(wait);
    }
    address.window_count(now, ADDRESS_WINDOW);
    if backoff.started_at == 0 {
        backoff.started_at = now;
    }
    backoff.backoff_fail(now);
    Ok(())
}

/// The attempt signed in: not a failure of the account, and the end of this client's backoff on it.
pub fn succeed(pair: &mut Counter, account: &mut Counter) {
    account.uncount();
    *pair = Counter::default();
}

/// A known device's attempt signed in: the device's backoff ends.
pub fn succeed_known(device: &mut Counter) {
    *device = Counter::default();
}

/// The attempt was never tried: it counts for nothing anywhere.
pub fn cancel(pair: &mut Counter, account: &mut Counter, address: &mut Counter) {
    account.uncount();
    cancel_known(pair, address);
}

/// A known device's attempt (or the pair's part of an unknown one) was never tried.
pub fn cancel_known(backoff: &mut Counter, address: &mut Counter) {
    address.uncount();
    backoff.count = backoff.count.saturating_sub(1);
}
