//! The other tabs of the app: one refresh at a time across all of them (a Web Lock), and news of sign-in,
//! sign-out and expiry (a BroadcastChannel; where there is none, a localStorage item whose `storage` event
//! reaches every other tab).

mod web_lock;

use std::time::Duration;

use leptos::prelude::{WindowListenerHandle, window_event_listener_untyped};
use session_core::{EndReason, SessionEvent, Tabs};
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BroadcastChannel, MessageEvent, StorageEvent};

use super::client::BrowserClient;
use super::clock::whole_millis;
pub use web_lock::HeldLock;

const LOCK_NAME: &str = "session-refresh";
const CHANNEL_NAME: &str = "session";
/// Without a BroadcastChannel: the last announcement, `<event> <time>` (the time makes each one a change, which
/// is what fires the other tabs' `storage` event).
pub const ANNOUNCEMENT_KEY: &str = "sessionEvent";
/// Longer than a refresh may take, so a tab waits for another's refresh rather than racing it.
const LOCK_MARGIN_MS: u32 = 5_000;

/// The [`Tabs`] of a browser: the refresh lock is a Web Lock, and the news goes out on a BroadcastChannel (or,
/// without one, through a localStorage item).
pub struct BrowserTabs {
    /// One object for sending and receiving: a BroadcastChannel never delivers to itself.
    channel: Option<BroadcastChannel>,
    lock_timeout_ms: u32,
}

impl BrowserTabs {
    /// `request_timeout`: how long a refresh may take, and so (with a margin) how long another tab's lock is
    /// waited for.
    pub fn new(request_timeout: Duration) -> Self {
        Self {
            channel: BroadcastChannel::new(CHANNEL_NAME).ok(),
            lock_timeout_ms: whole_millis(request_timeout).saturating_add(LOCK_MARGIN_MS),
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
pub struct OtherTabs(Listening);

enum Listening {
    /// A `message` listener of its own (not the channel's one `onmessage`, which a second listener would take
    /// over): the closure lives as long as the channel may call it.
    Channel {
        channel: BroadcastChannel,
        on_message: Closure<dyn Fn(MessageEvent)>,
    },
    StorageEvents(Option<WindowListenerHandle>),
}

impl OtherTabs {
    /// Starts passing the other tabs' announcements to `api`'s listeners.
    pub fn listen(api: &BrowserClient) -> Self {
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
                let _ = channel.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
                Self(Listening::Channel { channel, on_message })
            }
            None => Self(Listening::StorageEvents(Some(window_event_listener_untyped("storage", move |event| {
                let Some(event) = event.dyn_ref::<StorageEvent>() else { return };
                if event.key().as_deref() == Some(ANNOUNCEMENT_KEY) {
                    let value = event.new_value().unwrap_or_default();
                    hear(value.split(' ').next().unwrap_or_default());
                }
            })))),
        }
    }
}

impl Drop for OtherTabs {
    fn drop(&mut self) {
        match &mut self.0 {
            Listening::Channel { channel, on_message } => {
                let _ = channel.remove_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
            }
            Listening::StorageEvents(listener) => {
                if let Some(listener) = listener.take() {
                    listener.remove();
                }
            }
        }
    }
}

/// The names of the announcements, as they travel between tabs.
const ANNOUNCED: [(SessionEvent, &str); 4] = [
    (SessionEvent::SignedIn, "signed-in"),
    (SessionEvent::SignedOut, "signed-out"),
    (SessionEvent::Ended(EndReason::Expired), "expired"),
    (SessionEvent::Ended(EndReason::Reused), "reused"),
];

/// Other tabs read a renewed token from localStorage on their next request: it is not announced.
fn event_name(event: SessionEvent) -> Option<&'static str> {
    ANNOUNCED.iter().find(|(announced, _)| *announced == event).map(|(_, name)| *name)
}

fn event_from_name(name: &str) -> Option<SessionEvent> {
    ANNOUNCED.iter().find(|(_, announced)| *announced == name).map(|(event, _)| *event)
}
