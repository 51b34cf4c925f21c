//! Which failures a query retries, and after how long: TanStack Query v5's defaults, minus what the session
//! client owns.

use session_core::SessionError;

/// Retries after the first failure.
pub const RETRIES: u32 = 3;
const FIRST_RETRY_MS: f64 = 1_000.0;
const MAX_RETRY_MS: f64 = 30_000.0;

/// Worth asking again: no answer, no answer in time, a server error, or a device key the browser failed to read
/// just now. A 401 or 403 never is: the session client has already refreshed and replayed, and a refusal it
/// passes on is final. Neither is any other refusal or an answer that does not decode: asking again gets the same.
pub fn is_retryable(error: &SessionError) -> bool {
    matches!(
        error,
        SessionError::Network | SessionError::Timeout | SessionError::Server { .. } | SessionError::DeviceKey
    )
}

/// The wait before retry number `retry` (1 for the first): 1 s, 2 s, 4 s, …, at most 30 s.
pub fn retry_delay_ms(retry: u32) -> f64 {
    let doublings = retry.saturating_sub(1).min(16);
    (FIRST_RETRY_MS * f64::from(1u32 << doublings)).min(MAX_RETRY_MS)
}

#[cfg(test)]
mod tests {
    use session_core::ErrorCode;

    use super::*;

    #[test]
    fn only_failures_that_may_pass_are_retried() {
        let cases = [
            (SessionError::Network, true),
            (SessionError::Timeout, true),
            (SessionError::Server { status: 500 }, true),
            (SessionError::Server { status: 503 }, true),
            (SessionError::DeviceKey, true),
            (SessionError::Unauthorized, false),
            (SessionError::SessionExpired, false),
            (SessionError::SessionChanged, false),
            (SessionError::Status { status: 401, code: ErrorCode::InvalidToken, message: String::new() }, false),
            (SessionError::Status { status: 403, code: ErrorCode::Csrf, message: String::new() }, false),
            (SessionError::Status { status: 404, code: ErrorCode::NotFound, message: String::new() }, false),
        ];
        for (error, retryable) in cases {
            assert_eq!(is_retryable(&error), retryable, "{error:?}");
        }
    }

    #[test]
    fn retries_wait_one_two_four_seconds_and_never_more_than_thirty() {
        let delays: Vec<f64> = (1..=7).map(retry_delay_ms).collect();
        assert_eq!(delays, [1_000.0, 2_000.0, 4_000.0, 8_000.0, 16_000.0, 30_000.0, 30_000.0]);
        assert_eq!(retry_delay_ms(u32::MAX), 30_000.0);
    }
}
