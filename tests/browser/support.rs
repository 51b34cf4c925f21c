//! What the app's browser tests share beyond the crate's own helpers: mounting a page inside a router.

use leptos::prelude::IntoView;
use leptos::view;
use session_leptos::BrowserClient;
pub use session_leptos::testing::*;

/// Mounts a page with a session client and everything the app puts in context around its pages.
pub fn mount_page<V: IntoView + 'static>(client: BrowserClient, page: impl FnOnce() -> V + Send + 'static) -> Mounted {
    mount_with_session(client, move || {
        view! { <leptos_router::components::Router>{page()}</leptos_router::components::Router> }
    })
}
