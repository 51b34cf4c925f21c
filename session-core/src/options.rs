//! The client's settings; [`Options::default`] is what the app uses.

use session_contract::paths;

/// How the client renews and when it gives up for a while. Request timeouts belong to the [`Transport`]
/// (crate::Transport), which owns the clock of the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Answers to a Bearer request that mean "renew the token and replay": `[401]`.
    pub refresh_on_status: Vec<u16>,
    /// A token is renewed before it is sent once this fraction of its lifetime is left (`0.1`)…
    pub renew_ahead_fraction: f64,
    /// …or this many milliseconds, whichever is less (`60_000`).
    pub renew_ahead_max_ms: f64,
    /// After a renewal gets no usable answer, the next waits this long (`1_000`), doubling each time…
    pub backoff_first_ms: f64,
    /// …up to this (`30_000`).
    pub backoff_max_ms: f64,
    /// Where [`SessionClient::sign_in`](crate::SessionClient::sign_in) posts the credentials.
    pub login_path: String,
    /// Where a refresh is posted (with the cookie, no body).
    pub refresh_path: String,
    /// Where [`SessionClient::sign_out`](crate::SessionClient::sign_out) posts.
    pub logout_path: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            refresh_on_status: vec![401],
            renew_ahead_fraction: 0.1,
            renew_ahead_max_ms: 60_000.0,
            backoff_first_ms: 1_000.0,
            backoff_max_ms: 30_000.0,
            login_path: paths::LOGIN.to_owned(),
            refresh_path: paths::REFRESH.to_owned(),
            logout_path: paths::LOGOUT.to_owned(),
        }
    }
}
