//! A Leptos app that keeps a user signed in with short-lived JWTs and a rotating refresh cookie.
//!
//! The session rules live in the `session-core` crate; [`api`] plugs them into the browser, and the pages and
//! components here show what they decide.

pub mod api;
pub mod components;
mod local_date;
pub mod pages;
pub mod query;

use std::time::Duration;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::{FlatRoutes, Redirect, Route, Router};
use leptos_router::hooks::use_navigate;
use leptos_router::path;
use session_core::SessionEvent;

use crate::api::{Api, OtherTabs, api, keep_fresh, use_online_signal};
use crate::components::{OfflineBanner, Online, SessionNotice, StorageNote};
use crate::pages::{LoginPage, NotFoundPage, UserPage};
use crate::query::{QueryClient, provide_query_client};

/// How often an open tab checks whether its token is about to expire.
const KEEP_FRESH_EVERY: Duration = Duration::from_secs(30);

/// The session client in context: a copyable handle, since the client itself is single-threaded (`Rc`).
pub fn use_api() -> StoredValue<Api, LocalStorage> {
    expect_context()
}

/// Puts a session client and what the pages share (query cache, notices, the online signal) in context.
pub fn provide_session(api: Api) {
    provide_context(Online(use_online_signal(&api)));
    provide_context(StoredValue::new_local(api));
    provide_query_client();
    provide_context(SessionNotice::new());
}

#[component]
pub fn App() -> impl IntoView {
    let api = api();
    keep_fresh(&api, KEEP_FRESH_EVERY);
    let finishing = api.clone();
    wasm_bindgen_futures::spawn_local(async move { finishing.finish_pending_logout().await });
    // Hears the other tabs for as long as the app runs; dropped (and silenced) with it.
    let _other_tabs = StoredValue::new_local(OtherTabs::listen(&api));
    provide_session(api);

    view! {
        <Router>
            <FollowTheSession/>
            <main>
                <OfflineBanner/>
                <StorageNote/>
                <FlatRoutes fallback=NotFoundPage>
                    <Route path=path!("/") view=Home/>
                    <Route path=path!("/login") view=LoginPage/>
                    <Route path=path!("/user") view=UserPage/>
                </FlatRoutes>
            </main>
        </Router>
    }
}

/// Navigation that replaces the current history entry, so Back does not return to a page that only redirected.
pub fn replacing() -> NavigateOptions {
    NavigateOptions { replace: true, ..NavigateOptions::default() }
}

/// What the app does when the session changes, in this tab or another.
#[component]
fn FollowTheSession() -> impl IntoView {
    let cache = expect_context::<QueryClient>();
    let notice = expect_context::<SessionNotice>();
    let navigate = use_navigate();
    let api = use_api();
    api.get_value().on_event(move |event| {
        let client = api.get_value();
        notice.kept_in_memory.set(client.is_signed_in() && client.store().is_in_memory_only());
        if event != SessionEvent::Renewed {
            // Every session change empties the cache: the next user never sees the last one's data.
            cache.clear();
        }
        match event {
            SessionEvent::SignedIn => {
                notice.expired.set(false);
                navigate("/user", NavigateOptions::default());
            }
            SessionEvent::Expired => {
                notice.expired.set(true);
                navigate("/login", NavigateOptions::default());
            }
            SessionEvent::SignedOut => navigate("/login", NavigateOptions::default()),
            SessionEvent::Renewed => {}
        }
    });
}

/// `/` goes wherever the session says.
#[component]
fn Home() -> impl IntoView {
    let target = if use_api().get_value().is_signed_in() { "/user" } else { "/login" };
    view! { <Redirect path=target options=replacing()/> }
}
