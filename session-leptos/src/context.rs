//! What [`provide_session`] puts in context for every component below it, and the `use_*` hooks that read it.

use std::time::Duration;

use leptos::prelude::*;
use session_core::{EndReason, SessionError, SessionEvent, TokenStore};

use crate::browser::{BrowserClient, OtherTabs, keep_fresh, use_online_signal};
use crate::query::QueryClient;

/// How often an open tab checks whether its token is about to expire.
const KEEP_FRESH_EVERY: Duration = Duration::from_secs(30);

/// What the app may want to tell the user about the session. The crate keeps both signals current; showing
/// them, in the app's own words, is the app's choice.
#[derive(Clone, Copy)]
pub struct SessionNotice {
    /// The server ended the session (its refresh was refused), in this tab or another, and why: the sign-in page
    /// can say why the user is there. Cleared by the next sign-in; the app may clear it when the user dismisses
    /// it.
    pub ended: RwSignal<Option<EndReason>>,
    /// Signed in, but localStorage refused the token: the session lives in this tab's memory and ends with a
    /// reload.
    pub kept_in_memory: RwSignal<bool>,
    /// Signed in with a session not bound to this browser's key (no WebCrypto or IndexedDB here, or a server that
    /// does not bind): its tokens are Bearer ones, which a copy would work with elsewhere. Read from the stored
    /// token, so every tab and every reload say it (never a silent downgrade).
    pub without_device_key: RwSignal<bool>,
}

/// Whether the browser is online: at first, and until its `offline` event says otherwise.
#[derive(Clone, Copy)]
struct Online(ReadSignal<bool>);

/// Puts `client` in context with everything a Leptos app needs around it, for as long as the calling owner
/// lives:
///
/// - the client itself ([`use_session`]) and the news of its [`SessionEvent`]s ([`use_session_event`]);
/// - the other tabs' announcements and the token they store (followed when an announcement was missed), and a
///   check every 30 s (and when the tab is shown) that renews an idle tab's
///   token before it expires;
/// - a sign-out that did not reach the server is told to it now;
/// - the online signal ([`use_online`]): back online, the client forgets its backoff;
/// - the query cache ([`use_query_client`](crate::use_query_client)), emptied on every session change so that
///   the next user never sees the last one's data (on a sign-in, what is still read loads again);
/// - the [`SessionNotice`] ([`use_session_notice`]).
pub fn provide_session(client: BrowserClient) {
    keep_fresh(&client, KEEP_FRESH_EVERY);
    let finishing = client.clone();
    wasm_bindgen_futures::spawn_local(async move { finishing.finish_pending_logout().await });
    // Hears the other tabs until the owner is cleaned up, which drops (and silences) it.
    let _other_tabs = StoredValue::new_local(OtherTabs::listen(&client));
    let online = use_online_signal(&client);
    let unbound = client.store().load().is_some_and(|token| !token.bound);
    provide_context(Online(online));
    let session = StoredValue::new_local(client);
    provide_context(session);
    let cache = QueryClient::new(online.into());
    provide_context(cache);
    let notice = SessionNotice {
        ended: RwSignal::new(None),
        kept_in_memory: RwSignal::new(false),
        without_device_key: RwSignal::new(unbound),
    };
    provide_context(notice);
    use_session_event(move |event| {
        let client = session.get_value();
        notice.kept_in_memory.set(client.is_signed_in() && client.store().is_in_memory_only());
        notice.without_device_key.set(client.store().load().is_some_and(|token| !token.bound));
        match event {
            SessionEvent::SignedIn => notice.ended.set(None),
            SessionEvent::Ended(reason) => notice.ended.set(Some(reason)),
            SessionEvent::SignedOut => {}
            // A renewal (or news this version does not know) leaves the session as it was.
            _ => return,
        }
        // Every other change of session empties the cache: the next user never sees the last one's data.
        cache.clear();
        if event == SessionEvent::SignedIn {
            // What is still on screen loads for the new user; signed out, there is nothing to load.
            cache.refetch_active();
        }
    });
}

/// The session client in context: a copyable handle (the client itself is single-threaded, `Rc`). Cloning
/// the client out of it is cheap, and every clone is the same client.
///
/// # Panics
/// Outside [`provide_session`].
pub fn use_session() -> StoredValue<BrowserClient, LocalStorage> {
    expect_context()
}

/// Calls `listener` on every [`SessionEvent`], from this tab or another, until the calling owner is cleaned
/// up (the component unmounts).
///
/// # Panics
/// Outside [`provide_session`].
pub fn use_session_event(listener: impl Fn(SessionEvent) + 'static) {
    let subscription = use_session().get_value().on_event(listener);
    // Dropped, and so unsubscribed, with the owner.
    let _subscription = StoredValue::new_local(subscription);
}

/// Signs in with `(username, password)`, as an action a form dispatches: pending while it runs, its value the
/// outcome (a refusal carries the contract's code). The session's events do the rest (the cache, the notice, the
/// other tabs).
///
/// Defined here rather than in each app so that the client's sign-in is compiled once, in this crate: an app that
/// polls the client's `async` bodies itself gets instances of them made in its own crate, beside this crate's
/// (seen in release builds with `-C symbol-mangling-version=v0`, which names the crate that made each instance).
///
/// # Panics
/// Outside [`provide_session`].
pub fn use_sign_in() -> Action<(String, String), Result<(), SessionError>> {
    let api = use_session();
    Action::new_local(move |(username, password): &(String, String)| {
        let (api, username, password) = (api.get_value(), username.clone(), password.clone());
        async move { api.sign_in(&username, &password).await }
    })
}

/// Signs out, as an action: at once here and in every tab, then on the server when it can be reached.
///
/// # Panics
/// Outside [`provide_session`].
pub fn use_sign_out() -> Action<(), ()> {
    let api = use_session();
    Action::new_local(move |_: &()| {
        let api = api.get_value();
        async move { api.sign_out().await }
    })
}

/// Whether the browser is online, kept current by its online and offline events.
///
/// # Panics
/// Outside [`provide_session`].
pub fn use_online() -> ReadSignal<bool> {
    expect_context::<Online>().0
}

/// What to tell the user about the session.
///
/// # Panics
/// Outside [`provide_session`].
pub fn use_session_notice() -> SessionNotice {
    expect_context()
}
