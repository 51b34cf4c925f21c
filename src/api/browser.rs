//! The session core's browser adapters: fetch through gloo-net, the token in localStorage, `Date.now()`, and the
//! other tabs through the Web Locks API and a BroadcastChannel.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;

use futures::future::{AbortHandle, Either, abortable, select};
use gloo_net::http::{Method as HttpMethod, RequestBuilder};
use js_sys::{Function, Object, Promise, Reflect};
use serde::{Deserialize, Serialize};
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
    let api =
        SessionClient::new(FetchTransport { timeout_ms: DEFAULT_TIMEOUT_MS }, LocalStorageTokens, BrowserClock, tabs);
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
    pub timeout_ms: u32,
}

impl Transport for FetchTransport {
    async fn send(&self, request: &RequestRecipe, bearer: Option<&str>) -> Result<Response, TransportError> {
        let method = match request.method {
            Method::Get => HttpMethod::GET,
            Method::Post => HttpMethod::POST,
            Method::Delete => HttpMethod::DELETE,
        };
        let abort = AbortOnDrop::new(self.timeout_ms).ok_or(TransportError::Network)?;
        let mut builder = RequestBuilder::new(&request.path)
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
        Ok(Response { status, body })
    }
}

/// A fetch's abort controller: fired by the timeout, or by dropping the request (a page that unmounts).
struct AbortOnDrop {
    controller: AbortController,
    timed_out: Rc<Cell<bool>>,
    timer: i32,
    _on_timeout: Closure<dyn FnMut()>,
}

impl AbortOnDrop {
    fn new(timeout_ms: u32) -> Option<Self> {
        let controller = AbortController::new().ok()?;
        let timed_out = Rc::new(Cell::new(false));
        let on_timeout = {
            let (controller, timed_out) = (controller.clone(), Rc::clone(&timed_out));
            Closure::<dyn FnMut()>::new(move || {
                timed_out.set(true);
                controller.abort();
            })
        };
        let timer = web_sys::window()?
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                on_timeout.as_ref().unchecked_ref(),
                i32::try_from(timeout_ms).unwrap_or(i32::MAX),
            )
            .ok()?;
        Some(Self { controller, timed_out, timer, _on_timeout: on_timeout })
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            window.clear_timeout_with_handle(self.timer);
        }
        // Aborting a fetch that already finished does nothing.
        self.controller.abort();
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
        handles.push(handle);
        async move { request.await.ok() }
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
#[serde(rename_all = "camelCase")]
struct StoredExpiry {
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
            .and_then(|text| serde_json::from_str::<StoredExpiry>(&text).ok())
            .unwrap_or(StoredExpiry { expires_at: f64::INFINITY, lifetime: 0.0 });
        Some(AccessToken { value, expires_at_ms: expiry.expires_at, lifetime_ms: expiry.lifetime })
    }

    fn save(&self, token: &AccessToken) {
        let Some(storage) = Self::storage() else { return };
        let expiry = StoredExpiry { expires_at: token.expires_at_ms, lifetime: token.lifetime_ms };
        let _ = storage.set_item(ACCESS_TOKEN_KEY, &token.value);
        if let Ok(text) = serde_json::to_string(&expiry) {
            let _ = storage.set_item(ACCESS_TOKEN_EXPIRY_KEY, &text);
        }
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
