//! What the client needs from its surroundings, supplied by the app (fetch, localStorage, the browser's tabs) or
//! by a test (fakes that drive the races).

use std::time::Duration;

use crate::error::TransportError;
use crate::request::{RequestRecipe, Response};

/// HTTP. The client lives on one thread (the browser's); its futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Sends the request with its headers as they are (the CSRF marker is already among them) and
    /// `Authorization: Bearer <bearer>` when a token is given, with the browser's cookies (the refresh cookie
    /// goes to the `/auth` paths), and returns any HTTP answer with the headers it can read.
    async fn send(&self, request: &RequestRecipe, bearer: Option<&str>) -> Result<Response, TransportError>;
}

/// The access token and when it expires by this client's own clock: computed from `expiresIn` at receipt, so
/// a wrong wall clock on the device does not matter.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessToken {
    /// The JWT, sent as it is.
    pub value: String,
    /// Which sign-in this token belongs to, the same for every token refreshed from it (see [`session_of`]):
    /// a refresh's answer, or a refused request's replay, applies only to the session it started from.
    pub session: String,
    /// When it expires, in milliseconds on the [`Clock`]'s wall-clock scale; `None` when unknown (a token
    /// stored by hand or by an older app: used until the server refuses it).
    pub expires_at_ms: Option<f64>,
    /// How long it was valid for when it arrived (zero when unknown).
    pub lifetime: Duration,
}

impl AccessToken {
    /// A token of `session`, expiring at `expires_at_ms` (see the field).
    pub fn new(
        value: impl Into<String>,
        session: impl Into<String>,
        expires_at_ms: Option<f64>,
        lifetime: Duration,
    ) -> Self {
        Self { value: value.into(), session: session.into(), expires_at_ms, lifetime }
    }
}

/// Where the access token lives; shared by every tab of the app.
pub trait TokenStore {
    /// The stored token, if any.
    fn load(&self) -> Option<AccessToken>;
    /// Replaces the stored token.
    fn save(&self, token: &AccessToken);
    /// Forgets the token (signed out, or the session ended).
    fn clear(&self);
    /// Remembers that a sign-out has not reached the server yet, so that the next start can tell it. The
    /// default remembers nothing: such a store skips the retry.
    fn set_logout_pending(&self, _pending: bool) {}
    /// Whether a sign-out still has to reach the server.
    fn logout_pending(&self) -> bool {
        false
    }
}

/// Two clocks: the wall clock that expiry times in the shared [`TokenStore`] are written in (every tab reads
/// them), and a monotonic one for durations (backoff), which a wall-clock jump must not stretch or shrink.
pub trait Clock {
    /// Wall-clock milliseconds, as every tab of the app reads them (`Date.now()`).
    fn now_ms(&self) -> f64;
    /// Milliseconds that only ever go forward (`performance.now()`).
    fn monotonic_ms(&self) -> f64;
}

/// The app's other tabs: one refresh at a time across all of them, and news of sign-in and sign-out.
#[allow(async_fn_in_trait)]
pub trait Tabs {
    /// Held while this tab refreshes; released when dropped.
    type Lock;
    /// Waits for the cross-tab refresh lock, or for a timeout after which the tab goes on without it.
    async fn lock(&self) -> Self::Lock;
    /// Tells the other tabs; they pass it to [`SessionClient::receive_from_other_tab`](crate::SessionClient).
    fn announce(&self, event: SessionEvent);
}

/// The session a freshly signed-in access token starts: its signature, unique to it (a token that is not a JWT
/// stands for itself). Kept with every token refreshed from it.
pub fn session_of(access_token: &str) -> String {
    access_token.rsplit('.').next().unwrap_or(access_token).to_owned()
}

/// A client alone in its browser, or in a test: no lock to take, nobody to tell.
pub struct SingleTab;

impl Tabs for SingleTab {
    type Lock = ();
    async fn lock(&self) {}
    fn announce(&self, _: SessionEvent) {}
}

/// What happened to the session, in this tab or (through [`Tabs`]) another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A sign-in stored a new session's token.
    SignedIn,
    /// A new access token was stored; other tabs read it from the shared store and need no news of it.
    Renewed,
    /// The server ended the session (the refresh was refused), for this reason: the user must sign in again.
    Ended(EndReason),
    /// The user signed out.
    SignedOut,
}

/// Why the server ended a session, from the code of the refresh's `403`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndReason {
    /// Its time was up (absolute or idle), or it was revoked: a sign-out elsewhere, a password change.
    Expired,
    /// A refresh token of it was presented again after it had been rotated: someone else holds a copy, and the
    /// server revoked the whole session (`refresh_token_reused`).
    Reused,
}

#[cfg(test)]
mod tests {
    use super::session_of;

    #[test]
    fn a_session_is_named_by_the_signature_of_the_token_that_began_it() {
        assert_eq!(session_of("header.payload.signature"), "signature");
        assert_eq!(session_of("opaque"), "opaque", "a token that is not a JWT stands for itself");
    }
}
