//! The client's decisions as pure functions of the time, the token and the options.

use std::time::Duration;

use crate::options::Options;
use crate::ports::AccessToken;

/// Whether `token` should be renewed before it is sent at `now_ms`.
/// A token whose expiry is unknown is used until the server refuses it.
pub(crate) fn expires_soon(token: &AccessToken, now_ms: f64, options: &Options) -> bool {
    let Some(expires_at_ms) = token.expires_at_ms else { return false };
    let share = Duration::try_from_secs_f64(token.lifetime.as_secs_f64() * options.renew_ahead_fraction);
    let margin = share.unwrap_or(Duration::ZERO).min(options.renew_ahead_max);
    now_ms >= expires_at_ms - milliseconds(margin)
}

/// How long to wait after the `failures`-th renewal in a row got no usable answer (counted from 0).
pub(crate) fn backoff_delay(failures: u32, options: &Options) -> Duration {
    options.backoff_first.saturating_mul(1 << failures.min(16)).min(options.backoff_max)
}

/// The longest a `Retry-After` is honoured: a server (or a proxy) asking for a day must not stop renewals for one.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(300);

/// A `Retry-After` in seconds (the contract's form), at most five minutes; `None` for a date or anything else.
pub(crate) fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse().ok().map(|seconds| Duration::from_secs(seconds).min(RETRY_AFTER_MAX))
}

/// A duration on the [`Clock`](crate::Clock)'s millisecond scale.
pub(crate) fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_at_ms: Option<f64>, lifetime_ms: u64) -> AccessToken {
        AccessToken::new("t", "s", expires_at_ms, Duration::from_millis(lifetime_ms))
    }

    #[test]
    fn a_token_is_renewed_ahead_by_a_tenth_of_its_life_or_a_minute() {
        let options = Options::default();
        // (expires at, lifetime, now, renew?)
        let table = [
            (Some(900_000.0), 900_000, 0.0, false),
            (Some(900_000.0), 900_000, 839_999.0, false),
            (Some(900_000.0), 900_000, 840_000.0, true), // a minute before: a tenth would be 90 s
            (Some(3_000.0), 3_000, 2_699.0, false),
            (Some(3_000.0), 3_000, 2_700.0, true), // a tenth of three seconds
            (Some(3_000.0), 3_000, 5_000.0, true), // expired
            (None, 0, 1e15, false),                // expiry unknown: used until refused
        ];
        for (expires_at, lifetime, now, renew) in table {
            assert_eq!(expires_soon(&token(expires_at, lifetime), now, &options), renew, "{expires_at:?} {now}");
        }
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        let table = [
            ("5", Some(5)),
            (" 120 ", Some(120)),
            ("0", Some(0)),
            ("86400", Some(300)), // capped at five minutes
            ("-1", None),
            ("1.5", None),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
            ("", None),
        ];
        for (value, seconds) in table {
            assert_eq!(retry_after(value), seconds.map(Duration::from_secs), "{value:?}");
        }
    }

    #[test]
    fn the_backoff_doubles_from_a_second_up_to_thirty() {
        let options = Options::default();
        let delays: Vec<u64> = (0..7).map(|failures| backoff_delay(failures, &options).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff_delay(u32::MAX, &options), Duration::from_secs(30), "no overflow however long the outage");
    }
}
