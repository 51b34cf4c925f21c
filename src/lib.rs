//! A Leptos app that keeps a user signed in with short-lived JWTs and a rotating refresh cookie.
//!
//! The session logic (`api::session`) is plain Rust and runs under `cargo test`; everything that touches the
//! browser is compiled for wasm32 only.

pub mod api;
#[cfg(target_arch = "wasm32")]
pub mod components;
#[cfg(target_arch = "wasm32")]
pub mod pages;
#[cfg(target_arch = "wasm32")]
pub mod query;

#[cfg(target_arch = "wasm32")]
pub use app::{App, use_api};

#[cfg(target_arch = "wasm32")]
mod app {
    use leptos::prelude::*;
    use leptos_router::components::{Redirect, Route, Router, Routes};
    use leptos_router::hooks::use_navigate;
    use leptos_router::path;

    use crate::api::browser::{Api, api, keep_fresh, watch_online};
    use crate::api::session::SessionEvent;
    use crate::components::{OfflineBanner, Online, SessionNotice};
    use crate::pages::{LoginPage, UserPage};
    use crate::query::QueryCache;

    /// The session client in context: a copyable handle, since the client itself is single-threaded (`Rc`).
    pub fn use_api() -> StoredValue<Api, LocalStorage> {
        expect_context()
    }

    /// How often an open tab checks whether its token is about to expire.
    const KEEP_FRESH_PERIOD_MS: i32 = 30_000;

    #[component]
    pub fn App() -> impl IntoView {
        let api = api();
        // Checked for as long as the app runs.
        std::mem::forget(keep_fresh(&api, KEEP_FRESH_PERIOD_MS));
        provide_context(StoredValue::new_local(api));
        provide_context(QueryCache::new());
        provide_context(SessionNotice::new());
        let online = RwSignal::new(true);
        online.set(watch_online(move |now_online| online.set(now_online)));
        provide_context(Online(online.read_only()));
        view! {
            <Router>
                <main>
                    <OfflineBanner/>
                    <SessionRoutes/>
                </main>
            </Router>
        }
    }

    /// The routes, and what the app does when the session changes: it lives inside the router to navigate.
    #[component]
    fn SessionRoutes() -> impl IntoView {
        let api = use_api().get_value();
        let cache = expect_context::<QueryCache>();
        let notice = expect_context::<SessionNotice>();
        let navigate = use_navigate();
        api.on_event(move |event| match event {
            SessionEvent::SignedIn => {
                notice.expired.set(false);
                navigate("/user", Default::default());
            }
            SessionEvent::Expired => {
                cache.clear();
                notice.expired.set(true);
                navigate("/login", Default::default());
            }
            SessionEvent::SignedOut => {
                cache.clear();
                navigate("/login", Default::default());
            }
            SessionEvent::Renewed => {}
        });

        view! {
            <Routes fallback=|| view! { <p class="card">"There is no such page."</p> }>
                <Route path=path!("/") view=Home/>
                <Route path=path!("/login") view=LoginPage/>
                <Route path=path!("/user") view=UserPage/>
            </Routes>
        }
    }

    #[component]
    fn Home() -> impl IntoView {
        let target = if use_api().get_value().is_signed_in() { "/user" } else { "/login" };
        view! { <Redirect path=target/> }
    }
}
