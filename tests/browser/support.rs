use std::time::Duration;

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

pub fn document() -> web_sys::Document {
    web_sys::window().and_then(|window| window.document()).expect("a document")
}

pub async fn sleep(duration: Duration) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window()
            .expect("a window")
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, duration.as_millis() as i32)
            .expect("a timer");
    });
    JsFuture::from(promise).await.expect("the timer fires");
}

/// Waits up to two seconds for an element to match.
pub async fn wait_for(selector: &str) -> web_sys::HtmlElement {
    for _ in 0..200 {
        if let Some(element) = document().query_selector(&format!("#page-under-test {selector}")).ok().flatten() {
            return element.unchecked_into();
        }
        sleep(Duration::from_millis(10)).await;
    }
    panic!("{selector} never appeared; body: {}", document().body().map(|body| body.inner_html()).unwrap_or_default());
}

/// Replaces `window.fetch`: every request is recorded in `window.sentRequests`, and `answer(request)` (a JS
/// function body) produces the response, so the real gloo-net transport runs without a server.
pub fn stub_fetch(answer: &str) {
    let install = js_sys::Function::new_no_args(&format!(
        "window.sentRequests = [];
         window.fetch = async (request) => {{
             window.sentRequests.push({{
                 url: new URL(request.url).pathname,
                 method: request.method,
                 marker: request.headers.get('X-Requested-With'),
                 contentType: request.headers.get('Content-Type'),
                 credentials: request.credentials,
                 body: await request.clone().text(),
             }});
             return (request => {{ {answer} }})(request);
         }};"
    ));
    install.call0(&wasm_bindgen::JsValue::NULL).expect("fetch stubbed");
}

pub fn sent_requests() -> serde_json::Value {
    let json =
        js_sys::JSON::stringify(&js_sys::Reflect::get(&web_sys::window().unwrap(), &"sentRequests".into()).unwrap())
            .unwrap()
            .as_string()
            .unwrap();
    serde_json::from_str(&json).unwrap()
}

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

/// Mounts a view in a container of its own, replacing any earlier one; dropping the handle unmounts it.
/// (The test runner reports through elements of its own in <body>: those are left alone.)
pub fn mount<V: leptos::prelude::IntoView + 'static>(view: impl FnOnce() -> V + 'static) -> impl Drop {
    if let Some(previous) = document().get_element_by_id("page-under-test") {
        previous.remove();
    }
    let parent: web_sys::HtmlElement = document().create_element("div").unwrap().unchecked_into();
    parent.set_id("page-under-test");
    document().body().unwrap().append_child(&parent).unwrap();
    leptos::mount::mount_to(parent, view)
}

/// A fetch stub body that never answers but notices, in `window.aborted`, when it is aborted, as a real one would.
pub const HANGS_UNTIL_ABORTED: &str = "window.aborted = 0;
    return new Promise((_, reject) => request.signal.addEventListener('abort', () => {
        window.aborted += 1;
        reject(new DOMException('aborted', 'AbortError'));
    }));";

/// Stores an access token that expires `expires_in_ms` from now, with a fifteen-minute lifetime.
pub fn store_token(value: &str, expires_in_ms: f64) {
    use session_app::api::browser::LocalStorageTokens;
    use session_app::api::session::{AccessToken, TokenStore};
    LocalStorageTokens.save(&AccessToken {
        value: value.to_owned(),
        expires_at_ms: js_sys::Date::now() + expires_in_ms,
        lifetime_ms: 900_000.0,
    });
}
