//! Two clients in one page stand in for two tabs: each has its own BroadcastChannel object (which delivers
//! between objects, never to itself), and they share localStorage and the origin's Web Locks, as tabs do.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use session_app::api::browser::{ACCESS_TOKEN_KEY, LocalStorageTokens, api, keep_fresh};
use session_app::api::session::{RequestRecipe, SessionEvent, TokenStore};
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{sent_requests, sleep, store_token, stub_fetch};

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

fn refreshes() -> usize {
    sent_requests().as_array().unwrap().iter().filter(|request| request["url"] == "/auth/refresh").count()
}

#[wasm_bindgen_test]
async fn two_tabs_refused_at_once_refresh_once() {
    stub_fetch(SERVER);
    store_token("stale", 600_000.0);
    let (first_tab, second_tab) = (api(), api());
    let request = RequestRecipe::get("/user");
    let (first, second) = futures::join!(first_tab.send(&request), second_tab.send(&request));
    assert_eq!(first.map(|response| response.status), Ok(200));
    assert_eq!(second.map(|response| response.status), Ok(200));
    assert_eq!(refreshes(), 1, "the second tab waited for the lock and adopted the first tab's token");
    LocalStorageTokens.clear();
}

#[wasm_bindgen_test]
async fn signing_out_in_one_tab_signs_out_the_other() {
    stub_fetch(SERVER);
    store_token("fresh", 600_000.0);
    let (first_tab, second_tab) = (api(), api());
    let heard = Rc::new(RefCell::new(Vec::new()));
    let recorder = Rc::clone(&heard);
    second_tab.on_event(move |event| recorder.borrow_mut().push(event));

    first_tab.sign_out().await;
    for _ in 0..100 {
        if !heard.borrow().is_empty() {
            break;
        }
        sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*heard.borrow(), [SessionEvent::SignedOut]);
    assert!(!second_tab.is_signed_in());
}

#[wasm_bindgen_test]
async fn the_periodic_check_renews_an_idle_tabs_token_before_it_expires() {
    stub_fetch(SERVER);
    store_token("about-to-expire", 5_000.0);
    let tab = api();
    let checks = keep_fresh(&tab, 50);
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    for _ in 0..100 {
        if storage.get_item(ACCESS_TOKEN_KEY).unwrap().as_deref() == Some("fresh") {
            break;
        }
        sleep(Duration::from_millis(10)).await;
    }
    drop(checks);
    assert_eq!(storage.get_item(ACCESS_TOKEN_KEY).unwrap().as_deref(), Some("fresh"));
    assert_eq!(refreshes(), 1, "renewed once, with no request of the page's own");
    LocalStorageTokens.clear();
}
