//! The other tabs of the app: one refresh at a time across all of them (a Web Lock), and news of sign-in,
//! sign-out and expiry (a BroadcastChannel; where there is none, a localStorage item whose `storage` event
//! reaches every other tab).

mod web_lock;

use leptos::prelude::{WindowListenerHandle, window_event_listener_untyped};
use session_core::{SessionEvent, Tabs};
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BroadcastChannel, MessageEvent, StorageEvent};

use super::Api;
pub use web_lock::HeldLock;

const LOCK_NAME: &str = "session-refresh";
const CHANNEL_NAME: &str = "session";
/// Without a BroadcastChannel: the last announcement, `<event> <time>` (the time makes each one a change, which
/// is what fires the other tabs' `storage` event).
pub const ANNOUNCEMENT_KEY: &str = "sessionEvent";
/// Longer than a refresh may take, so a tab waits for another's refresh rather than racing it.
const LOCK_MARGIN_MS: u32 = 5_000;

pub struct BrowserTabs {
    /// One object for sending and receiving: a BroadcastChannel never delivers to itself.
    channel: Option<BroadcastChannel>,
    lock_timeout_ms: u32,
}

impl BrowserTabs {
    /// `request_timeout_ms`: how long a refresh may take, and so how long another tab's lock is waited for.
    pub fn new(request_timeout_ms: u32) -> Self {
        Self {
            channel: BroadcastChannel::new(CHANNEL_NAME).ok(),
            lock_timeout_ms: request_timeout_ms.saturating_add(LOCK_MARGIN_MS),
        }
    }
}

impl Tabs for BrowserTabs {
    /// `None` where the Web Locks API is missing or the wait timed out: the tab goes on without the lock, and
    /// re-reading the token store still spares most duplicate refreshes.
    type Lock = Option<HeldLock>;

    async fn lock(&self) -> Self::Lock {
        web_lock::request(LOCK_NAME, self.lock_timeout_ms).await
    }

    fn announce(&self, event: SessionEvent) {
        let Some(name) = event_name(event) else { return };
        match &self.channel {
            Some(channel) => drop(channel.post_message(&JsValue::from_str(name))),
            None => {
                if let Some(storage) = web_sys::window().and_then(|window| window.local_storage().ok().flatten()) {
                    // The time written by JS: formatting an f64 in Rust would ship core's float printing (10 KB).
                    let now = js_sys::Number::from(js_sys::Date::now()).to_string_with_radix(10).map(String::from);
                    let _ = storage.set_item(ANNOUNCEMENT_KEY, &format!("{name} {}", now.unwrap_or_default()));
                }
            }
        }
    }
}

/// Passes what the other tabs announce to a client, until dropped.
pub enum OtherTabs {
    Channel(BroadcastChannel, Closure<dyn Fn(MessageEvent)>),
    StorageEvents(Option<WindowListenerHandle>),
}

impl OtherTabs {
    pub fn listen(api: &Api) -> Self {
        let receiver = api.clone();
        let hear = move |name: &str| {
            if let Some(event) = event_from_name(name) {
                receiver.receive_from_other_tab(event);
            }
        };
        match api.tabs().channel.clone() {
            Some(channel) => {
                let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |message: MessageEvent| {
                    hear(&message.data().as_string().unwrap_or_default());
                });
                channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
                Self::Channel(channel, on_message)
            }
            None => Self::StorageEvents(Some(window_event_listener_untyped("storage", move |event| {
                let Some(event) = event.dyn_ref::<StorageEvent>() else { return };
                if event.key().as_deref() == Some(ANNOUNCEMENT_KEY) {
                    let value = event.new_value().unwrap_or_default();
                    hear(value.split(' ').next().unwrap_or_default());
                }
            }))),
        }
    }
}

impl Drop for OtherTabs {
    fn drop(&mut self) {
        match self {
            Self::Channel(channel, _) => channel.set_onmessage(None),
            Self::StorageEvents(listener) => {
                if let Some(listener) = listener.take() {
                    listener.remove();
                }
            }
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
