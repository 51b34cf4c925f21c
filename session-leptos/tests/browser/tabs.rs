//! Two clients in one page stand in for two tabs: each has its own BroadcastChannel object (which delivers
//! between objects, never to itself), and they share localStorage and the origin's Web Locks, as tabs do.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use leptos::prelude::Owner;
use session_contract::ACCESS_TOKEN_STORAGE_KEY;
use session_core::{EndReason, RequestRecipe, SessionEvent, Subscription, Tabs, TokenStore};
use session_leptos::browser::{ANNOUNCEMENT_KEY, BrowserTabs, LocalStorageTokens, OtherTabs, keep_fresh};
use session_leptos::{BrowserClient, browser_client};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;

use session_leptos::testing::{
    Patched, clean_page, eventually_true, patch, requests_to, run_js, store_token, stub_fetch,
};

/// `/user` accepts only the token "fresh"; `/auth/refresh` hands it out after a round trip of 100 ms.
const SERVER: &str = r#"
    const path = new URL(request.url).pathname;
    if (path === '/auth/refresh') {
        return new Promise(resolve => setTimeout(() => resolve(new Response(
            '{"accessToken":"fresh","tokenType":"Bearer","expiresIn":900}', {status: 200})), 100));
    }
    if (path === '/auth/logout') return new Response(null, {status: 204});
    const fresh = request.headers.get('Authorization') === 'Bearer fresh';
    return new Response(fresh ? '{"ok":true}' : '{"error":"invalid_token","message":"expired"}', {status: fresh ? 200 : 401});
"#;

/// Two tabs of one browser (two clients sharing localStorage), the second recording what it hears.
fn two_tabs() -> (BrowserClient, BrowserClient, Rc<RefCell<Vec<SessionEvent>>>, Subscription) {
    let (first_tab, second_tab) = (browser_client(""), browser_client(""));
    let heard = Rc::new(RefCell::new(Vec::new()));
    let recorder = Rc::clone(&heard);
    let subscription = second_tab.on_event(move |event| recorder.borrow_mut().push(event));
    (first_tab, second_tab, heard, subscription)
}

#[wasm_bindgen_test]
async fn two_tabs_refused_at_once_refresh_once() {
    let _clean = clean_page();
    stub_fetch(SERVER);
    store_token("stale", 600_000.0);
    let (first_tab, second_tab) = (browser_client(""), browser_client(""));
    let request = RequestRecipe::get("/user");
    let (first, second) = futures::join!(first_tab.send(&request), second_tab.send(&request));
    assert_eq!(first.map(|response| response.status), Ok(200));
    assert_eq!(second.map(|response| response.status), Ok(200));
    assert_eq!(requests_to("/auth/refresh"), 1, "the second tab waited for the lock and adopted the first tab's token");
}

#[wasm_bindgen_test]
async fn a_session_revoked_for_reuse_is_told_to_the_other_tab_as_reuse() {
    let _clean = clean_page();
    stub_fetch(
        r#"if (new URL(request.url).pathname === '/auth/refresh') {
               return new Response('{"error":"refresh_token_reused","message":"reused"}', {status: 403});
           }
           return new Response('{"error":"invalid_token","message":"expired"}', {status: 401});"#,
    );
    store_token("stale", 600_000.0);
    let (first_tab, second_tab, heard, _heard) = two_tabs();
    let _listening = OtherTabs::listen(&second_tab);

    assert!(first_tab.send(&RequestRecipe::get("/user")).await.is_err());
    eventually_true("the other tab hears that the session ended", || !heard.borrow().is_empty()).await;
    assert_eq!(*heard.borrow(), [SessionEvent::Ended(EndReason::Reused)], "not folded into 'expired'");
}

#[wasm_bindgen_test]
async fn one_listener_of_the_other_tabs_leaving_does_not_silence_another() {
    let _clean = clean_page();
    stub_fetch(SERVER);
    store_token("fresh", 600_000.0);
    let (first_tab, second_tab, heard, _heard) = two_tabs();
    let staying = OtherTabs::listen(&second_tab);
    drop(OtherTabs::listen(&second_tab));

    first_tab.sign_out().await;
    eventually_true("the listener that stayed still hears", || !heard.borrow().is_empty()).await;
    assert_eq!(*heard.borrow(), [SessionEvent::SignedOut]);
    drop(staying);
}

#[wasm_bindgen_test]
async fn signing_out_in_one_tab_signs_out_the_other() {
    let _clean = clean_page();
    stub_fetch(SERVER);
    store_token("fresh", 600_000.0);
    let (first_tab, second_tab, heard, _heard) = two_tabs();
    let listening = OtherTabs::listen(&second_tab);

    first_tab.sign_out().await;
    eventually_true("the other tab hears of the sign-out", || !heard.borrow().is_empty()).await;
    assert_eq!(*heard.borrow(), [SessionEvent::SignedOut]);
    assert!(!second_tab.is_signed_in());
    let logout = session_leptos::testing::sent_requests()
        .as_array()
        .unwrap()
        .iter()
        .find(|sent| sent["url"] == "/auth/logout")
        .cloned();
    assert_eq!(logout.map(|sent| sent["keepalive"].clone()), Some(serde_json::json!(true)), "sent with keepalive");

    drop(listening);
    store_token("fresh", 600_000.0);
    first_tab.sign_out().await;
    session_leptos::testing::sleep(Duration::from_millis(50)).await;
    assert_eq!(heard.borrow().len(), 1, "a tab that stopped listening hears nothing more");
}

#[wasm_bindgen_test]
async fn the_periodic_check_renews_an_idle_tabs_token_before_it_expires_and_stops_with_its_owner() {
    let _clean = clean_page();
    stub_fetch(SERVER);
    store_token("about-to-expire", 5_000.0);
    let tab = browser_client("");
    let owner = Owner::new();
    owner.with(|| keep_fresh(&tab, Duration::from_millis(50)));
    let renewed = || LocalStorageTokens::default().load().is_some_and(|token| token.value == "fresh");
    eventually_true("the idle tab's token is renewed", renewed).await;
    assert_eq!(requests_to("/auth/refresh"), 1, "renewed once, with no request of the page's own");

    owner.cleanup();
    store_token("about-to-expire", 5_000.0);
    session_leptos::testing::sleep(Duration::from_millis(200)).await;
    assert_eq!(requests_to("/auth/refresh"), 1, "no check runs once its owner is gone");
}

/// Takes `AbortSignal.timeout` away, as Safari 15.4 to 15.8 has Web Locks without it, until dropped.
fn no_abort_signal_timeout() -> Patched {
    patch(
        "window.RealTimeout = AbortSignal.timeout; delete AbortSignal.timeout;",
        "if (window.RealTimeout) { AbortSignal.timeout = window.RealTimeout; }",
    )
}

#[wasm_bindgen_test]
async fn without_abort_signal_timeout_a_tab_waits_for_the_busy_lock_and_takes_it_once_released() {
    let _clean = clean_page();
    let _missing = no_abort_signal_timeout();
    // Another tab holds the session's lock for 200 ms.
    run_js("navigator.locks.request('session-refresh', () => new Promise(release => setTimeout(release, 200)));");
    let tabs = BrowserTabs::new(Duration::ZERO);
    assert!(tabs.lock().await.is_some(), "taken once the other tab let go, not thrown over");
}

/// Takes `BroadcastChannel` away, as some browsers and embedded views lack it, until dropped.
fn no_broadcast_channel() -> Patched {
    patch(
        "window.RealBroadcastChannel = window.BroadcastChannel; delete window.BroadcastChannel;",
        "if (window.RealBroadcastChannel) { window.BroadcastChannel = window.RealBroadcastChannel; }",
    )
}

#[wasm_bindgen_test]
async fn without_a_broadcast_channel_the_storage_event_carries_the_news() {
    let _clean = clean_page();
    stub_fetch(SERVER);
    store_token("fresh", 600_000.0);
    let missing = no_broadcast_channel();
    let (first_tab, second_tab, heard, _heard) = two_tabs();
    drop(missing);
    let listening = OtherTabs::listen(&second_tab);

    first_tab.sign_out().await;
    let storage = session_leptos::testing::local_storage();
    let announced = storage.get_item(ANNOUNCEMENT_KEY).unwrap().expect("announced in localStorage");
    let message: serde_json::Value = serde_json::from_str(&announced).unwrap();
    assert_eq!(message["event"], "signed-out", "{announced}");
    // A page never gets the storage event of its own writes: the same write made by another page of the
    // origin (a frame) reaches this one as the browser delivers it to other tabs.
    storage.remove_item(ANNOUNCEMENT_KEY).unwrap();
    let other_page = other_page();
    other_page.local_storage().unwrap().unwrap().set_item(ANNOUNCEMENT_KEY, &announced).unwrap();
    eventually_true("the storage event reaches this page", || *heard.borrow() == [SessionEvent::SignedOut]).await;
    drop(listening);
}

#[wasm_bindgen_test]
async fn a_sign_in_that_reaches_this_page_only_through_the_store_signs_it_in_once() {
    // A page that started signed out and missed the announcement (posted before it listened, or its view of
    // localStorage was late): the token arrives alone, as the browser's `storage` event.
    let _clean = clean_page();
    stub_fetch(SERVER);
    let tab = browser_client("");
    let heard = Rc::new(RefCell::new(Vec::new()));
    let recorder = Rc::clone(&heard);
    let _heard = tab.on_event(move |event| recorder.borrow_mut().push(event));
    let listening = OtherTabs::listen(&tab);
    store_token("fresh", 600_000.0);
    let storage = session_leptos::testing::local_storage();
    let written = storage.get_item(ACCESS_TOKEN_STORAGE_KEY).unwrap().expect("a token");
    storage.remove_item(ACCESS_TOKEN_STORAGE_KEY).unwrap();

    other_page().local_storage().unwrap().unwrap().set_item(ACCESS_TOKEN_STORAGE_KEY, &written).unwrap();
    eventually_true("the page follows the sign-in", || *heard.borrow() == [SessionEvent::SignedIn]).await;

    // The announcement, arriving after all, is not a second sign-in (the page would load the user twice); the
    // sign-out posted after it shows it was heard.
    run_js(&format!(
        "const other = new BroadcastChannel('session');
         other.postMessage(JSON.stringify({{event: 'signed-in', session: 'test-session', token: {written}, at: 1}}));
         other.postMessage(JSON.stringify({{event: 'signed-out', session: 'test-session', at: 2}}));
         other.close();"
    ));
    eventually_true("the sign-out is heard", || heard.borrow().len() > 1).await;
    assert_eq!(*heard.borrow(), [SessionEvent::SignedIn, SessionEvent::SignedOut]);
    drop(listening);
}

/// Another page of this origin: a frame, whose localStorage writes reach this page as `storage` events.
fn other_page() -> web_sys::Window {
    let document = session_leptos::testing::document();
    let frame: web_sys::HtmlIFrameElement = document.create_element("iframe").unwrap().unchecked_into();
    document.body().unwrap().append_child(&frame).unwrap();
    frame.content_window().unwrap()
}

fn set_visibility(state: &str) {
    run_js(&format!(
        "Object.defineProperty(document, 'visibilityState', {{ configurable: true, get: () => '{state}' }});"
    ));
}

#[wasm_bindgen_test]
async fn a_hidden_tab_does_not_renew_on_its_timer_and_renews_at_once_when_shown() {
    let _clean = clean_page();
    stub_fetch(SERVER);
    store_token("about-to-expire", 5_000.0);
    let tab = browser_client("");
    let owner = Owner::new();
    set_visibility("hidden");
    owner.with(|| keep_fresh(&tab, Duration::from_millis(20)));
    session_leptos::testing::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        requests_to("/auth/refresh"),
        0,
        "ten timer checks while hidden, no renewal: the idle timeout still counts"
    );

    set_visibility("visible");
    web_sys::window().unwrap().document().unwrap().dispatch_event(&visibility_change()).unwrap();
    let renewed = || LocalStorageTokens::default().load().is_some_and(|token| token.value == "fresh");
    eventually_true("shown again, the tab renews", renewed).await;
    owner.cleanup();
    run_js("delete document.visibilityState;");
}

/// As the browser fires it: at the document, bubbling to the window.
fn visibility_change() -> web_sys::Event {
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    web_sys::Event::new_with_event_init_dict("visibilitychange", &init).unwrap()
}

#[wasm_bindgen_test]
async fn a_tab_of_the_previous_version_is_still_heard_and_a_sign_in_without_its_token_changes_nothing() {
    let _clean = clean_page();
    stub_fetch(SERVER);
    store_token("fresh", 600_000.0);
    let (_first_tab, second_tab, heard, _heard) = two_tabs();
    let listening = OtherTabs::listen(&second_tab);
    // Another page's channel object, as another tab posts: the previous version sent bare names.
    run_js(
        "const other = new BroadcastChannel('session'); other.postMessage('signed-in 1'); other.postMessage('signed-out'); other.close();",
    );
    eventually_true("the sign-out is heard", || *heard.borrow() == [SessionEvent::SignedOut]).await;
    assert!(!second_tab.is_signed_in(), "signed out here too");
    drop(listening);
}
