//! The client's settings; [`Options::default`] is what the app uses.

use std::time::Duration;

use futures::future::LocalBoxFuture;
use session_contract::paths;

/// How the client renews and when it gives up for a while. Request timeouts belong to the
/// [`Transport`](crate::Transport), which owns the clock of the wire. Change the fields of
/// [`Options::default`]; new ones may come in a minor release.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Answers to a Bearer request that mean "renew the token and replay": `[401]`.
    pub refresh_on_status: Vec<u16>,
    /// A token is renewed before it is sent once this fraction of its lifetime is left (`0.1`)…
    pub renew_ahead_fraction: f64,
    /// …or this long, whichever is less (one minute).
    pub renew_ahead_max: Duration,
    /// After a renewal gets no usable answer, the next waits this long (one second), doubling each time…
    pub backoff_first: Duration,
    /// …up to this (30 s).
    pub backoff_max: Duration,
    /// How long a refresh may take before it is retried (4 s): well inside the server's grace window (10 s by
    /// default for a Bearer session), so that the retry of a lost answer gets the same child rather than a reuse alarm.
    pub refresh_timeout: Duration,
    /// Runs a refresh to completion whoever still waits for it (`wasm_bindgen_futures::spawn_local` in a
    /// browser). Without it a refresh progresses only while some request awaits it.
    pub spawn: Option<fn(LocalBoxFuture<'static, ()>)>,
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
            renew_ahead_max: Duration::from_secs(60),
            backoff_first: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            refresh_timeout: Duration::from_secs(4),
            spawn: None,
            login_path: paths::LOGIN.to_owned(),
            refresh_path: paths::REFRESH.to_owned(),
            logout_path: paths::LOGOUT.to_owned(),
        }
    }
}
