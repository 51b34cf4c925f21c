//! The client: sends requests with the stored access token, renews it once however many requests are refused
//! at once, and replays each refused request once.

use std::cell::RefCell;
use std::rc::Rc;

use futures::future::{FutureExt, LocalBoxFuture, Shared};
use serde::de::DeserializeOwned;
use session_contract::{Credentials, TokenResponse};

use crate::error::ApiError;
use crate::options::Options;
use crate::policy::{backoff_delay_ms, expires_soon};
use crate::ports::{AccessToken, Clock, SessionEvent, Tabs, TokenStore, Transport, session_of};
use crate::request::{Auth, RequestRecipe, Response};

#[cfg(test)]
mod tests;

type Renewal = Shared<LocalBoxFuture<'static, Result<(), ApiError>>>;
type Listener = Rc<dyn Fn(SessionEvent)>;

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
    listeners: RefCell<Vec<Listener>>,
}

/// Renewals that got no usable answer, so that a blip is retried but an outage is not hammered.
#[derive(Default)]
struct Backoff {
    failures: u32,
    retry_at_ms: f64,
    last_error: Option<ApiError>,
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
                listeners: RefCell::new(Vec::new()),
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
    /// Only [`ApiError::SessionExpired`]: anything else is retried by the next check or request.
    pub async fn renew_if_due(&self) -> Result<(), ApiError> {
        match self.inner.store.load() {
            Some(token) if self.inner.expires_soon(&token) => {
                unless_session_ended(self.renew_unless_already_renewed(&token.value).await)
            }
            _ => Ok(()),
        }
    }

    /// The [`Tabs`] this client was built with, for the adapter that delivers the other tabs' news.
    pub fn tabs(&self) -> &X {
        &self.inner.tabs
    }

    /// Calls `listener` on every [`SessionEvent`], from this tab or another.
    pub fn on_event(&self, listener: impl Fn(SessionEvent) + 'static) {
        self.inner.listeners.borrow_mut().push(Rc::new(listener));
    }

    /// Whether a token is stored (it may still be refused; the first request finds out).
    pub fn is_signed_in(&self) -> bool {
        self.inner.store.load().is_some()
    }

    /// `POST` the credentials to the login path and keep the token it answers with.
    ///
    /// # Errors
    /// A refusal as [`ApiError::Status`] (`invalid_credentials`, `too_many_attempts`), or no answer.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<(), ApiError> {
        let credentials = Credentials { username: username.to_owned(), password: password.to_owned() };
        let request = RequestRecipe::post(self.inner.options.login_path.as_str()).with_json(&credentials)?.anonymous();
        let response = self.send(&request).await?;
        self.inner.adopt(&response, None)?;
        self.inner.backoff.replace(Backoff::default());
        self.inner.emit_and_announce(SessionEvent::SignedIn);
        Ok(())
    }

    /// Ends the session on the server when it can be reached, and locally in any case.
    pub async fn sign_out(&self) {
        let _ = self.send(&RequestRecipe::post(self.inner.options.logout_path.as_str()).anonymous()).await;
        self.inner.store.clear();
        self.inner.emit_and_announce(SessionEvent::SignedOut);
    }

    /// `GET path` as JSON.
    ///
    /// # Errors
    /// As [`SessionClient::send`], and [`ApiError::Decode`] for an answer of another shape.
    pub async fn get_json<R: DeserializeOwned>(&self, path: &str) -> Result<R, ApiError> {
        self.send(&RequestRecipe::get(path)).await?.json()
    }

    /// Sends the request; a Bearer request refused with a status of `refresh_on_status` is replayed once after
    /// the shared renewal.
    ///
    /// # Errors
    /// Any answer but a 2xx, as an [`ApiError`].
    pub async fn send(&self, request: &RequestRecipe) -> Result<Response, ApiError> {
        if request.auth == Auth::Anonymous {
            return success(self.inner.transport.send(request, None).await?);
        }
        let sent_with = self.token_to_send().await?;
        let response = self.inner.transport.send(request, Some(&sent_with)).await?;
        if !self.inner.means_renew(response.status) {
            return success(response);
        }

        self.renew_unless_already_renewed(&sent_with).await?;
        let renewed = self.inner.store.load().ok_or(ApiError::SessionExpired)?.value;
        let replay = self.inner.transport.send(request, Some(&renewed)).await?;
        if self.inner.means_renew(replay.status) {
            // A fresh token refused too: report it rather than loop through another renewal.
            return Err(ApiError::Unauthorized);
        }
        success(replay)
    }

    /// The token to send. A request started while a renewal runs waits for it instead of sending a token known
    /// to be stale; a token about to expire is renewed first. Without a token there is nothing to send: nobody
    /// is signed in here.
    async fn token_to_send(&self) -> Result<String, ApiError> {
        let running = self.inner.renewal.borrow().clone();
        if let Some(renewal) = running {
            unless_session_ended(renewal.await)?;
        }
        let token = self.inner.store.load().ok_or(ApiError::Unauthorized)?;
        if !self.inner.expires_soon(&token) {
            return Ok(token.value);
        }
        unless_session_ended(self.renew_unless_already_renewed(&token.value).await)?;
        self.inner.store.load().map(|token| token.value).ok_or(ApiError::Unauthorized)
    }

    /// Joins the renewal in flight, or starts one, unless the stored token already differs from the one that was
    /// refused (another request or tab renewed it meanwhile).
    async fn renew_unless_already_renewed(&self, refused: &str) -> Result<(), ApiError> {
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
        self.start_renewal(refused.to_owned()).await
    }

    fn start_renewal(&self, refused: String) -> Renewal {
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

    /// Whether the token store already answers the need to renew `refused`: another request or tab replaced
    /// it (`Ok`), or the session was ended meanwhile (`SessionExpired`).
    fn already_settled(&self, refused: &str) -> Option<Result<(), ApiError>> {
        match self.store.load() {
            Some(current) if current.value != refused => Some(Ok(())),
            Some(_) => None,
            None => Some(Err(ApiError::SessionExpired)),
        }
    }

    /// Under the cross-tab lock, and only if no other tab renewed the token while this one waited for it.
    async fn renew_across_tabs(&self, refused: &str) -> Result<(), ApiError> {
        let _lock = self.tabs.lock().await;
        if let Some(settled) = self.already_settled(refused) {
            return settled;
        }
        self.renew().await
    }

    /// The last renewal's error while its backoff lasts.
    fn backing_off(&self) -> Option<ApiError> {
        let backoff = self.backoff.borrow();
        (self.clock.now_ms() < backoff.retry_at_ms).then(|| backoff.last_error.clone()).flatten()
    }

    fn record(&self, outcome: &Result<(), ApiError>) {
        let mut backoff = self.backoff.borrow_mut();
        match outcome {
            Ok(()) | Err(ApiError::SessionExpired) => *backoff = Backoff::default(),
            Err(error) => {
                backoff.retry_at_ms = self.clock.now_ms() + backoff_delay_ms(backoff.failures, &self.options);
                backoff.failures = backoff.failures.saturating_add(1);
                backoff.last_error = Some(error.clone());
            }
        }
    }

    /// One refresh. Only its 403 ends the session; a network error or 5xx keeps the token.
    async fn renew(&self) -> Result<(), ApiError> {
        let request = RequestRecipe::post(self.options.refresh_path.as_str()).anonymous();
        let response = self.transport.send(&request, None).await?;
        match response.status {
            200..=299 => {
                let session = self.store.load().map(|token| token.session);
                self.adopt(&response, session)?;
                self.emit(SessionEvent::Renewed);
                Ok(())
            }
            403 => {
                self.store.clear();
                self.emit_and_announce(SessionEvent::Expired);
                Err(ApiError::SessionExpired)
            }
            status => Err(ApiError::from_status(status, &response.body)),
        }
    }

    fn adopt(&self, response: &Response, session: Option<String>) -> Result<(), ApiError> {
        let body: TokenResponse = response.json()?;
        // Whole seconds from the server; as f64 they are exact far beyond any lifetime.
        #[allow(clippy::cast_precision_loss)]
        let lifetime_ms = body.expires_in as f64 * 1000.0;
        let session = session.unwrap_or_else(|| session_of(&body.access_token));
        self.store.save(&AccessToken {
            value: body.access_token,
            session,
            expires_at_ms: self.clock.now_ms() + lifetime_ms,
            lifetime_ms,
        });
        Ok(())
    }

    fn emit_and_announce(&self, event: SessionEvent) {
        self.tabs.announce(event);
        self.emit(event);
    }

    fn emit(&self, event: SessionEvent) {
        // Listeners may call back into the client, so none is borrowed while they run.
        let listeners: Vec<_> = self.listeners.borrow().iter().cloned().collect();
        for listener in listeners {
            listener(event);
        }
    }
}

/// A failed renewal matters to a request only when it ended the session; otherwise the token may still do.
fn unless_session_ended(renewal: Result<(), ApiError>) -> Result<(), ApiError> {
    match renewal {
        Err(ApiError::SessionExpired) => Err(ApiError::SessionExpired),
        _ => Ok(()),
    }
}

fn success(response: Response) -> Result<Response, ApiError> {
    if (200..300).contains(&response.status) {
        Ok(response)
    } else {
        Err(ApiError::from_status(response.status, &response.body))
    }
}
