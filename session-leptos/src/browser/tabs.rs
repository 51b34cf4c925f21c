//! The other tabs of the app: one change of session at a time across all of them (a Web Lock), and news of
//! sign-in, renewal, sign-out and expiry (a BroadcastChannel; where there is none, a localStorage item whose
//! `storage` event reaches every other tab), and the token other pages store (its `storage` event).

mod web_lock;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use futures::channel::oneshot;
use leptos::prelude::{WindowListenerHandle, window_event_listener_untyped};
use serde::{Deserialize, Serialize};
use session_contract::ACCESS_TOKEN_STORAGE_KEY;
use session_core::{EndReason, News, SessionEvent, Tabs};
use wasm_bindgen::prelude::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{BroadcastChannel, MessageEvent, StorageEvent};

use super::client::BrowserClient;
use super::clock::{sleep, whole_millis};
use super::token_store::StoredToken;
pub use web_lock::HeldLock;

const LOCK_NAME: &str = "session-refresh";
const CHANNEL_NAME: &str = "session";
/// Without a BroadcastChannel: the last announcement, as the JSON the channel would carry (its time makes each
/// one a change, which is what fires the other tabs' `storage` event).
pub const ANNOUNCEMENT_KEY: &str = "sessionEvent";
/// Longer than a refresh may take, so a tab waits for another's refresh rather than racing it.
const LOCK_MARGIN_MS: u32 = 5_000;
/// How long a tab that waited for the lock waits for its last holder's release notice: a holder posts it before
/// it releases, so it is normally there already (a BroadcastChannel message takes milliseconds); a tab closed
/// while holding the lock never sends one, and this tab's own release is no notice to wait for.
const RELEASE_NOTICE_WAIT: Duration = Duration::from_millis(250);
/// The name of the notice a lock holder posts as it releases the lock.
const RELEASED: &str = "released";

/// The [`Tabs`] of a browser: the lock is a Web Lock, and the news goes out on a BroadcastChannel (or, without
/// one, through a localStorage item). The channel is closed when this is dropped.
pub struct BrowserTabs {
    /// One object for sending and receiving: a BroadcastChannel never delivers to itself.
    channel: Option<BroadcastChannel>,
    lock_timeout_ms: u32,
    releases: Rc<Releases>,
}

/// The lock's releases this tab knows of (its own, and the other tabs' notices), and who waits for the next.
#[derive(Default)]
struct Releases {
    count: Cell<u64>,
    waiting: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Releases {
    fn happened(&self) {
        self.count.set(self.count.get() + 1);
        for waiting in self.waiting.take() {
            let _ = waiting.send(());
        }
    }

    /// Once a release after the `heard`-th is known, or after [`RELEASE_NOTICE_WAIT`] on one timer.
    async fn after(&self, heard: u64) {
        if self.count.get() > heard {
            return;
        }
        let (notice, noticed) = oneshot::channel();
        self.waiting.borrow_mut().push(notice);
        futures::future::select(noticed, Box::pin(sleep(RELEASE_NOTICE_WAIT))).await;
    }
}

impl BrowserTabs {
    /// `request_timeout`: how long a refresh may take, and so (with a margin) how long another tab's lock is
    /// waited for.
    pub fn new(request_timeout: Duration) -> Self {
        Self {
            channel: BroadcastChannel::new(CHANNEL_NAME).ok(),
            lock_timeout_ms: whole_millis(request_timeout).saturating_add(LOCK_MARGIN_MS),
            releases: Rc::default(),
        }
    }

    fn post(&self, message: &Message) {
        let Ok(text) = serde_json::to_string(message) else { return };
        match &self.channel {
            Some(channel) => drop(channel.post_message(&JsValue::from_str(&text))),
            None => {
                if let Some(storage) = web_sys::window().and_then(|window| window.local_storage().ok().flatten()) {
                    let _ = storage.set_item(ANNOUNCEMENT_KEY, &text);
                }
            }
        }
    }
}

impl Drop for BrowserTabs {
    fn drop(&mut self) {
        if let Some(channel) = &self.channel {
            channel.close();
        }
    }
}

/// The lock, held until dropped; dropping it tells the other tabs (before the Web Lock is released) that the
/// next one may go on.
pub struct SessionLock {
    channel: Option<BroadcastChannel>,
    releases: Rc<Releases>,
    _held: HeldLock,
}

impl Drop for SessionLock {
    fn drop(&mut self) {
        if let (Some(channel), Ok(notice)) = (&self.channel, serde_json::to_string(&Message::notice(RELEASED))) {
            let _ = channel.post_message(&JsValue::from_str(&notice));
        }
        self.releases.happened();
    }
}

impl Tabs for BrowserTabs {
    /// `None` where the Web Locks API is missing or the wait timed out: the tab goes on without the lock, and
    /// re-reading the token store still spares most duplicate refreshes.
    type Lock = Option<SessionLock>;

    async fn lock(&self) -> Self::Lock {
        let heard = self.releases.count.get();
        let held = match web_lock::request_if_available(LOCK_NAME).await {
            Some(held) => held,
            None => {
                // Someone holds it: once it is ours, the last holder's news (posted before its release notice)
                // must be in before this tab decides, whatever its view of localStorage says yet.
                let held = web_lock::request(LOCK_NAME, self.lock_timeout_ms).await?;
                if self.channel.is_some() {
                    self.releases.after(heard).await;
                }
                held
            }
        };
        Some(SessionLock { channel: self.channel.clone(), releases: Rc::clone(&self.releases), _held: held })
    }

    fn announce(&self, news: &News) {
        if let Some(name) = event_name(news.event) {
            self.post(&Message {
                event: name.to_owned(),
                session: news.session.clone(),
                token: news.token.as_ref().map(StoredToken::from),
                at: js_sys::Date::now(),
            });
        }
    }
}

/// What travels between tabs, as JSON.
#[derive(Serialize, Deserialize)]
struct Message {
    event: String,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    token: Option<StoredToken>,
    /// When it was sent: two identical announcements are still two changes of the localStorage item.
    #[serde(default)]
    at: f64,
}

impl Message {
    fn notice(name: &str) -> Self {
        Self { event: name.to_owned(), session: None, token: None, at: js_sys::Date::now() }
    }

    /// The news it carries; `None` for a notice, or for anything this version cannot read (a token a header
    /// could not carry, a sign-in or renewal without its token, an event it does not know).
    fn into_news(self) -> Option<News> {
        let event = event_from_name(&self.event)?;
        match (self.token, event) {
            (Some(token), _) => Some(News::of_token(event, token.into_token()?)),
            (None, SessionEvent::SignedIn | SessionEvent::Renewed) => None,
            (None, _) => Some(News::of_session(event, self.session)),
        }
    }

    /// What a tab of the previous version posted: the bare event name (and, in localStorage, its time).
    fn from_previous_version(text: &str) -> Option<Self> {
        let name = text.split(' ').next()?;
        event_from_name(name)?;
        Some(Self { event: name.to_owned(), session: None, token: None, at: 0.0 })
    }
}

type OnMessage = Closure<dyn Fn(MessageEvent)>;

/// Passes what the other tabs announce to a client, and the changes they make to the stored token, until
/// dropped.
pub struct OtherTabs {
    /// A `message` listener of its own (not the channel's one `onmessage`, which a second listener would take
    /// over): the closure lives as long as the channel may call it.
    channel: Option<(BroadcastChannel, OnMessage)>,
    /// The token written by another page (a sign-in that reached this page's view of localStorage late, after
    /// its announcement) and, where there is no channel, the announcements.
    storage: Option<WindowListenerHandle>,
}

impl OtherTabs {
    /// Starts passing the other tabs' announcements and token changes to `api`, and counting their release
    /// notices.
    pub fn listen(api: &BrowserClient) -> Self {
        let receiver = api.clone();
        let releases = Rc::clone(&api.tabs().releases);
        let hear = move |text: &str| {
            let message = serde_json::from_str::<Message>(text).ok().or_else(|| Message::from_previous_version(text));
            let Some(message) = message else { return };
            if message.event == RELEASED {
                releases.happened();
            } else if let Some(news) = message.into_news() {
                receiver.receive_from_other_tab(news);
            }
        };
        let channel = api.tabs().channel.clone();
        let announced_in_storage = channel.is_none();
        let (follower, hear_in_storage) = (api.clone(), hear.clone());
        let storage = window_event_listener_untyped("storage", move |event| {
            let Some(event) = event.dyn_ref::<StorageEvent>() else { return };
            match event.key().as_deref() {
                Some(ACCESS_TOKEN_STORAGE_KEY) => follower.store_changed_elsewhere(),
                Some(ANNOUNCEMENT_KEY) if announced_in_storage => {
                    hear_in_storage(&event.new_value().unwrap_or_default());
                }
                _ => {}
            }
        });
        let channel = channel.map(|channel| {
            let on_message = OnMessage::new(move |message: MessageEvent| {
                hear(&message.data().as_string().unwrap_or_default());
            });
            let _ = channel.add_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
            (channel, on_message)
        });
        Self { channel, storage: Some(storage) }
    }
}

impl Drop for OtherTabs {
    fn drop(&mut self) {
        if let Some((channel, on_message)) = &self.channel {
            let _ = channel.remove_event_listener_with_callback("message", on_message.as_ref().unchecked_ref());
        }
        if let Some(storage) = self.storage.take() {
            storage.remove();
        }
    }
}

/// The names of the announcements, as they travel between tabs.
const ANNOUNCED: [(SessionEvent, &str); 5] = [
    (SessionEvent::SignedIn, "signed-in"),
    (SessionEvent::Renewed, "renewed"),
    (SessionEvent::SignedOut, "signed-out"),
    (SessionEvent::Ended(EndReason::Expired), "expired"),
    (SessionEvent::Ended(EndReason::Reused), "reused"),
];

fn event_name(event: SessionEvent) -> Option<&'static str> {
    ANNOUNCED.iter().find(|(announced, _)| *announced == event).map(|(_, name)| *name)
}

fn event_from_name(name: &str) -> Option<SessionEvent> {
    ANNOUNCED.iter().find(|(_, announced)| *announced == name).map(|(event, _)| *event)
}
