//! The client: sends requests with the stored access token, renews it once however many requests are refused
//! at once, and replays each refused request once.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures::future::{FutureExt, LocalBoxFuture, Shared};
use futures::lock::{Mutex, MutexGuard};
use serde::de::DeserializeOwned;
use session_contract::{Credentials, DPOP_HEADER, DPOP_NONCE_HEADER, DPOP_SCHEME, ErrorCode, TokenResponse, TokenType};

use crate::dpop::{DeviceKey, KeyUnavailable, NoDeviceKey, ProofFor, proof, unix_seconds};
use crate::error::SessionError;
use crate::listeners::{Listeners, Subscription};
use crate::options::Options;
use crate::policy::{backoff_delay, expires_soon, milliseconds, retry_after};
use crate::ports::{AccessToken, Clock, EndReason, News, SessionEvent, Tabs, TokenStore, Transport, session_of};
use crate::request::{Auth, RequestRecipe, Response};

#[cfg(test)]
mod tests;

type Renewal = Shared<LocalBoxFuture<'static, Result<(), SessionError>>>;

/// The session client. Cloning it is cheap and every clone is the same client (one renewal in flight, one
/// set of listeners).
pub struct SessionClient<T, S, C, X, K = NoDeviceKey> {
    inner: Rc<Inner<T, S, C, X, K>>,
}

impl<T, S, C, X, K> Clone for SessionClient<T, S, C, X, K> {
    fn clone(&self) -> Self {
        Self { inner: Rc::clone(&self.inner) }
    }
}

struct Inner<T, S, C, X, K> {
    transport: T,
    store: S,
    clock: C,
    tabs: X,
    /// The device's key, which DPoP proofs are signed with.
    key: K,
    /// The server's latest DPoP nonce, for the next proofs.
    nonce: RefCell<Option<String>>,
    /// The last sign-in found no device key to bind the session to (no WebCrypto or IndexedDB).
    key_unavailable: Cell<bool>,
    options: Options,
    /// The one renewal in flight and the session it renews, shared by every request of that session.
    renewal: RefCell<Option<(String, Renewal)>>,
    /// Taken, with the cross-tab lock, by everything that changes the session (sign-in, sign-out, refresh), so
    /// that they run one at a time and their answers' cookies land in the order they were sent.
    order: Mutex<()>,
    backoff: RefCell<Backoff>,
    listeners: Rc<Listeners>,
    /// Why the store is empty, when it is: the session expired (in this tab or another), or the user signed out.
    expired: Cell<bool>,
    /// The session signed out or ended last, here or in another tab: later news carrying its token is old.
    ended: RefCell<Option<String>>,
    /// The session this tab's listeners know of (`None`: none): a sign-in of it is not told twice (by its news
    /// and by the shared store, in either order, or by both this tab's sign-in and the store), and a renewal of
    /// another session is told as the sign-in it is to them.
    told: RefCell<Option<String>>,
}

/// Renewals that got no usable answer, so that a blip is retried but an outage is not hammered.
#[derive(Default)]
struct Backoff {
    failures: u32,
    retry_at_ms: f64,
    last_error: Option<SessionError>,
    /// How long the server asked to be left alone (`Retry-After` of a `429`).
    asked_to_wait: Option<Duration>,
}

impl<T, S, C, X> SessionClient<T, S, C, X>
where
    T: Transport + 'static,
    S: TokenStore + 'static,
    C: Clock + 'static,
    X: Tabs + 'static,
{
    /// A client without a device key (every session Bearer), with the default [`Options`].
    pub fn new(transport: T, store: S, clock: C, tabs: X) -> Self {
        Self::with_options(transport, store, clock, tabs, Options::default())
    }

    /// A client without a device key, with the given [`Options`].
    pub fn with_options(transport: T, store: S, clock: C, tabs: X, options: Options) -> Self {
        SessionClient::with_device_key(transport, store, clock, tabs, NoDeviceKey, options)
    }
}

impl<T, S, C, X, K> SessionClient<T, S, C, X, K>
where
    T: Transport + 'static,
    S: TokenStore + 'static,
    C: Clock + 'static,
    X: Tabs + 'static,
    K: DeviceKey + 'static,
{
    /// A client that binds each session to the device's `key` (DPoP, RFC 9449) where it can make one.
    pub fn with_device_key(transport: T, store: S, clock: C, tabs: X, key: K, options: Options) -> Self {
        // What the page starts from, which it shows without being told.
        let told = RefCell::new(store.load().map(|token| token.session));
        Self {
            inner: Rc::new(Inner {
                transport,
                store,
                clock,
                tabs,
                key,
                nonce: RefCell::new(None),
                key_unavailable: Cell::new(false),
                options,
                renewal: RefCell::new(None),
                order: Mutex::new(()),
                backoff: RefCell::new(Backoff::default()),
                listeners: Rc::default(),
                expired: Cell::new(false),
                ended: RefCell::new(None),
                told,
            }),
        }
    }

    /// What another tab announced: this tab's view of the store takes it in unless it is old news (see
    /// [`News::is_news_to`]), and its listeners hear it unless the store told them first (a sign-in or sign-out
    /// [`store_changed_elsewhere`](Self::store_changed_elsewhere) followed; an end is heard still, for its
    /// reason). A token it carries is stored at once, so that this tab does not depend on the shared store
    /// reaching it in time (WebKit hands localStorage writes to other tabs late, and a store in a tab's memory
    /// never does).
    pub fn receive_from_other_tab(&self, news: News) {
        let stored = self.inner.store.load();
        let ended_here = news.token.as_ref().is_some_and(|token| self.inner.has_ended(&token.session));
        if ended_here || !news.is_news_to(stored.as_ref()) {
            return;
        }
        match (&news.token, news.event, &stored) {
            (Some(token), _, _) => self.inner.store.save(token),
            (None, SessionEvent::SignedOut | SessionEvent::Ended(_), Some(_)) => self.inner.store.clear(),
            _ => {}
        }
        if let (SessionEvent::SignedOut | SessionEvent::Ended(_), Some(session)) = (news.event, &news.session) {
            self.inner.ended.replace(Some(session.clone()));
        }
        // A sign-out the shared store brought first is told already. Decided here rather than in `emit`: this
        // tab's own sign-out is told even when its listeners knew of no session.
        let followed = news.event == SessionEvent::SignedOut
            && self.inner.told.borrow().is_none()
            && news.session.as_deref().is_some_and(|session| self.inner.has_ended(session));
        if !followed {
            self.inner.emit(&news);
        }
    }

    /// Another page changed the shared store (the browser's `storage` event): this tab's listeners follow what
    /// it holds now, whether or not the announcement reached them (a page that started listening after it was
    /// posted, or one whose view of localStorage was late, misses it). A session there that they do not know of
    /// is a sign-in to them (not one that ended here), so that a page of one user never goes on showing that
    /// user's data under another's token; the session they know gone is a sign-out (an end announced after it
    /// is still heard, with its reason). A renewal of the session they know changes nothing.
    pub fn store_changed_elsewhere(&self) {
        let told = self.inner.told.borrow().clone();
        match (self.inner.store.load(), told) {
            (Some(stored), told)
                if told.as_deref() != Some(stored.session.as_str()) && !self.inner.has_ended(&stored.session) =>
            {
                self.inner.emit(&News::of_token(SessionEvent::SignedIn, stored));
            }
            (None, Some(session)) => {
                self.inner.ended.replace(Some(session.clone()));
                self.inner.emit(&News::of_session(SessionEvent::SignedOut, Some(session)));
            }
            _ => {}
        }
    }

    /// Renews a token about to expire; the periodic check of idle tabs calls this.
    ///
    /// # Errors
    /// Only when the session it started from is over here ([`SessionError::SessionExpired`],
    /// [`SessionError::Unauthorized`], [`SessionError::SessionChanged`]): a blip is retried by the next check or request.
    pub async fn renew_if_due(&self) -> Result<(), SessionError> {
        match self.inner.store.load() {
            Some(token) if self.inner.expires_soon(&token) => {
                self.following_the_store(unless_session_ended(self.renew_unless_already_renewed(&token).await))
            }
            _ => Ok(()),
        }
    }

    /// An outcome that found the store holding another session, or none ([`SessionError::SessionChanged`],
    /// [`SessionError::Unauthorized`]): this tab's listeners follow the store at once (see
    /// [`store_changed_elsewhere`](Self::store_changed_elsewhere)) rather than when the page that changed it is
    /// heard from, so that no page goes on showing a session the store no longer holds.
    fn following_the_store<R>(&self, outcome: Result<R, SessionError>) -> Result<R, SessionError> {
        if matches!(outcome, Err(SessionError::SessionChanged | SessionError::Unauthorized)) {
            self.store_changed_elsewhere();
        }
        outcome
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

    /// Whether the last sign-in here found no device key to bind the session to (no WebCrypto or IndexedDB): its
    /// tokens are Bearer ones, which the app should say.
    pub fn device_key_unavailable(&self) -> bool {
        self.inner.key_unavailable.get()
    }

    /// `POST` the credentials to the login path and keep the token it answers with.
    ///
    /// # Errors
    /// A refusal as [`SessionError::Status`] (`invalid_credentials`, `too_many_attempts`), or no answer.
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<(), SessionError> {
        let credentials = Credentials { username: username.to_owned(), password: password.to_owned() };
        let request = RequestRecipe::post(self.inner.options.login_path.as_str()).with_json(&credentials)?.anonymous();
        // After the refresh or logout in flight, here or in another tab: their late `Set-Cookie` cannot land
        // after this session's.
        self.after_the_renewal_in_flight().await;
        let _turn = self.inner.one_at_a_time().await;
        // A new key for the new session, kept only once the server took it: a sign-in that fails leaves the key
        // there was. Where none can be made, the session will be a Bearer one, and the app says so.
        let made = self.inner.key.make().await;
        self.inner.key_unavailable.set(made.is_err());
        let prove = made.as_ref().map_or(Prove::No, Prove::With);
        let response = success(self.inner.exchange(&request, None, prove).await?)?;
        let token = self.inner.answered_token(&response, None)?;
        // The key first, then the token: another tab that hears of the token from the store finds the key that
        // proves it, not none (which would end the new session) nor the one before.
        if let (Ok(pair), true) = (&made, token.bound)
            && self.inner.key.keep(pair).await.is_err()
        {
            // Bound to a key this browser could not keep: its next request ends the session.
            self.inner.key_unavailable.set(true);
        }
        self.inner.store.save(&token);
        // The browser now holds the new session's cookie: a logout still pending would end that one.
        self.inner.store.set_logout_pending(false);
        self.inner.backoff.replace(Backoff::default());
        self.inner.emit_and_announce(News::of_token(SessionEvent::SignedIn, token));
        Ok(())
    }

    /// Tells the server of a sign-out it did not hear (no answer, a 5xx, a 429, or a key that could not prove it),
    /// if nobody signed in since.
    pub async fn finish_pending_logout(&self) {
        if self.inner.store.logout_pending() && !self.is_signed_in() {
            // The key was kept for this: it goes once the server hears. Still unreadable, the sign-out goes without
            // it: waiting longer would leave the session's cookie in the browser at every start.
            self.tell_the_server_of_the_sign_out(None, Prove::TheDevicesKeyIfReadable).await;
        }
    }

    /// `POST` the logout path with the cookie, in its turn (after the refresh in flight, whose answer may
    /// rotate the cookie); remembers, for the next start, when the server did not hear. `signed_out`: the
    /// session the user left. If it is stored again meanwhile (a refresh in another tab, whose view of the
    /// store was late, wrote its renewal back), it is cleared again and the logout still goes; only another
    /// session stored meanwhile (someone signed in) owns the cookie now, and then nothing is sent.
    async fn tell_the_server_of_the_sign_out(&self, signed_out: Option<&str>, prove: Prove<'_, K::Pair>) {
        self.after_the_renewal_in_flight().await;
        let _turn = self.inner.one_at_a_time().await;
        match self.inner.store.load() {
            Some(stored) if Some(stored.session.as_str()) == signed_out => self.inner.store.clear(),
            Some(_) => return,
            None => {}
        }
        let logout = RequestRecipe::post(self.inner.options.logout_path.as_str()).anonymous().keepalive();
        // A bound session ends only with its key's proof; the key goes once the server has heard.
        let answer = self.inner.exchange(&logout, None, prove).await.and_then(success);
        // Unheard too when the key that proves it could not be read just now (the proof is made later), or when
        // a 429 (the server's, or a proxy's) said nothing was done.
        let unheard = matches!(
            answer,
            Err(SessionError::Network
                | SessionError::Timeout
                | SessionError::Server { .. }
                | SessionError::DeviceKey
                | SessionError::Status { status: 429, .. })
        );
        self.inner.store.set_logout_pending(unheard);
        if !unheard {
            self.inner.key.forget().await;
        }
    }

    /// Ends the session here and in every tab at once, then on the server when it can be reached: closing the
    /// tab right after still signs out locally (and on the server at the next start, see
    /// [`SessionClient::finish_pending_logout`]), and a refresh still on the wire finds the session gone.
    pub async fn sign_out(&self) {
        let stored = self.inner.store.load();
        let bound = stored.as_ref().is_some_and(|token| token.bound);
        let session = stored.map(|token| token.session);
        self.inner.store.clear();
        // Remembered before anything is awaited: a tab closed while its logout waits for its turn (or for the
        // device's key) is told to the server at the next start, not forgotten with a live cookie in the jar.
        self.inner.store.set_logout_pending(true);
        self.inner.ended.replace(session.clone());
        self.inner.emit_and_announce(News::of_session(SessionEvent::SignedOut, session.clone()));
        let prove = if bound { Prove::TheDevicesKey } else { Prove::No };
        self.tell_the_server_of_the_sign_out(session.as_deref(), prove).await;
    }

    /// Waits for the renewal in flight, if any: without a spawner (see [`Options::spawn`]) a renewal whose
    /// callers all went away progresses only while someone awaits it, and it holds the turn.
    async fn after_the_renewal_in_flight(&self) {
        let running = self.inner.renewal.borrow().as_ref().map(|(_, renewal)| renewal.clone());
        if let Some(renewal) = running {
            drop(renewal.await);
        }
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
    /// [`SessionError::SessionChanged`] when someone else signed in, while the request waited; either way this
    /// tab's listeners are told of what the store holds now.
    pub async fn send(&self, request: &RequestRecipe) -> Result<Response, SessionError> {
        self.following_the_store(self.send_with_one_replay(request).await)
    }

    async fn send_with_one_replay(&self, request: &RequestRecipe) -> Result<Response, SessionError> {
        // Every request that changes something carries the CSRF marker, however it was made.
        let marked = request.with_marker_if_missing();
        let request = marked.as_ref().unwrap_or(request);
        if request.auth == Auth::Anonymous {
            return success(self.inner.transport.send(request, None).await?);
        }
        let sent_with = self.token_to_send().await?;
        let response = self.inner.exchange(request, Some(&sent_with), Prove::No).await?;
        // Refused for a nonce even with the one the server gave: a refresh would not change that.
        if !self.inner.means_renew(response.status) || asks_for_a_nonce(&response) {
            return success(response);
        }

        self.renew_unless_already_renewed(&sent_with).await?;
        let renewed = self.inner.token_of(&sent_with.session)?;
        let replay = self.inner.exchange(request, Some(&renewed), Prove::No).await?;
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
        let token = self.inner.store.load().ok_or(SessionError::Unauthorized)?;
        if let Some(renewal) = self.inner.renewal_of(&token.session) {
            unless_session_ended(renewal.await)?;
        } else if self.inner.expires_soon(&token) {
            unless_session_ended(self.renew_unless_already_renewed(&token).await)?;
        } else {
            return Ok(token);
        }
        self.inner.token_of(&token.session)
    }

    /// Joins the renewal in flight, or starts one, unless the store already answers the need: another request
    /// or tab renewed the token meanwhile, or the session it belongs to is no longer the stored one.
    async fn renew_unless_already_renewed(&self, refused: &AccessToken) -> Result<(), SessionError> {
        if let Some(renewal) = self.inner.renewal_of(&refused.session) {
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
        let session = refused.session.clone();
        let renewal = async move {
            let outcome = inner.renew_across_tabs(&refused).await;
            inner.record(&outcome);
            let mut slot = inner.renewal.borrow_mut();
            if slot.as_ref().is_some_and(|(renewing, _)| *renewing == refused.session) {
                slot.take();
            }
            drop(slot);
            outcome
        }
        .boxed_local()
        .shared();
        *self.inner.renewal.borrow_mut() = Some((session, renewal.clone()));
        if let Some(spawn) = self.inner.options.spawn {
            let to_the_end = renewal.clone();
            spawn(async move { drop(to_the_end.await) }.boxed_local());
        }
        renewal
    }
}

impl<T: Transport, S: TokenStore, C: Clock, X: Tabs, K: DeviceKey> Inner<T, S, C, X, K> {
    /// Sends `request` with `token` as its binding demands (a bound one as `Authorization: DPoP` with a proof,
    /// another as Bearer), and a proof where `prove` asks for one and the device has a key (the sign-in and the
    /// sign-out). Refused for want of the server's nonce (`use_dpop_nonce`), it is sent once more with the nonce
    /// that answer brought: that is neither a refresh nor a sign-out. Every answer's `DPoP-Nonce` replaces the
    /// one kept.
    async fn exchange(
        &self,
        request: &RequestRecipe,
        token: Option<&AccessToken>,
        prove: Prove<'_, K::Pair>,
    ) -> Result<Response, SessionError> {
        let response = self.send_once(request, token, prove).await?;
        if !asks_for_a_nonce(&response) {
            return Ok(response);
        }
        self.send_once(request, token, prove).await
    }

    /// Sends `request` once. A bound token's proof is made with the device's key, read once for it; the request
    /// is never sent as Bearer instead. Where no key is kept, the session it proves is over (ended here and in
    /// every tab); where it cannot be read or sign just now, this request fails with [`SessionError::DeviceKey`]
    /// and the session stays.
    async fn send_once(
        &self,
        request: &RequestRecipe,
        token: Option<&AccessToken>,
        prove: Prove<'_, K::Pair>,
    ) -> Result<Response, SessionError> {
        let bound = token.filter(|token| token.bound);
        let current;
        let pair = match prove {
            Prove::With(pair) => Some(pair),
            Prove::No if bound.is_none() => None,
            Prove::No | Prove::TheDevicesKey | Prove::TheDevicesKeyIfReadable | Prove::TheKeyOf(_) => {
                current = match self.key.current().await {
                    Ok(current) => current,
                    Err(_) if matches!(prove, Prove::TheDevicesKeyIfReadable) => None,
                    Err(_) => return Err(SessionError::DeviceKey),
                };
                let needs_it = match prove {
                    Prove::TheKeyOf(session) => Some(session),
                    _ => bound.map(|token| token.session.as_str()),
                };
                match (&current, needs_it) {
                    (Some(pair), _) => Some(pair),
                    // A bound session whose key is gone cannot prove anything any more: it is over.
                    (None, Some(session)) => return Err(self.end(session, EndReason::Expired)),
                    (None, None) => None,
                }
            }
        };
        let proof = match pair {
            Some(pair) => Some(self.proof_for(request, bound, pair).await.map_err(|_| SessionError::DeviceKey)?),
            None => None,
        };
        let mut headers = Vec::new();
        if let Some(token) = bound {
            headers.push(("Authorization".to_owned(), format!("{DPOP_SCHEME} {}", token.value)));
        }
        if let Some(proof) = proof {
            headers.push((DPOP_HEADER.to_owned(), proof));
        }
        let bearer = token.filter(|token| !token.bound).map(|token| token.value.as_str());
        let response = if headers.is_empty() {
            self.transport.send(request, bearer).await?
        } else {
            let mut with_proof = request.clone();
            with_proof.headers.extend(headers);
            self.transport.send(&with_proof, bearer).await?
        };
        if let Some(nonce) = response.header(DPOP_NONCE_HEADER) {
            self.nonce.replace(Some(nonce.to_owned()));
        }
        Ok(response)
    }

    /// A proof for `request` by `pair`, with `token`'s hash when it is bound.
    async fn proof_for(
        &self,
        request: &RequestRecipe,
        token: Option<&AccessToken>,
        pair: &K::Pair,
    ) -> Result<String, KeyUnavailable> {
        let url = self.transport.url(&request.path);
        let nonce = self.nonce.borrow().clone();
        let about = ProofFor {
            method: request.method.as_str(),
            url: &url,
            access_token: token.map(|token| token.value.as_str()),
            nonce: nonce.as_deref(),
            // Whole seconds of this device's clock; a nonce vouches for one that is off.
            iat: unix_seconds(self.clock.now_ms()),
        };
        proof(&self.key, pair, about).await
    }

    /// Ends `session` here and in every tab, for `reason`; the error its callers get. Where the store holds
    /// another session by now (or none), that one is left alone: the error says what the store holds.
    fn end(&self, session: &str, reason: EndReason) -> SessionError {
        if let Err(moved_on) = self.token_of(session) {
            return moved_on;
        }
        self.store.clear();
        self.ended.replace(Some(session.to_owned()));
        self.emit_and_announce(News::of_session(SessionEvent::Ended(reason), Some(session.to_owned())));
        SessionError::SessionExpired
    }

    /// This tab's turn and the cross-tab lock: held while the session changes.
    async fn one_at_a_time(&self) -> (MutexGuard<'_, ()>, X::Lock) {
        let turn = self.order.lock().await;
        (turn, self.tabs.lock().await)
    }

    fn has_ended(&self, session: &str) -> bool {
        self.ended.borrow().as_deref() == Some(session)
    }

    /// The renewal in flight, if it renews `session`: a request never waits on another session's renewal.
    fn renewal_of(&self, session: &str) -> Option<Renewal> {
        let renewal = self.renewal.borrow();
        renewal.as_ref().filter(|(renewing, _)| renewing == session).map(|(_, renewal)| renewal.clone())
    }

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
        let _turn = self.one_at_a_time().await;
        if let Some(settled) = self.already_settled(refused) {
            return settled;
        }
        self.renew(&refused.session, refused.bound).await
    }

    /// The last renewal's error while its backoff lasts.
    fn backing_off(&self) -> Option<SessionError> {
        let backoff = self.backoff.borrow();
        (self.clock.monotonic_ms() < backoff.retry_at_ms).then(|| backoff.last_error.clone()).flatten()
    }

    /// A renewal that failed while the session goes on (no answer, a timeout, a 5xx, a refusal that is not the
    /// session's end) backs off: doubling from the first wait, and at least as long as a `Retry-After` asked.
    fn record(&self, outcome: &Result<(), SessionError>) {
        let mut backoff = self.backoff.borrow_mut();
        match outcome {
            Err(SessionError::SessionExpired | SessionError::Unauthorized | SessionError::SessionChanged) | Ok(()) => {
                *backoff = Backoff::default();
            }
            Err(error) => {
                let wait = backoff_delay(backoff.failures, &self.options)
                    .max(backoff.asked_to_wait.take().unwrap_or_default());
                backoff.retry_at_ms = self.clock.monotonic_ms() + milliseconds(wait);
                backoff.failures = backoff.failures.saturating_add(1);
                backoff.last_error = Some(error.clone());
            }
        }
    }

    /// One refresh of `session`, retried once at once if its answer is lost: the server answers the same token
    /// again with the same child inside its grace window. Its outcome applies only if the store still holds
    /// that session: a sign-out or another sign-in meanwhile wins, and the outcome is dropped unannounced.
    /// Only the contract's refusals (`403 session_expired`, `403 refresh_token_reused`) end the session; no answer,
    /// a 5xx or any other refusal (a proxy's page, `csrf`, `429`) keep the token.
    async fn renew(&self, session: &str, bound: bool) -> Result<(), SessionError> {
        let request = RequestRecipe::post(self.options.refresh_path.as_str())
            .anonymous()
            .with_timeout(self.options.refresh_timeout);
        // A bound session's refresh proves its key (one whose key is gone is over; one that cannot be read just
        // now is retried later, as a lost answer is); the retry after a lost answer has a proof of its own (one is
        // never sent twice).
        let prove = if bound { Prove::TheKeyOf(session) } else { Prove::No };
        let response = match self.exchange(&request, None, prove).await {
            Err(SessionError::Network | SessionError::Timeout) => self.exchange(&request, None, prove).await?,
            outcome => outcome?,
        };
        self.token_of(session)?;
        if (200..300).contains(&response.status) {
            let token = self.answered_token(&response, Some(session.to_owned()))?;
            self.store.save(&token);
            // Told before the lock is released: the next tab to take it has the token without trusting its
            // view of the shared store to be current.
            self.emit_and_announce(News::of_token(SessionEvent::Renewed, token));
            return Ok(());
        }
        let refusal = SessionError::from_status(response.status, &response.body);
        let Some(reason) = end_reason(&refusal) else {
            self.backoff.borrow_mut().asked_to_wait = response.header("Retry-After").and_then(retry_after);
            return Err(refusal);
        };
        Err(self.end(session, reason))
    }

    /// The token a sign-in's or refresh's answer carries, of `session` (a sign-in's: the one the token names).
    fn answered_token(&self, response: &Response, session: Option<String>) -> Result<AccessToken, SessionError> {
        let body: TokenResponse = response.json()?;
        let session = session.unwrap_or_else(|| session_of(&body.access_token));
        let lifetime = Duration::from_secs(body.expires_in);
        let token = AccessToken {
            value: body.access_token,
            session,
            expires_at_ms: Some(self.clock.now_ms() + milliseconds(lifetime)),
            lifetime,
            bound: body.token_type == TokenType::DPoP,
        };
        Ok(token)
    }

    fn emit_and_announce(&self, news: News) {
        self.tabs.announce(&news);
        self.emit(&news);
    }

    /// Tells this tab's listeners, as they see it: a sign-in they were told of already is not told again, and a
    /// renewal of a session they do not know of is a sign-in to them.
    fn emit(&self, news: &News) {
        let now_told = match news.event {
            SessionEvent::SignedIn | SessionEvent::Renewed => news.session.clone(),
            SessionEvent::SignedOut | SessionEvent::Ended(_) => None,
        };
        let told = self.told.replace(now_told);
        let event = match news.event {
            SessionEvent::SignedIn if told == news.session => None,
            SessionEvent::Renewed if told != news.session => Some(SessionEvent::SignedIn),
            event => Some(event),
        };
        self.expired.set(matches!(news.event, SessionEvent::Ended(_)));
        if let Some(event) = event {
            self.listeners.emit(event);
        }
    }
}

/// Which key, if any, proves a request besides a bound token's (which always does, with the device's key).
enum Prove<'a, P> {
    No,
    /// The device's key, if it has one (the sign-out: a Bearer session's has none to give).
    TheDevicesKey,
    /// The device's key, if it has one that can be read now (a sign-out pending since an earlier page).
    TheDevicesKeyIfReadable,
    /// The key of this bound session (its refresh): without one kept, the session is over.
    TheKeyOf(&'a str),
    /// This pair (the sign-in's new key, not kept yet).
    With(&'a P),
}

impl<P> Clone for Prove<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Prove<'_, P> {}

/// Whether the answer refuses a DPoP proof for want of the server's nonce (which it carries).
fn asks_for_a_nonce(response: &Response) -> bool {
    matches!(response.status, 400 | 401)
        && SessionError::from_status(response.status, &response.body).code() == Some(ErrorCode::UseDpopNonce)
}

/// Whether, and why, the refresh's refusal ended the session: only the contract's two `403` codes do.
fn end_reason(refusal: &SessionError) -> Option<EndReason> {
    match refusal {
        SessionError::Status { status: 403, code: ErrorCode::SessionExpired, .. } => Some(EndReason::Expired),
        SessionError::Status { status: 403, code: ErrorCode::RefreshTokenReused, .. } => Some(EndReason::Reused),
        _ => None,
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
