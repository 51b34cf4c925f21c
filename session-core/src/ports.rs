//! What the client needs from its surroundings, supplied by the app (fetch, localStorage, the browser's tabs) or
//! by a test (fakes that drive the races).

use std::time::Duration;

use crate::error::TransportError;
use crate::request::{RequestRecipe, Response};

/// HTTP. The client lives on one thread (the browser's); its futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Sends the request with its headers as they are (the CSRF marker is already among them; a DPoP-bound
    /// token's `Authorization: DPoP …` and its `DPoP` proof too) and `Authorization: Bearer <bearer>` when a
    /// token is given, with the browser's cookies (the refresh cookie goes to the `/auth` paths), and returns any
    /// HTTP answer with the headers it can read.
    async fn send(&self, request: &RequestRecipe, bearer: Option<&str>) -> Result<Response, TransportError>;

    /// The absolute URL a request to `path` goes to, as the server's public URL names it (a DPoP proof's `htu`).
    fn url(&self, path: &str) -> String;
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
    /// Whether its session is bound to this device's key (DPoP): then it is sent as `Authorization: DPoP …`
    /// with a proof, never as `Bearer`.
    pub bound: bool,
}

impl AccessToken {
    /// A token of `session`, expiring at `expires_at_ms` (see the field).
    pub fn new(
        value: impl Into<String>,
        session: impl Into<String>,
        expires_at_ms: Option<f64>,
        lifetime: Duration,
    ) -> Self {
        Self { value: value.into(), session: session.into(), expires_at_ms, lifetime, bound: false }
    }

    /// The same token, bound to the device's key (or not).
    #[must_use]
    pub fn bound_to_the_device(self, bound: bool) -> Self {
        Self { bound, ..self }
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
    /// Held while this tab changes the session (signs in, sends the logout, refreshes); released when dropped.
    type Lock;
    /// Waits for the cross-tab refresh lock, or for a timeout after which the tab goes on without it.
    async fn lock(&self) -> Self::Lock;
    /// Tells the other tabs, each in the order this tab announced; they pass it to
    /// [`SessionClient::receive_from_other_tab`](crate::SessionClient::receive_from_other_tab).
    fn announce(&self, news: &News);
}

/// The session a freshly signed-in access token starts: its signature, unique to it (a token that is not a JWT
/// stands for itself). Kept with every token refreshed from it.
pub fn session_of(access_token: &str) -> String {
    access_token.rsplit('.').next().unwrap_or(access_token).to_owned()
}

/// Whether `value` can be sent as a Bearer token: RFC 6750's `b64token` (letters, digits, `-._~+/`, then any
/// `=`), which a JWT always is. Anything else in the token store is not this app's token (a header could not
/// carry it): it is treated as no token.
pub fn is_bearer_token(value: &str) -> bool {
    let body = value.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-._~+/".contains(&byte))
}

/// A client alone in its browser, or in a test: no lock to take, nobody to tell.
pub struct SingleTab;

impl Tabs for SingleTab {
    type Lock = ();
    async fn lock(&self) {}
    fn announce(&self, _: &News) {}
}

/// What happened to the session, in this tab or (through [`Tabs`]) another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// A session this tab's listeners did not know of is stored: a sign-in, here or in another tab (heard by its
    /// announcement or found in the shared store).
    SignedIn,
    /// A new access token was stored; other tabs hear it with the token, in case their view of the shared store
    /// is late.
    Renewed,
    /// The server ended the session (the refresh was refused), for this reason: the user must sign in again.
    Ended(EndReason),
    /// The user signed out.
    SignedOut,
}

/// What a tab tells the others: the event, and the session it speaks of, so that a late word about an old session
/// never reaches a newer one.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct News {
    /// What happened.
    pub event: SessionEvent,
    /// The session it happened to (`None`: a sign-out where nobody was signed in).
    pub session: Option<String>,
    /// The new token of a sign-in or renewal.
    pub token: Option<AccessToken>,
}

impl News {
    /// A sign-in or renewal, with its token.
    pub fn of_token(event: SessionEvent, token: AccessToken) -> Self {
        Self { event, session: Some(token.session.clone()), token: Some(token) }
    }

    /// A sign-out or an end, of `session`.
    pub fn of_session(event: SessionEvent, session: Option<String>) -> Self {
        Self { event, session, token: None }
    }

    /// Whether a tab whose store holds `stored` should take this in. Old news is not: a sign-out or end of a
    /// session other than the stored one (a newer sign-in replaced it), a renewal of a session not stored
    /// here, or a token issued before the stored one of another session.
    pub fn is_news_to(&self, stored: Option<&AccessToken>) -> bool {
        let Some(stored) = stored else {
            // Signed out here: a late renewal must not sign this tab back in.
            return self.event != SessionEvent::Renewed;
        };
        let same_session = self.session.as_deref() == Some(stored.session.as_str());
        match (&self.token, self.event) {
            (None, _) => same_session || self.session.is_none(),
            (Some(token), SessionEvent::Renewed) => same_session && !issued_before(token, stored),
            (Some(token), _) => !issued_before(token, stored),
        }
    }
}

/// Whether `token` was received before `other`, by the wall clock both were stamped with (a token whose expiry
/// is unknown is never the older).
fn issued_before(token: &AccessToken, other: &AccessToken) -> bool {
    let issued = |token: &AccessToken| token.expires_at_ms.map(|at| at - token.lifetime.as_secs_f64() * 1000.0);
    matches!((issued(token), issued(other)), (Some(token), Some(other)) if token < other)
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
    use std::time::Duration;

    use super::{AccessToken, EndReason, News, SessionEvent, session_of};

    #[test]
    fn old_news_from_another_tab_is_not_taken_in() {
        // Tokens received at 1 000 ms (session a, valid for 900 s) and 2 000 ms (session b, valid for 60 s): b is
        // the newer although it expires first.
        let a = AccessToken::new("ta", "a", Some(901_000.0), Duration::from_secs(900));
        let b = AccessToken::new("tb", "b", Some(62_000.0), Duration::from_secs(60));
        let a_renewed = AccessToken::new("ta2", "a", Some(903_000.0), Duration::from_secs(900));
        // Received at 1 000 ms for one second, and at 3 000 ms for 1 000 s.
        let short_lived = AccessToken::new("ts", "s", Some(2_000.0), Duration::from_secs(1));
        let long_lived = AccessToken::new("tl", "l", Some(1_003_000.0), Duration::from_secs(1_000));
        let ended = |session: &str| News::of_session(SessionEvent::Ended(EndReason::Expired), Some(session.to_owned()));
        let signed_out = |session: Option<&str>| News::of_session(SessionEvent::SignedOut, session.map(str::to_owned));
        // (news, what this tab's store holds, taken in?)
        let table = [
            (ended("a"), Some(&a), true),
            (ended("a"), None, true),
            (ended("a"), Some(&b), false), // a late "expired" of the old session: b is newer
            (signed_out(Some("a")), Some(&b), false),
            (signed_out(Some("a")), Some(&a), true),
            (signed_out(None), Some(&a), true),
            (News::of_token(SessionEvent::Renewed, a_renewed.clone()), Some(&a), true),
            (News::of_token(SessionEvent::Renewed, a.clone()), Some(&a_renewed), false), // a late, older renewal
            (News::of_token(SessionEvent::Renewed, a_renewed.clone()), Some(&b), false),
            (News::of_token(SessionEvent::Renewed, a_renewed.clone()), None, false), // signed out here meanwhile
            (News::of_token(SessionEvent::SignedIn, b.clone()), Some(&a), true),     // newer, though it expires first
            (News::of_token(SessionEvent::SignedIn, b.clone()), None, true),
            (News::of_token(SessionEvent::SignedIn, short_lived.clone()), Some(&long_lived), false), // older
            (News::of_token(SessionEvent::SignedIn, a.clone()), Some(&b), false), // a late sign-in, older than b
            (News::of_token(SessionEvent::SignedIn, AccessToken::new("x", "x", None, Duration::ZERO)), Some(&b), true),
        ];
        for (news, stored, taken) in table {
            assert_eq!(news.is_news_to(stored), taken, "{news:?} to {stored:?}");
        }
    }

    #[test]
    fn only_what_a_header_can_carry_is_a_token() {
        let table = [
            ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", true),
            ("opaque-token_1~2+3/4==", true),
            ("", false),
            ("==", false),
            ("a=b", false),
            ("two words", false),
            ("caf\u{e9}", false),
            ("\u{d1a8}\u{d070}", false),
            ("line\nbreak", false),
            (r#"{"value":"x"}"#, false),
            (r#""quoted""#, false),
        ];
        for (value, sendable) in table {
            assert_eq!(super::is_bearer_token(value), sendable, "{value:?}");
        }
    }

    #[test]
    fn a_session_is_named_by_the_signature_of_the_token_that_began_it() {
        assert_eq!(session_of("header.payload.signature"), "signature");
        assert_eq!(session_of("opaque"), "opaque", "a token that is not a JWT stands for itself");
    }
}
