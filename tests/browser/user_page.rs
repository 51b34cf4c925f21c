use session_app::api::api;
use session_app::pages::UserPage;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{
    HANGS_UNTIL_ABORTED, clean_page, eventually_true, mount_page, sent_requests, store_token, stub_fetch, wait_for,
    window_value,
};

#[wasm_bindgen_test]
async fn leaving_the_page_aborts_its_request() {
    let _clean = clean_page();
    stub_fetch(HANGS_UNTIL_ABORTED);
    store_token("valid", 900_000.0);
    let page = mount_page(api(), UserPage);
    wait_for("[aria-busy=true]").await;
    eventually_true("the page asks for the user", || !sent_requests().as_array().unwrap().is_empty()).await;
    assert_eq!(sent_requests()[0]["url"], "/user");
    assert_eq!(window_value("aborted"), 0.0);

    drop(page);
    eventually_true("the fetch is aborted when the page goes away", || window_value("aborted") == 1.0).await;
}

#[wasm_bindgen_test]
async fn the_user_is_shown_from_the_contracts_body() {
    let _clean = clean_page();
    stub_fetch(
        r#"return new Response('{"id":7,"username":"ada","displayName":"Ada Lovelace","email":"ada@example.com","createdAt":"2026-11-27T10:00:00Z"}', {status: 200});"#,
    );
    store_token("valid", 900_000.0);
    let _page = mount_page(api(), UserPage);
    assert_eq!(wait_for("[data-testid=display-name]").await.text_content().unwrap(), "Ada Lovelace");
    assert_eq!(sent_requests()[0]["authorization"], "Bearer valid");
}
