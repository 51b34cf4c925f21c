//! The client's decisions as pure functions of the time, the token and the options.

use crate::options::Options;
use crate::ports::AccessToken;

/// Whether `token` should be renewed before it is sent at `now_ms`.
pub(crate) fn expires_soon(token: &AccessToken, now_ms: f64, options: &Options) -> bool {
    let margin = (token.lifetime_ms * options.renew_ahead_fraction).min(options.renew_ahead_max_ms);
    now_ms >= token.expires_at_ms - margin
}

/// How long to wait after the `failures`-th renewal in a row got no usable answer (counted from 0).
pub(crate) fn backoff_delay_ms(failures: u32, options: &Options) -> f64 {
    let doublings = i32::try_from(failures.min(16)).unwrap_or(16);
    (options.backoff_first_ms * 2f64.powi(doublings)).min(options.backoff_max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_at_ms: f64, lifetime_ms: f64) -> AccessToken {
        AccessToken { value: "t".to_owned(), session: "s".to_owned(), expires_at_ms, lifetime_ms }
    }

    #[test]
    fn a_token_is_renewed_ahead_by_a_tenth_of_its_life_or_a_minute() {
        let options = Options::default();
        // (expires at, lifetime, now, renew?)
        let table = [
            (900_000.0, 900_000.0, 0.0, false),
            (900_000.0, 900_000.0, 839_999.0, false),
            (900_000.0, 900_000.0, 840_000.0, true), // a minute before: a tenth would be 90 s
            (3_000.0, 3_000.0, 2_699.0, false),
            (3_000.0, 3_000.0, 2_700.0, true), // a tenth of three seconds
            (3_000.0, 3_000.0, 5_000.0, true), // expired
            (f64::INFINITY, 0.0, 1e15, false), // expiry unknown: used until refused
        ];
        for (expires_at, lifetime, now, renew) in table {
            assert_eq!(expires_soon(&token(expires_at, lifetime), now, &options), renew, "{expires_at} {now}");
        }
    }

    #[test]
    fn the_backoff_doubles_from_a_second_up_to_thirty() {
        let options = Options::default();
        let delays: Vec<f64> = (0..7).map(|failures| backoff_delay_ms(failures, &options)).collect();
        assert_eq!(delays, [1_000.0, 2_000.0, 4_000.0, 8_000.0, 16_000.0, 30_000.0, 30_000.0]);
        assert_eq!(backoff_delay_ms(u32::MAX, &options), 30_000.0, "no overflow however long the outage");
    }
}
