use std::time::Duration;

use leptos::prelude::*;
use session_app::api::browser::{LocalStorageTokens, api};
use session_app::api::session::TokenStore;
use session_app::components::{Online, SessionNotice};
use session_app::pages::UserPage;
use session_app::query::QueryCache;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{
    HANGS_UNTIL_ABORTED, mount, sent_requests, sleep, store_token, stub_fetch, wait_for, window_value,
};

#[wasm_bindgen_test]
async fn leaving_the_page_aborts_its_request() {
    stub_fetch(HANGS_UNTIL_ABORTED);
    store_token("valid", 900_000.0);
    let page = mount(|| {
        provide_context(StoredValue::new_local(api()));
        provide_context(QueryCache::new());
        provide_context(SessionNotice::new());
        provide_context(Online(RwSignal::new(true).read_only()));
        view! { <UserPage/> }
    });
    wait_for("[aria-busy=true]").await;
    sleep(Duration::from_millis(20)).await;
    assert_eq!(sent_requests()[0]["url"], "/user");
    assert_eq!(window_value("aborted"), 0.0);

    drop(page);
    sleep(Duration::from_millis(20)).await;
    assert_eq!(window_value("aborted"), 1.0, "the fetch was aborted when the page went away");
    LocalStorageTokens.clear();
}
