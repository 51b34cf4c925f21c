//! The session core's browser adapters: fetch through gloo-net, the token in localStorage, `Date.now()`, and the
//! other tabs through the Web Locks API and a BroadcastChannel.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use futures::future::{AbortHandle, Either, abortable, select};
use gloo_net::http::{Method as HttpMethod, RequestBuilder};
use js_sys::{Function, Object, Promise, Reflect};
use miniserde::{Deserialize, Serialize, json};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{AbortController, AbortSignal, BroadcastChannel, MessageEvent, RequestCredentials};

use super::session::{
    AccessToken, Clock, Method, RequestRecipe, Response, SessionClient, SessionEvent, Tabs, TokenStore, Transport,
    TransportError,
};

/// API.md: the access token lives in localStorage under this key.
pub const ACCESS_TOKEN_KEY: &str = "accessToken";
/// When the token expires by this browser's clock, and its lifetime, for renewing ahead of expiry.
pub const ACCESS_TOKEN_EXPIRY_KEY: &str = "accessTokenExpiry";
pub const DEFAULT_TIMEOUT_MS: u32 = 15_000;
/// Longer than a refresh may take, so a tab waits for another's refresh rather than racing it.
const LOCK_TIMEOUT_MS: u32 = DEFAULT_TIMEOUT_MS + 5_000;
const LOCK_NAME: &str = "session-refresh";
const CHANNEL_NAME: &str = "session";

pub type Api = SessionClient<FetchTransport, LocalStorageTokens, BrowserClock, BrowserTabs>;

/// The app's client, told by the other tabs of sign-ins and sign-outs.
pub fn api() -> Api {
    let channel = BroadcastChannel::new(CHANNEL_NAME).ok();
    let tabs = BrowserTabs { channel: channel.clone(), lock_timeout_ms: LOCK_TIMEOUT_MS };
    let transport = FetchTransport::new("", DEFAULT_TIMEOUT_MS);
    let api = SessionClient::new(transport, LocalStorageTokens, BrowserClock, tabs);
    if let Some(channel) = channel {
        let receiver = api.clone();
        let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |message: MessageEvent| {
            if let Some(event) = message.data().as_string().as_deref().and_then(event_from_name) {
                receiver.receive_from_other_tab(event);
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        // The channel lives as long as the app.
        on_message.forget();
    }
    api
}

pub struct FetchTransport {
    base_url: String,
    timeout_ms: u32,
    deadlines: Rc<Deadlines>,
}

impl FetchTransport {
    /// `base_url` is prefixed to each request's path: empty for the app's own origin, or an API origin that
    /// allows this one by CORS.
    pub fn new(base_url: impl Into<String>, timeout_ms: u32) -> Self {
        Self { base_url: base_url.into(), timeout_ms, deadlines: Rc::default() }
    }
}

impl Transport for FetchTransport {
    async fn send(&self, request: &RequestRecipe, bearer: Option<&str>) -> Result<Response, TransportError> {
        let method = match request.method {
            Method::Get => HttpMethod::GET,
            Method::Post => HttpMethod::POST,
            Method::Delete => HttpMethod::DELETE,
        };
        let abort = self.deadlines.track(self.timeout_ms).ok_or(TransportError::Network)?;
        let mut builder = RequestBuilder::new(&format!("{}{}", self.base_url, request.path))
            .method(method)
            .credentials(RequestCredentials::Include)
            .header("Accept", "application/json")
            .abort_signal(Some(&abort.controller.signal()));
        if request.method != Method::Get {
            builder = builder.header("X-Requested-With", "fetch");
        }
        if let Some(token) = bearer {
            builder = builder.header("Authorization", &format!("Bearer {token}"));
        }
        let prepared = match &request.json_body {
            Some(body) => {
                builder.header("Content-Type", "application/json").body(js_sys::Uint8Array::from(body.as_slice()))
            }
            None => builder.build(),
        };
        let no_answer = |_| if abort.timed_out.get() { TransportError::Timeout } else { TransportError::Network };
        let response = prepared.map_err(|_| TransportError::Network)?.send().await.map_err(no_answer)?;
        let status = response.status();
        let body = response.binary().await.map_err(no_answer)?;
        abort.finished.set(true);
        Ok(Response { status, body })
    }
}

/// A fetch's abort controller: fired when its deadline passes, or by dropping an unfinished request (a page that
/// unmounts).
struct AbortOnDrop {
    controller: AbortController,
    id: u64,
    deadlines: Rc<Deadlines>,
    timed_out: Rc<Cell<bool>>,
    finished: Cell<bool>,
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.deadlines.forget(self.id);
        if !self.finished.get() {
            self.controller.abort();
        }
    }
}

/// The deadlines of the requests in flight, checked by one interval that runs only while there are some. A timer
/// per request (ours or `AbortSignal.timeout`) costs more than all the rest of the client together.
#[derive(Default)]
struct Deadlines {
    in_flight: RefCell<Vec<InFlight>>,
    next_id: Cell<u64>,
    interval: Cell<Option<i32>>,
    tick: RefCell<Option<Closure<dyn Fn()>>>,
}

struct InFlight {
    id: u64,
    deadline_ms: f64,
    controller: AbortController,
    timed_out: Rc<Cell<bool>>,
}

const DEADLINE_CHECK_MS: i32 = 500;

impl Deadlines {
    fn track(self: &Rc<Self>, timeout_ms: u32) -> Option<AbortOnDrop> {
        let controller = AbortController::new().ok()?;
        let (id, timed_out) = (self.next_id.get(), Rc::new(Cell::new(false)));
        self.next_id.set(id + 1);
        self.in_flight.borrow_mut().push(InFlight {
            id,
            deadline_ms: js_sys::Date::now() + f64::from(timeout_ms),
            controller: controller.clone(),
            timed_out: Rc::clone(&timed_out),
        });
        if self.interval.get().is_none() {
            self.start_checking();
        }
        Some(AbortOnDrop { controller, id, deadlines: Rc::clone(self), timed_out, finished: Cell::new(false) })
    }

    fn forget(&self, id: u64) {
        self.in_flight.borrow_mut().retain(|request| request.id != id);
    }

    fn start_checking(self: &Rc<Self>) {
        let Some(window) = web_sys::window() else { return };
        let mut tick = self.tick.borrow_mut();
        let tick = tick.get_or_insert_with(|| {
            let deadlines = Rc::downgrade(self);
            Closure::new(move || {
                if let Some(deadlines) = deadlines.upgrade() {
                    deadlines.abort_overdue();
                }
            })
        });
        let handle = window
            .set_interval_with_callback_and_timeout_and_arguments_0(tick.as_ref().unchecked_ref(), DEADLINE_CHECK_MS);
        self.interval.set(handle.ok());
    }

    fn abort_overdue(&self) {
        let now = js_sys::Date::now();
        let overdue: Vec<InFlight> = {
            let mut in_flight = self.in_flight.borrow_mut();
            let (overdue, waiting) = in_flight.drain(..).partition(|request| request.deadline_ms <= now);
            *in_flight = waiting;
            overdue
        };
        for request in overdue {
            request.timed_out.set(true);
            request.controller.abort();
        }
        if self.in_flight.borrow().is_empty()
            && let (Some(handle), Some(window)) = (self.interval.take(), web_sys::window())
        {
            window.clear_interval_with_handle(handle);
        }
    }
}

/// The requests a page started; dropping it (when the page unmounts) aborts those still running.
#[derive(Default)]
pub struct PageRequests(RefCell<Vec<AbortHandle>>);

impl PageRequests {
    /// `None` when the page went away first.
    pub fn run<F: Future>(&self, request: F) -> impl Future<Output = Option<F::Output>> + use<F> {
        let (request, handle) = abortable(request);
        let mut handles = self.0.borrow_mut();
        handles.retain(|handle| !handle.is_aborted());
        handles.push(handle.clone());
        async move {
            let outcome = request.await.ok();
            // Finished: aborting now changes nothing but lets the next `run` drop the handle.
            handle.abort();
            outcome
        }
    }
}

impl Drop for PageRequests {
    fn drop(&mut self) {
        for handle in self.0.borrow().iter() {
            handle.abort();
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StoredExpiry {
    #[serde(rename = "expiresAt")]
    expires_at: f64,
    lifetime: f64,
}

pub struct LocalStorageTokens;

impl LocalStorageTokens {
    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok().flatten()
    }
}

impl TokenStore for LocalStorageTokens {
    fn load(&self) -> Option<AccessToken> {
        let storage = Self::storage()?;
        let value = storage.get_item(ACCESS_TOKEN_KEY).ok().flatten().filter(|value| !value.is_empty())?;
        // A token stored without its expiry (by an older build or by hand) is used until the server refuses it.
        let expiry = storage
            .get_item(ACCESS_TOKEN_EXPIRY_KEY)
            .ok()
            .flatten()
            .and_then(|text| json::from_str::<StoredExpiry>(&text).ok())
            .unwrap_or(StoredExpiry { expires_at: f64::INFINITY, lifetime: 0.0 });
        Some(AccessToken { value, expires_at_ms: expiry.expires_at, lifetime_ms: expiry.lifetime })
    }

    fn save(&self, token: &AccessToken) {
        let Some(storage) = Self::storage() else { return };
        let expiry = StoredExpiry { expires_at: token.expires_at_ms, lifetime: token.lifetime_ms };
        let _ = storage.set_item(ACCESS_TOKEN_KEY, &token.value);
        let _ = storage.set_item(ACCESS_TOKEN_EXPIRY_KEY, &json::to_string(&expiry));
    }

    fn clear(&self) {
        let Some(storage) = Self::storage() else { return };
        let _ = storage.remove_item(ACCESS_TOKEN_KEY);
        let _ = storage.remove_item(ACCESS_TOKEN_EXPIRY_KEY);
    }
}

pub struct BrowserClock;

impl Clock for BrowserClock {
    fn now_ms(&self) -> f64 {
        js_sys::Date::now()
    }
}

pub struct BrowserTabs {
    channel: Option<BroadcastChannel>,
    lock_timeout_ms: u32,
}

impl Tabs for BrowserTabs {
    /// `None` where the Web Locks API is missing or the wait timed out: the tab goes on without the lock, and
    /// re-reading the token store still spares most duplicate refreshes.
    type Lock = Option<HeldLock>;

    async fn lock(&self) -> Self::Lock {
        web_lock(LOCK_NAME, self.lock_timeout_ms).await
    }

    fn announce(&self, event: SessionEvent) {
        if let (Some(channel), Some(name)) = (&self.channel, event_name(event)) {
            let _ = channel.post_message(&JsValue::from_str(name));
        }
    }
}

fn event_name(event: SessionEvent) -> Option<&'static str> {
    match event {
        SessionEvent::SignedIn => Some("signed-in"),
        SessionEvent::SignedOut => Some("signed-out"),
        SessionEvent::Expired => Some("expired"),
        // Other tabs read the renewed token from localStorage on their next request.
        SessionEvent::Renewed => None,
    }
}

fn event_from_name(name: &str) -> Option<SessionEvent> {
    [SessionEvent::SignedIn, SessionEvent::SignedOut, SessionEvent::Expired]
        .into_iter()
        .find(|event| event_name(*event) == Some(name))
}

/// A Web Lock, held until dropped.
pub struct HeldLock {
    release: Function,
    _on_granted: Closure<dyn FnMut(JsValue) -> Promise>,
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let _ = self.release.call0(&JsValue::NULL);
    }
}

/// `navigator.locks.request(name, {signal}, callback)`: the lock is held while the callback's promise is
/// pending, so the callback returns one that [`HeldLock`] resolves when dropped.
async fn web_lock(name: &str, timeout_ms: u32) -> Option<HeldLock> {
    let navigator = web_sys::window()?.navigator();
    let locks = Reflect::get(&navigator, &"locks".into()).ok().filter(JsValue::is_object)?;
    let request: Function = Reflect::get(&locks, &"request".into()).ok()?.dyn_into().ok()?;

    let mut release = None;
    let held = Promise::new(&mut |resolve, _| release = Some(resolve));
    let release = release?;
    let (granted, on_grant) = futures::channel::oneshot::channel::<()>();
    let mut granted = Some(granted);
    let on_granted = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_lock| {
        if let Some(granted) = granted.take() {
            let _ = granted.send(());
        }
        held.clone()
    });
    let options = Object::new();
    Reflect::set(&options, &"signal".into(), &AbortSignal::timeout_with_u32(timeout_ms)).ok()?;
    let outcome: Promise = request.call3(&locks, &name.into(), &options, on_granted.as_ref()).ok()?.dyn_into().ok()?;
    // The request's own promise settles only when the lock is released, or rejects if the wait times out.
    match select(on_grant, JsFuture::from(outcome)).await {
        Either::Left((Ok(()), _)) => Some(HeldLock { release, _on_granted: on_granted }),
        _ => None,
    }
}

/// Renews the token of an open but idle tab: a check every `period_ms` that compares wall-clock time (robust to
/// the device sleeping, unlike one long timer), and one whenever the tab becomes visible again. The checks stop
/// when the returned value is dropped.
#[must_use = "the checks stop when this is dropped"]
pub fn keep_fresh(api: &Api, period_ms: i32) -> Option<KeepFresh> {
    let window = web_sys::window()?;
    let check = {
        let api = api.clone();
        move || {
            let api = api.clone();
            spawn_local(async move {
                let _ = api.renew_if_due().await;
            });
        }
    };
    let on_interval = Closure::<dyn Fn()>::new(check.clone());
    let interval = window
        .set_interval_with_callback_and_timeout_and_arguments_0(on_interval.as_ref().unchecked_ref(), period_ms)
        .ok()?;
    let document = window.document()?;
    let visible_document = document.clone();
    let on_visible = Closure::<dyn Fn()>::new(move || {
        if visible_document.visibility_state() == web_sys::VisibilityState::Visible {
            check();
        }
    });
    let _ = document.add_event_listener_with_callback("visibilitychange", on_visible.as_ref().unchecked_ref());
    Some(KeepFresh { interval, document, _on_interval: on_interval, on_visible })
}

pub struct KeepFresh {
    interval: i32,
    document: web_sys::Document,
    _on_interval: Closure<dyn Fn()>,
    on_visible: Closure<dyn Fn()>,
}

impl Drop for KeepFresh {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            window.clear_interval_with_handle(self.interval);
        }
        let _ = self
            .document
            .remove_event_listener_with_callback("visibilitychange", self.on_visible.as_ref().unchecked_ref());
    }
}

/// Calls `on_change` whenever the browser goes online or offline; returns whether it is online now.
pub fn watch_online(on_change: impl Fn(bool) + Clone + 'static) -> bool {
    let Some(window) = web_sys::window() else { return true };
    for (event, online) in [("online", true), ("offline", false)] {
        let on_change = on_change.clone();
        let listener = Closure::<dyn Fn()>::new(move || on_change(online));
        let _ = window.add_event_listener_with_callback(event, listener.as_ref().unchecked_ref());
        listener.forget();
    }
    window.navigator().on_line()
}
