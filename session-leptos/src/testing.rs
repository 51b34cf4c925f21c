//! Browser-test helpers for apps built on this crate (feature `testing`): a clean page per test, a `fetch` stub
//! that records every request, views mounted with the session in context, and waits that fail with a name.
//! They run inside `wasm-bindgen-test` in a real browser; nothing here is for production code.
// A helper that unwraps fails the test at the place it failed: what a test helper should do.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use leptos::prelude::*;
use session_core::{AccessToken, TokenStore};
use wasm_bindgen::JsCast;

use session_contract::CSRF_HEADER;

use crate::browser::{BrowserClient, LocalStorageTokens};

/// The page's document.
pub fn document() -> web_sys::Document {
    web_sys::window().and_then(|window| window.document()).expect("a document")
}

/// The origin's localStorage.
pub fn local_storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

/// The device's key pair as IndexedDB holds it: what any script of the page can read, for a test that checks
/// its private half cannot be exported.
pub async fn stored_device_key() -> Option<web_sys::CryptoKeyPair> {
    crate::browser::device_key::indexed_db::KeyStore::default().get().await.ok().flatten()
}

/// Resolves after `duration`, on the browser's timer.
pub async fn sleep(duration: Duration) {
    crate::browser::sleep(duration).await;
}

/// Waits up to two seconds for `probe` to find something, and returns it; otherwise fails naming `what`.
pub async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(found) = probe() {
            return found;
        }
        sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen within two seconds");
}

/// Waits until `condition` holds.
pub async fn eventually_true(what: &str, mut condition: impl FnMut() -> bool) {
    eventually(what, || condition().then_some(())).await;
}

/// Waits for an element of the page under test to match.
pub async fn wait_for(selector: &str) -> web_sys::HtmlElement {
    let found =
        eventually(selector, || document().query_selector(&format!("#page-under-test {selector}")).ok().flatten());
    found.await.unchecked_into()
}

/// Every test starts from a clean page and leaves one: creating this and dropping it both unmount the page
/// under test, put the real `fetch` back and empty localStorage. (On wasm32 a failing test traps instead of
/// unwinding, so no destructor runs then: the next test's `clean_page()` does the work.)
#[must_use = "the cleanup runs when this is dropped"]
pub struct Clean(());

/// Starts a test on a clean page; see [`Clean`].
pub fn clean_page() -> Clean {
    restore();
    Clean(())
}

fn restore() {
    if let Some(previous) = document().get_element_by_id("page-under-test") {
        previous.remove();
    }
    run_js(
        "if (window.realFetch) { window.fetch = window.realFetch; } window.sentRequests = []; delete window.answerSignIn; delete window.answers; delete window.tries; delete window.release;",
    );
    local_storage().clear().unwrap();
}

impl Drop for Clean {
    fn drop(&mut self) {
        restore();
    }
}

/// Runs `body` as the body of a JS function.
pub fn run_js(body: &str) {
    js_sys::Function::new_no_args(body).call0(&wasm_bindgen::JsValue::NULL).expect("the script runs");
}

/// A browser API changed by `install` (a script) until the value is dropped, when `restore` puts it back.
#[must_use = "the browser is restored when this is dropped"]
pub struct Patched(&'static str);

/// Runs `install` now and `restore` when the returned value is dropped.
pub fn patch(install: &str, restore: &'static str) -> Patched {
    run_js(install);
    Patched(restore)
}

impl Drop for Patched {
    fn drop(&mut self) {
        run_js(self.0);
    }
}

/// Replaces `window.fetch` (until the [`Clean`] guard drops): every request is recorded in
/// `window.sentRequests` (see [`sent_requests`]), and `answer(request)` (a JS function body) produces the response, so the real
/// gloo-net transport runs without a server.
pub fn stub_fetch(answer: &str) {
    run_js(&format!(
        "window.realFetch = window.realFetch || window.fetch;
         window.sentRequests = [];
         window.fetch = async (request) => {{
             window.sentRequests.push({{
                 url: new URL(request.url).pathname,
                 method: request.method,
                 marker: request.headers.get('{CSRF_HEADER}'),
                 headers: Object.fromEntries(request.headers.entries()),
                 contentType: request.headers.get('Content-Type'),
                 authorization: request.headers.get('Authorization'),
                 credentials: request.credentials,
                 keepalive: request.keepalive,
                 body: await request.clone().text(),
             }});
             return (request => {{ {answer} }})(request);
         }};"
    ));
}

/// What the stub recorded: `url` (the path), `method`, `marker` (the CSRF header), `headers` (all of them,
/// lowercase), `contentType`, `authorization`, `credentials`, `keepalive` and `body` of each request.
pub fn sent_requests() -> serde_json::Value {
    let recorded = js_sys::Reflect::get(&web_sys::window().unwrap(), &"sentRequests".into()).unwrap();
    let json = js_sys::JSON::stringify(&recorded).unwrap().as_string().unwrap();
    serde_json::from_str(&json).unwrap()
}

/// How many requests the stub saw for `path`.
pub fn requests_to(path: &str) -> usize {
    sent_requests().as_array().unwrap().iter().filter(|request| request["url"] == path).count()
}

/// Types `text` into the input of the page under test that `selector` finds, firing `input` as a user would.
pub fn type_into(selector: &str, text: &str) {
    let input: web_sys::HtmlInputElement =
        document().query_selector(&format!("#page-under-test {selector}")).unwrap().unwrap().unchecked_into();
    input.set_value(text);
    input.dispatch_event(&web_sys::Event::new("input").unwrap()).unwrap();
}

/// A number the fetch stub keeps on `window`.
pub fn window_value(name: &str) -> f64 {
    js_sys::Reflect::get(&web_sys::window().unwrap(), &name.into()).unwrap().as_f64().unwrap_or(f64::NAN)
}

/// Mounts a view in a container of its own; dropping the handle unmounts it and runs every cleanup of its
/// reactive owner (window listeners, intervals), so nothing of one test reaches into the next. (The test runner
/// reports through elements of its own in <body>: those are left alone.)
pub fn mount<V: IntoView + 'static>(view: impl FnOnce() -> V + 'static) -> Mounted {
    let parent: web_sys::HtmlElement = document().create_element("div").unwrap().unchecked_into();
    parent.set_id("page-under-test");
    document().body().unwrap().append_child(&parent).unwrap();
    let owner = Owner::new();
    let view: Box<dyn std::any::Any> = Box::new(owner.with(|| leptos::mount::mount_to(parent, view)));
    Mounted { view: Some(view), owner }
}

/// A mounted view; see [`mount`].
pub struct Mounted {
    view: Option<Box<dyn std::any::Any>>,
    owner: Owner,
}

impl Drop for Mounted {
    fn drop(&mut self) {
        drop(self.view.take());
        self.owner.cleanup();
    }
}

/// Mounts a view with `client` and everything [`provide_session`](crate::provide_session) puts in context.
pub fn mount_with_session<V: IntoView + 'static>(client: BrowserClient, view: impl FnOnce() -> V + 'static) -> Mounted {
    mount(move || {
        crate::provide_session(client);
        view()
    })
}

/// A fetch stub body that never answers but notices, in `window.aborted`, when it is aborted, as a real one would.
pub const HANGS_UNTIL_ABORTED: &str = "window.aborted = 0;
    return new Promise((_, reject) => request.signal.addEventListener('abort', () => {
        window.aborted += 1;
        reject(new DOMException('aborted', 'AbortError'));
    }));";

const FIFTEEN_MINUTES: Duration = Duration::from_secs(15 * 60);

/// Stores an access token that expires `expires_in_ms` from now, with a fifteen-minute lifetime.
pub fn store_token(value: &str, expires_in_ms: f64) {
    let expires_at_ms = Some(js_sys::Date::now() + expires_in_ms);
    LocalStorageTokens::default().save(&AccessToken::new(value, "test-session", expires_at_ms, FIFTEEN_MINUTES));
}

/// Makes `localStorage.setItem` throw, as a full quota or a privacy setting does, until dropped.
pub fn refusing_storage() -> Patched {
    patch(
        "Storage.prototype.realSetItem = Storage.prototype.setItem;
         Storage.prototype.setItem = function () { throw new DOMException('full', 'QuotaExceededError'); };",
        "if (Storage.prototype.realSetItem) { Storage.prototype.setItem = Storage.prototype.realSetItem; }",
    )
}
