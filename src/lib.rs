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
pub mod router;

#[cfg(target_arch = "wasm32")]
pub use app::{App, use_api};

#[cfg(target_arch = "wasm32")]
mod app {
    use leptos::prelude::*;

    use crate::api::browser::{Api, api, keep_fresh, watch_online};
    use crate::api::session::SessionEvent;
    use crate::components::{OfflineBanner, Online, SessionNotice};
    use crate::pages::{LoginPage, UserPage};
    use crate::query::QueryCache;
    use crate::router::{Location, Redirect, use_location};

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
        let location = Location::from_browser();
        provide_context(location);
        follow_the_session();

        let route = Memo::new(move |_| Route::of(&location.path()));
        view! {
            <main>
                <OfflineBanner/>
                {move || match route.get() {
                    Route::Home => view! { <Home/> }.into_any(),
                    Route::Login => view! { <LoginPage/> }.into_any(),
                    Route::User => view! { <UserPage/> }.into_any(),
                    Route::NotFound => view! { <p class="card">"There is no such page."</p> }.into_any(),
                }}
            </main>
        }
    }

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Route {
        Home,
        Login,
        User,
        NotFound,
    }

    impl Route {
        fn of(path: &str) -> Self {
            match path.trim_end_matches('/') {
                "" => Self::Home,
                "/login" => Self::Login,
                "/user" => Self::User,
                _ => Self::NotFound,
            }
        }
    }

    /// What the app does when the session changes, in this tab or another.
    fn follow_the_session() {
        let cache = expect_context::<QueryCache>();
        let notice = expect_context::<SessionNotice>();
        let location = use_location();
        use_api().get_value().on_event(move |event| match event {
            SessionEvent::SignedIn => {
                notice.expired.set(false);
                location.navigate("/user");
            }
            SessionEvent::Expired => {
                cache.clear();
                notice.expired.set(true);
                location.navigate("/login");
            }
            SessionEvent::SignedOut => {
                cache.clear();
                location.navigate("/login");
            }
            SessionEvent::Renewed => {}
        });
    }

    #[component]
    fn Home() -> impl IntoView {
        let target = if use_api().get_value().is_signed_in() { "/user" } else { "/login" };
        view! { <Redirect path=target/> }
    }
}
