//! The other tabs of the app: one refresh at a time across all of them (a Web Lock), and news of sign-in,
//! sign-out and expiry (a BroadcastChannel).

mod web_lock;

use session_core::{SessionEvent, Tabs};
use wasm_bindgen::JsValue;
use wasm_bindgen::prelude::Closure;
use web_sys::{BroadcastChannel, MessageEvent};

use super::Api;
pub use web_lock::HeldLock;

const LOCK_NAME: &str = "session-refresh";
const CHANNEL_NAME: &str = "session";
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
        if let (Some(channel), Some(name)) = (&self.channel, event_name(event)) {
            let _ = channel.post_message(&JsValue::from_str(name));
        }
    }
}

/// Passes what the other tabs announce to a client, until dropped.
pub struct OtherTabs {
    channel: Option<BroadcastChannel>,
    _on_message: Closure<dyn Fn(MessageEvent)>,
}

impl OtherTabs {
    pub fn listen(api: &Api) -> Self {
        let channel = api.tabs().channel.clone();
        let receiver = api.clone();
        let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |message: MessageEvent| {
            if let Some(event) = message.data().as_string().as_deref().and_then(event_from_name) {
                receiver.receive_from_other_tab(event);
            }
        });
        if let Some(channel) = &channel {
            channel.set_onmessage(Some(wasm_bindgen::JsCast::unchecked_ref(on_message.as_ref())));
        }
        Self { channel, _on_message: on_message }
    }
}

impl Drop for OtherTabs {
    fn drop(&mut self) {
        if let Some(channel) = &self.channel {
            channel.set_onmessage(None);
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
