//! The app's three routes need no nested router (leptos_router adds 44 KB gzip to this app): the path lives in a
//! signal, kept in step with the History API.

use leptos::prelude::*;
use wasm_bindgen::prelude::*;

/// Where the app is, and the way to move. Copy it freely: it is a handle to one signal.
#[derive(Clone, Copy)]
pub struct Location {
    path: RwSignal<String>,
}

impl Location {
    /// Starts at the browser's current path and follows its back and forward buttons.
    pub fn from_browser() -> Self {
        let location = Self { path: RwSignal::new(current_path()) };
        if let Some(window) = web_sys::window() {
            let on_pop_state = Closure::<dyn Fn()>::new(move || location.path.set(current_path()));
            let _ = window.add_event_listener_with_callback("popstate", on_pop_state.as_ref().unchecked_ref());
            // Listens for as long as the app runs.
            on_pop_state.forget();
        }
        location
    }

    pub fn path(&self) -> String {
        self.path.get()
    }

    /// A new history entry, as following a link would make.
    pub fn navigate(&self, to: &str) {
        self.go(to, |history, to| history.push_state_with_url(&JsValue::NULL, "", Some(to)));
    }

    /// Replaces the current entry, so Back does not return to a page that only redirected.
    pub fn replace(&self, to: &str) {
        self.go(to, |history, to| history.replace_state_with_url(&JsValue::NULL, "", Some(to)));
    }

    fn go(&self, to: &str, change: impl Fn(&web_sys::History, &str) -> Result<(), JsValue>) {
        if self.path.get_untracked() == to {
            return;
        }
        if let Some(history) = web_sys::window().and_then(|window| window.history().ok()) {
            let _ = change(&history, to);
        }
        self.path.set(to.to_owned());
    }
}

fn current_path() -> String {
    web_sys::window().and_then(|window| window.location().pathname().ok()).unwrap_or_else(|| "/".to_owned())
}

pub fn use_location() -> Location {
    expect_context()
}

/// Goes to `path` once rendered, replacing the history entry of the page that redirected.
#[component]
pub fn Redirect(path: &'static str) -> impl IntoView {
    let location = use_location();
    Effect::new(move |_| location.replace(path));
}
