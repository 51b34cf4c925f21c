//! The client: sends requests with the stored access token, renews it once however many requests are refused
//! at once, and replays each refused request once.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures::future::{FutureExt, LocalBoxFuture, Shared};
use serde::de::DeserializeOwned;
use session_contract::{Credentials, ErrorCode, TokenResponse};

use crate::error::SessionError;
use crate::listeners::{Listeners, Subscription};
use crate::options::Options;
use crate::policy::{backoff_delay, expires_soon, milliseconds};
use crate::ports::{AccessToken, Clock, EndReason, SessionEvent, Tabs, TokenStore, Transport, session_of};
use crate::request::{Auth, RequestRecipe, Response};

#[cfg(test)]
mod tests;

type Renewal = Shared<LocalBoxFuture<'static, Result<(), SessionError>>>;

/// The session client. Cloning it is cheap and every clone is the same client (one renewal in flight, one
/// set of listeners).
pub struct SessionClient<T, S, C, X> {
    inner: Rc<Inner<T, S, C, X>>,
}

impl<T, S, C, X> Clone for SessionClient<T, S, C, X> {
    fn clone(&self) -> Self {
        Self { inner: Rc::clone(&self.inner) }
    }
}

struct Inner<T, S, C, X> {
    transport: T,
    store: S,
    clock: C,
    tabs: X,
    options: Options,
    /// The one renewal in flight, shared by every request that needs it.
    renewal: RefCell<Option<Renewal>>,
    backoff: RefCell<Backoff>,
    listeners: Rc<Listeners>,
    /// Why the store is empty, when it is: the session expired (in this tab or another), or the user signed out.
    expired: Cell<bool>,
}

/// Renewals that got no usable answer, so that a blip is retried but an outage is not hammered.
#[derive(Default)]
struct Backoff {
    failures: u32,
    retry_at_ms: f64,
    last_error: Option<SessionError>,
}

impl<T, S, C, X> SessionClient<T, S, C, X>
where
    T: Transport + 'static,
    S: TokenStore + 'static,
    C: Clock + 'static,
    X: Tabs + 'static,
{
    /// A client with the default [`Options`].
    pub fn new(transport: T, store: S, clock: C, tabs: X) -> Self {
        Self::with_options(transport, store, clock, tabs, Options::default())
    }

    /// A client with the given [`Options`].
    pub fn with_options(transport: T, store: S, clock: C, tabs: X, options: Options) -> Self {
        Self {
            inner: Rc::new(Inner {
                transport,
                store,
                clock,
                tabs,
                options,
                renewal: RefCell::new(None),
                backoff: RefCell::new(Backoff::default()),
                listeners: Rc::default(),
                expired: Cell::new(false),
            }),
        }
    }

    /// What another tab announced. The token store is shared, so only this tab's listeners need to hear it.
    pub fn receive_from_other_tab(&self, event: SessionEvent) {
        self.inner.emit(event);
    }

    /// Renews a token about to expire; the periodic check of idle tabs calls this.
    ///
    /// # Errors
    /// Only when the session it started from is over here ([`SessionError::SessionExpired`],
    /// [`SessionError::Unauthorized`], [`SessionError::SessionChanged`]): a blip is retried by the next check or request.
    pub async fn renew_if_due(&self) -> Result<(), SessionError> {
        match self.inner.store.load() {
            Some(token) if self.inner.expires_soon(&token) => {
                unless_session_ended(self.renew_unless_already_renewed(&token).await)
            }
            _ => Ok(()),
        }
    }

    /// The browser is online again: whatever a lost connection made the client wait for is retried at once.
    pub fn network_restored(&self) {
        self.inner.backoff.replace(Backoff::default());
    }

    /// The [`TokenStore`] this client was built with, for what it can tell of itself.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The [`Tabs`] this client was built with, for the adapter that delivers the other tabs' news.
    pub fn tabs(&self) -> &X {
        &self.inner.tabs
    }

    /// Calls `listener` on every [`SessionEvent`], from this tab or another, until the returned
    /// [`Subscription`] is dropped.
    pub fn on_event(&self, listener: impl Fn(SessionEvent) + 'static) -> Subscription {
        self.inner.listeners.subscribe(Rc::new(listener))
    }

    /// Whether a token is stored (it may still be refused; the first request finds out).
    pub fn is_signed_in(&self) -> bool {
        self.inner.store.load().is_some()
    }

    /// `POST` the credentials to the login path and keep the token it answers with.
    ///
    /// # Errors
    /// A refusal as [`SessionError::Status`] (`invalid_credentials`, `too_many_attempts`), or no answer.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<(), SessionError> {
        let credentials = Credentials { username: username.to_owned(), password: password.to_owned() };
        let request = RequestRecipe::post(self.inner.options.login_path.as_str()).with_json(&credentials)?.anonymous();
        let response = self.send(&request).await?;
        self.inner.adopt(&response, None)?;
        // The browser now holds the new session's cookie: a logout still pending would end that one.
        self.inner.store.set_logout_pending(false);
        self.inner.backoff.replace(Backoff::default());
        self.inner.emit_and_announce(SessionEvent::SignedIn);
        Ok(())
    }

    /// Tells the server of a sign-out it did not hear (no answer, or a 5xx), if nobody signed in since.
    pub async fn finish_pending_logout(&self) {
        if self.inner.store.logout_pending() && !self.is_signed_in() {
            self.tell_the_server_of_the_sign_out().await;
        }
    }

    /// `POST` the logout path with the cookie; remembers, for the next start, when the server did not hear.
    async fn tell_the_server_of_the_sign_out(&self) {
        let logout = RequestRecipe::post(self.inner.options.logout_path.as_str()).anonymous().keepalive();
        let unheard = matches!(
            self.send(&logout).await,
            Err(SessionError::Network | SessionError::Timeout | SessionError::Server { .. })
        );
        self.inner.store.set_logout_pending(unheard);
    }

    /// Ends the session here and in every tab at once, then on the server when it can be reached: closing the
    /// tab right after still signs out locally, and a refresh still on the wire finds the session gone.
    pub async fn sign_out(&self) {
        self.inner.store.clear();
        self.inner.emit_and_announce(SessionEvent::SignedOut);
        self.tell_the_server_of_the_sign_out().await;
    }

    /// `GET path` as JSON.
    ///
    /// # Errors
    /// As [`SessionClient::send`], and [`SessionError::Decode`] for an answer of another shape.
    pub async fn get_json<R: DeserializeOwned>(&self, path: &str) -> Result<R, SessionError> {
        self.send(&RequestRecipe::get(path)).await?.json()
    }

    /// Sends the request; a Bearer request refused with a status of `refresh_on_status` is replayed once after
    /// the shared renewal, and only with a token of the session it was first sent with.
    ///
    /// # Errors
    /// Any answer but a 2xx, as an [`SessionError`]; [`SessionError::Unauthorized`] when the user was signed out, and
    /// [`SessionError::SessionChanged`] when someone else signed in, while the request waited.
    pub async fn send(&self, request: &RequestRecipe) -> Result<Response, SessionError> {
        // Every request that changes something carries the CSRF marker, however it was made.
        let marked = request.with_marker_if_missing();
        let request = marked.as_ref().unwrap_or(request);
        if request.auth == Auth::Anonymous {
            return success(self.inner.transport.send(request, None).await?);
        }
        let sent_with = self.token_to_send().await?;
        let response = self.inner.transport.send(request, Some(&sent_with.value)).await?;
        if !self.inner.means_renew(response.status) {
            return success(response);
        }

        self.renew_unless_already_renewed(&sent_with).await?;
        let renewed = self.inner.token_of(&sent_with.session)?;
        let replay = self.inner.transport.send(request, Some(&renewed.value)).await?;
        if self.inner.means_renew(replay.status) {
            // A fresh token refused too: report it rather than loop through another renewal.
            return Err(SessionError::Unauthorized);
        }
        success(replay)
    }

    /// The token to send. A request started while a renewal runs waits for it instead of sending a token known
    /// to be stale; a token about to expire is renewed first. Without a token there is nothing to send: nobody
    /// is signed in here.
    async fn token_to_send(&self) -> Result<AccessToken, SessionError> {
        let running = self.inner.renewal.borrow().clone();
        if let Some(renewal) = running {
            unless_session_ended(renewal.await)?;
        }
        let token = self.inner.store.load().ok_or(SessionError::Unauthorized)?;
        if !self.inner.expires_soon(&token) {
            return Ok(token);
        }
        unless_session_ended(self.renew_unless_already_renewed(&token).await)?;
        self.inner.token_of(&token.session)
    }

    /// Joins the renewal in flight, or starts one, unless the store already answers the need: another request
    /// or tab renewed the token meanwhile, or the session it belongs to is no longer the stored one.
    async fn renew_unless_already_renewed(&self, refused: &AccessToken) -> Result<(), SessionError> {
        let running = self.inner.renewal.borrow().clone();
        if let Some(renewal) = running {
            return renewal.await;
        }
        if let Some(settled) = self.inner.already_settled(refused) {
            return settled;
        }
        if let Some(error) = self.inner.backing_off() {
            return Err(error);
        }
        self.start_renewal(refused.clone()).await
    }

    /// The renewal, shared by every request that needs it and, where the options give a spawner, run to the
    /// end even when they all go away (the rotated token is kept and the cross-tab lock released).
    fn start_renewal(&self, refused: AccessToken) -> Renewal {
        let inner = Rc::clone(&self.inner);
        let renewal = async move {
            let outcome = inner.renew_across_tabs(&refused).await;
            inner.record(&outcome);
            inner.renewal.borrow_mut().take();
            outcome
        }
        .boxed_local()
        .shared();
        *self.inner.renewal.borrow_mut() = Some(renewal.clone());
        if let Some(spawn) = self.inner.options.spawn {
            let to_the_end = renewal.clone();
            spawn(async move { drop(to_the_end.await) }.boxed_local());
        }
        renewal
    }
}

impl<T: Transport, S: TokenStore, C: Clock, X: Tabs> Inner<T, S, C, X> {
    fn means_renew(&self, status: u16) -> bool {
        self.options.refresh_on_status.contains(&status)
    }

    fn expires_soon(&self, token: &AccessToken) -> bool {
        expires_soon(token, self.clock.now_ms(), &self.options)
    }

    /// The stored token, if it still belongs to `session`.
    fn token_of(&self, session: &str) -> Result<AccessToken, SessionError> {
        match self.store.load() {
            None if self.expired.get() => Err(SessionError::SessionExpired),
            None => Err(SessionError::Unauthorized),
            Some(current) if current.session != session => Err(SessionError::SessionChanged),
            Some(current) => Ok(current),
        }
    }

    /// Whether the store already answers the need to renew `refused`: another request or tab replaced it
    /// (`Ok`), the user signed out (`Unauthorized`), or someone else signed in (`SessionChanged`).
    fn already_settled(&self, refused: &AccessToken) -> Option<Result<(), SessionError>> {
        match self.token_of(&refused.session) {
            Ok(current) if current.value == refused.value => None,
            Ok(_) => Some(Ok(())),
            Err(changed) => Some(Err(changed)),
        }
    }

    /// Under the cross-tab lock, and only if no other tab renewed the token while this one waited for it.
    async fn renew_across_tabs(&self, refused: &AccessToken) -> Result<(), SessionError> {
        let _lock = self.tabs.lock().await;
        if let Some(settled) = self.already_settled(refused) {
            return settled;
        }
        self.renew(&refused.session).await
    }

    /// The last renewal's error while its backoff lasts.
    fn backing_off(&self) -> Option<SessionError> {
        let backoff = self.backoff.borrow();
        (self.clock.monotonic_ms() < backoff.retry_at_ms).then(|| backoff.last_error.clone()).flatten()
    }

    /// Only the failures that a later attempt may cure (no answer, a timeout, a 5xx) back off.
    fn record(&self, outcome: &Result<(), SessionError>) {
        let mut backoff = self.backoff.borrow_mut();
        match outcome {
            Err(error @ (SessionError::Network | SessionError::Timeout | SessionError::Server { .. })) => {
                backoff.retry_at_ms =
                    self.clock.monotonic_ms() + milliseconds(backoff_delay(backoff.failures, &self.options));
                backoff.failures = backoff.failures.saturating_add(1);
                backoff.last_error = Some(error.clone());
            }
            _ => *backoff = Backoff::default(),
        }
    }

    /// One refresh of `session`, retried once at once if its answer is lost: the server answers the same token
    /// again with the same child inside its grace window. Its outcome applies only if the store still holds
    /// that session: a sign-out or another sign-in meanwhile wins, and the outcome is dropped unannounced.
    /// Only its 403 ends the session; no answer or a 5xx keep the token.
    async fn renew(&self, session: &str) -> Result<(), SessionError> {
        let request = RequestRecipe::post(self.options.refresh_path.as_str())
            .anonymous()
            .with_timeout(self.options.refresh_timeout);
        let response = match self.transport.send(&request, None).await {
            Ok(response) => response,
            Err(_) => self.transport.send(&request, None).await?,
        };
        self.token_of(session)?;
        match response.status {
            200..=299 => {
                self.adopt(&response, Some(session.to_owned()))?;
                self.emit(SessionEvent::Renewed);
                Ok(())
            }
            403 => {
                self.store.clear();
                self.emit_and_announce(SessionEvent::Ended(end_reason(&response)));
                Err(SessionError::SessionExpired)
            }
            status => Err(SessionError::from_status(status, &response.body)),
        }
    }

    fn adopt(&self, response: &Response, session: Option<String>) -> Result<(), SessionError> {
        let body: TokenResponse = response.json()?;
        let session = session.unwrap_or_else(|| session_of(&body.access_token));
        let lifetime = Duration::from_secs(body.expires_in);
        self.store.save(&AccessToken {
            value: body.access_token,
            session,
            expires_at_ms: Some(self.clock.now_ms() + milliseconds(lifetime)),
            lifetime,
        });
        Ok(())
    }

    fn emit_and_announce(&self, event: SessionEvent) {
        self.tabs.announce(event);
        self.emit(event);
    }

    fn emit(&self, event: SessionEvent) {
        match event {
            SessionEvent::Ended(_) => self.expired.set(true),
            SessionEvent::SignedIn | SessionEvent::SignedOut => self.expired.set(false),
            SessionEvent::Renewed => {}
        }
        self.listeners.emit(event);
    }
}

/// Why the refresh's `403` ended the session, from the contract's code.
fn end_reason(response: &Response) -> EndReason {
    match SessionError::from_status(response.status, &response.body).code() {
        Some(ErrorCode::RefreshTokenReused) => EndReason::Reused,
        _ => EndReason::Expired,
    }
}

/// A failed renewal matters to a request only when the session is no longer the one it started with (ended,
/// signed out, someone else's); after a blip the token may still do.
fn unless_session_ended(renewal: Result<(), SessionError>) -> Result<(), SessionError> {
    match renewal {
        Err(error @ (SessionError::SessionExpired | SessionError::Unauthorized | SessionError::SessionChanged)) => {
            Err(error)
        }
        _ => Ok(()),
    }
}

fn success(response: Response) -> Result<Response, SessionError> {
    if (200..300).contains(&response.status) {
        Ok(response)
    } else {
        Err(SessionError::from_status(response.status, &response.body))
    }
}
