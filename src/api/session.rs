//! The session core: sends requests with the stored access token, renews it once however many requests are
//! refused at once, and replays each refused request once.
//!
//! It does no I/O of its own. The HTTP [`Transport`], the [`TokenStore`] and the [`Clock`] are supplied, so the
//! browser build plugs in fetch and localStorage while `cargo test` plugs in fakes and drives the races.

use std::cell::RefCell;
use std::rc::Rc;

use futures::future::{FutureExt, LocalBoxFuture, Shared};
use miniserde::{Deserialize, Serialize, json};

use super::error::ApiError;

#[cfg(test)]
mod tests;

pub const REFRESH_PATH: &str = "/auth/refresh";
const LOGIN_PATH: &str = "/auth/login";
const LOGOUT_PATH: &str = "/auth/logout";
/// Renew ahead of expiry when this much of the lifetime, or a minute if that is less, remains.
const RENEW_AHEAD_FRACTION: f64 = 0.1;
const RENEW_AHEAD_MAX_MS: f64 = 60_000.0;
/// After a renewal fails for want of an answer, the next waits 1 s, then 2 s, 4 s… up to 30 s.
const BACKOFF_FIRST_MS: f64 = 1_000.0;
const BACKOFF_MAX_MS: f64 = 30_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Delete => "DELETE",
        }
    }
}

/// Whether a request carries the access token (and so may be renewed and replayed after a 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Bearer,
    Anonymous,
}

/// A request kept as data, so that its replay after a refresh is identical but for the Authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecipe {
    pub method: Method,
    pub path: String,
    pub json_body: Option<Vec<u8>>,
    pub auth: Auth,
}

impl RequestRecipe {
    pub fn get(path: impl Into<String>) -> Self {
        Self { method: Method::Get, path: path.into(), json_body: None, auth: Auth::Bearer }
    }

    pub fn post(path: impl Into<String>) -> Self {
        Self { method: Method::Post, ..Self::get(path) }
    }

    pub fn with_json(self, body: &impl Serialize) -> Self {
        Self { json_body: Some(json::to_string(body).into_bytes()), ..self }
    }

    pub fn anonymous(self) -> Self {
        Self { auth: Auth::Anonymous, ..self }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json<T: Deserialize>(&self) -> Result<T, ApiError> {
        let text = std::str::from_utf8(&self.body).map_err(|_| ApiError::Decode("the body is not UTF-8".to_owned()))?;
        json::from_str(text).map_err(|_| ApiError::Decode(format!("not the JSON expected: {text:.120}")))
    }
}

/// A request that got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    Network,
    Timeout,
}

impl From<TransportError> for ApiError {
    fn from(error: TransportError) -> Self {
        match error {
            TransportError::Network => Self::Network,
            TransportError::Timeout => Self::Timeout,
        }
    }
}

// The client lives on one thread (the browser's); its futures need not be Send.
#[allow(async_fn_in_trait)]
pub trait Transport {
    async fn send(&self, request: &RequestRecipe, bearer: Option<&str>) -> Result<Response, TransportError>;
}

/// The access token and when it expires by this client's own clock (computed from `expiresIn` at receipt, so a
/// wrong wall clock on the device does not matter).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessToken {
    pub value: String,
    pub expires_at_ms: f64,
    pub lifetime_ms: f64,
}

pub trait TokenStore {
    fn load(&self) -> Option<AccessToken>;
    fn save(&self, token: &AccessToken);
    fn clear(&self);
}

pub trait Clock {
    fn now_ms(&self) -> f64;
}

/// The app's other tabs: one refresh at a time across all of them, and news of sign-in and sign-out.
#[allow(async_fn_in_trait)]
pub trait Tabs {
    /// Held while this tab refreshes; released when dropped.
    type Lock;
    /// Waits for the cross-tab refresh lock, or for a timeout after which the tab goes on without it.
    async fn lock(&self) -> Self::Lock;
    fn announce(&self, event: SessionEvent);
}

/// A client alone in its browser, or in a test: no lock to take, nobody to tell.
pub struct SingleTab;

impl Tabs for SingleTab {
    type Lock = ();
    async fn lock(&self) {}
    fn announce(&self, _: SessionEvent) {}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent {
    SignedIn,
    Renewed,
    /// The server ended the session (the refresh was refused): the user must sign in again.
    Expired,
    SignedOut,
}

/// API.md's token body, from login and refresh alike.
#[derive(Debug, Deserialize)]
struct TokenBody {
    #[serde(rename = "accessToken")]
    access_token: String,
    #[serde(rename = "expiresIn")]
    expires_in: f64,
}

#[derive(Serialize)]
struct Credentials {
    username: String,
    password: String,
}

type Renewal = Shared<LocalBoxFuture<'static, Result<(), ApiError>>>;
type Listener = Rc<dyn Fn(SessionEvent)>;

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
    pub fn new(transport: T, store: S, clock: C, tabs: X) -> Self {
        Self {
            inner: Rc::new(Inner {
                transport,
                store,
                clock,
                tabs,
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

    /// Renews a token about to expire; the periodic check of idle tabs calls this. Only the end of the session
    /// is an error worth reporting: anything else is retried by the next check or request.
    pub async fn renew_if_due(&self) -> Result<(), ApiError> {
        match self.inner.store.load() {
            Some(token) if self.inner.expires_soon(&token) => {
                unless_session_ended(self.renew_unless_already_renewed(&token.value).await)
            }
            _ => Ok(()),
        }
    }

    pub fn on_event(&self, listener: impl Fn(SessionEvent) + 'static) {
        self.inner.listeners.borrow_mut().push(Rc::new(listener));
    }

    pub fn is_signed_in(&self) -> bool {
        self.inner.store.load().is_some()
    }

    pub async fn sign_in(&self, username: &str, password: &str) -> Result<(), ApiError> {
        let credentials = Credentials { username: username.to_owned(), password: password.to_owned() };
        let request = RequestRecipe::post(LOGIN_PATH).with_json(&credentials).anonymous();
        let response = self.send(&request).await?;
        self.inner.adopt(&response)?;
        self.inner.backoff.replace(Backoff::default());
        self.inner.emit_and_announce(SessionEvent::SignedIn);
        Ok(())
    }

    /// Ends the session on the server when it can be reached, and locally in any case.
    pub async fn sign_out(&self) {
        let _ = self.send(&RequestRecipe::post(LOGOUT_PATH).anonymous()).await;
        self.inner.store.clear();
        self.inner.emit_and_announce(SessionEvent::SignedOut);
    }

    pub async fn get_json<R: Deserialize>(&self, path: &str) -> Result<R, ApiError> {
        self.send(&RequestRecipe::get(path)).await?.json()
    }

    /// Sends the request; a Bearer request refused with 401 is replayed once after the shared renewal.
    pub async fn send(&self, request: &RequestRecipe) -> Result<Response, ApiError> {
        if request.auth == Auth::Anonymous {
            return success(self.inner.transport.send(request, None).await?);
        }
        let sent_with = self.token_to_send().await?;
        let response = self.inner.transport.send(request, Some(&sent_with)).await?;
        if response.status != 401 {
            return success(response);
        }

        self.renew_unless_already_renewed(&sent_with).await?;
        let renewed = self.inner.store.load().ok_or(ApiError::SessionExpired)?.value;
        let replay = self.inner.transport.send(request, Some(&renewed)).await?;
        if replay.status == 401 {
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
                let delay = (BACKOFF_FIRST_MS * 2f64.powi(backoff.failures.min(16) as i32)).min(BACKOFF_MAX_MS);
                backoff.failures += 1;
                backoff.retry_at_ms = self.clock.now_ms() + delay;
                backoff.last_error = Some(error.clone());
            }
        }
    }

    /// One `POST /auth/refresh`. Only its 403 ends the session; a network error or 5xx keeps the token.
    async fn renew(&self) -> Result<(), ApiError> {
        let request = RequestRecipe::post(REFRESH_PATH).anonymous();
        let response = self.transport.send(&request, None).await?;
        match response.status {
            200..=299 => {
                self.adopt(&response)?;
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

    fn adopt(&self, response: &Response) -> Result<(), ApiError> {
        let body: TokenBody = response.json()?;
        let lifetime_ms = body.expires_in.max(0.0) * 1000.0;
        self.store.save(&AccessToken {
            value: body.access_token,
            expires_at_ms: self.clock.now_ms() + lifetime_ms,
            lifetime_ms,
        });
        Ok(())
    }

    fn expires_soon(&self, token: &AccessToken) -> bool {
        let margin = (token.lifetime_ms * RENEW_AHEAD_FRACTION).min(RENEW_AHEAD_MAX_MS);
        self.clock.now_ms() >= token.expires_at_ms - margin
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
