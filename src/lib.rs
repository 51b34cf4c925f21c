//! A Leptos app that keeps a user signed in with short-lived JWTs and a rotating refresh cookie.
//!
//! The session rules live in `session-core`, their browser adapters, query cache and hooks in `session-leptos`;
//! the pages and components here show what they decide, and [`App`] routes between them.

pub mod components;
mod local_date;
pub mod pages;

use leptos::prelude::*;
use leptos_router::NavigateOptions;
use leptos_router::components::{FlatRoutes, Redirect, Route, Router};
use leptos_router::hooks::use_navigate;
use leptos_router::path;
use session_core::SessionEvent;
use session_leptos::{browser_client, provide_session, use_session, use_session_event};

use crate::components::{OfflineBanner, StorageNote};
use crate::pages::{LoginPage, NotFoundPage, UserPage};

#[component]
pub fn App() -> impl IntoView {
    // The auth API serves this app: same origin.
    provide_session(browser_client(""));

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

/// Where the app goes when the session changes, in this tab or another (the crate has already emptied the cache
/// and set the notice).
#[component]
fn FollowTheSession() -> impl IntoView {
    let navigate = use_navigate();
    use_session_event(move |event| match event {
        SessionEvent::SignedIn => navigate("/user", NavigateOptions::default()),
        SessionEvent::Ended(_) | SessionEvent::SignedOut => navigate("/login", NavigateOptions::default()),
        _ => {}
    });
}

/// `/` goes wherever the session says.
#[component]
fn Home() -> impl IntoView {
    view! { <Redirect path=start_path() options=replacing()/> }
}

/// Where the app starts for whoever is here: the user page when signed in, else the sign-in page. A link to the
/// start goes there directly: a redirect during a link's navigation would replace the entry the link pushed, and
/// Back would leave the app instead of returning.
pub fn start_path() -> &'static str {
    if use_session().get_value().is_signed_in() { "/user" } else { "/login" }
}
