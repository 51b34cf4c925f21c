use session_app::pages::UserPage;
use session_leptos::browser_client;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{
    HANGS_UNTIL_ABORTED, clean_page, eventually_true, mount_page, requests_to, run_js, sent_requests, store_token,
    stub_fetch, wait_for, window_value,
};

#[wasm_bindgen_test]
async fn leaving_the_page_aborts_its_request() {
    let _clean = clean_page();
    stub_fetch(HANGS_UNTIL_ABORTED);
    store_token("valid", 900_000.0);
    let page = mount_page(browser_client(""), UserPage);
    wait_for("[aria-busy=true]").await;
    eventually_true("both queries asked", || sent_requests().as_array().unwrap().len() == 2).await;
    let mut asked: Vec<String> =
        sent_requests().as_array().unwrap().iter().map(|request| request["url"].as_str().unwrap().to_owned()).collect();
    asked.sort();
    assert_eq!(asked, ["/user", "/user/sessions"], "the profile and the devices, in either order");
    assert_eq!(window_value("aborted"), 0.0);

    drop(page);
    // Both of the page's queries, the profile and the devices, were waiting.
    eventually_true("the fetches are aborted when the page goes away", || window_value("aborted") == 2.0).await;
}

#[wasm_bindgen_test]
async fn the_user_is_shown_from_the_contracts_body() {
    let _clean = clean_page();
    stub_fetch(
        r#"return new Response('{"id":7,"username":"ada","displayName":"Ada Lovelace","email":"ada@example.com","createdAt":"2026-11-27T10:00:00Z"}', {status: 200});"#,
    );
    store_token("valid", 900_000.0);
    let _page = mount_page(browser_client(""), UserPage);
    assert_eq!(wait_for("[data-testid=display-name]").await.text_content().unwrap(), "Ada Lovelace");
    assert_eq!(sent_requests()[0]["authorization"], "Bearer valid");
}

/// `/user` with an empty email, `/user/sessions` with this device and a phone, `DELETE` of a session answered 204.
const ACCOUNT: &str = r#"const path = new URL(request.url).pathname;
    if (request.method === 'DELETE') { return new Response(null, {status: 204}); }
    if (path === '/user/sessions') {
        return new Response(JSON.stringify([
            {id: "this", createdAt: "2026-11-27T10:00:00Z", lastUsedAt: "2026-11-27T10:00:00Z", userAgent: "Firefox", current: true},
            {id: "phone", createdAt: "2026-11-20T08:00:00Z", lastUsedAt: "2026-11-26T09:30:00Z", userAgent: "Safari on iPhone", current: false},
        ]), {status: 200});
    }
    return new Response('{"id":7,"username":"ada","displayName":"Ada Lovelace","email":"","createdAt":"2026-11-27T10:00:00Z"}', {status: 200});"#;

#[wasm_bindgen_test]
async fn the_profile_reads_dates_in_the_readers_locale_and_says_when_there_is_no_email() {
    let _clean = clean_page();
    stub_fetch(ACCOUNT);
    store_token("valid", 900_000.0);
    let _page = mount_page(browser_client(""), UserPage);
    let since = wait_for("[data-testid=member-since]").await.text_content().unwrap();
    run_js(
        "window.expectedDate = new Intl.DateTimeFormat(undefined, {dateStyle: 'long'}).format(new Date('2026-11-27T10:00:00Z'));",
    );
    let expected = js_sys::Reflect::get(&web_sys::window().unwrap(), &"expectedDate".into()).unwrap();
    assert_eq!(Some(since.clone()), expected.as_string());
    assert!(!since.contains("2026-11-27"), "a raw RFC 3339 date: {since}");
    let page = wait_for(".details").await.text_content().unwrap();
    assert!(page.contains("No email address"), "{page}");
}

#[wasm_bindgen_test]
async fn signing_out_another_device_removes_it_from_the_list_without_a_refetch() {
    let _clean = clean_page();
    stub_fetch(ACCOUNT);
    store_token("valid", 900_000.0);
    let _page = mount_page(browser_client(""), UserPage);
    let list = wait_for("[data-testid=sessions]").await;
    eventually_true("both devices listed", || list.child_element_count() == 2).await;
    let this_device = wait_for("[data-current=true]").await.text_content().unwrap();
    assert!(this_device.contains("This device"), "{this_device}");

    wait_for("[data-current=false] button").await.click();
    eventually_true("the phone leaves the list", || list.child_element_count() == 1).await;
    let delete = sent_requests().as_array().unwrap().iter().find(|request| request["method"] == "DELETE").cloned();
    assert_eq!(delete.unwrap()["url"], "/user/sessions/phone");
    assert_eq!(requests_to("/user/sessions"), 1, "the list was updated in place, not fetched again");
}

/// Three devices; deleting the tablet waits for `window.releaseTablet()`, the laptop is already gone (`404`).
const THREE_DEVICES: &str = r#"const path = new URL(request.url).pathname;
    if (path === '/user/sessions/tablet') { return new Promise(resolve => { window.releaseTablet = () =>
        resolve(new Response(null, {status: 204})); }); }
    if (path === '/user/sessions/laptop') {
        return new Response('{"error":"not_found","message":"No such session."}', {status: 404}); }
    if (path === '/user/sessions') {
        return new Response(JSON.stringify([
            {id: "this", createdAt: "2026-11-27T10:00:00Z", lastUsedAt: "2026-11-27T10:00:00Z", userAgent: "Firefox", current: true},
            {id: "tablet", createdAt: "2026-11-20T08:00:00Z", lastUsedAt: "2026-11-26T09:30:00Z", userAgent: "Safari on iPad", current: false},
            {id: "laptop", createdAt: "2026-11-20T08:00:00Z", lastUsedAt: "2026-11-26T09:30:00Z", userAgent: "Chrome on Linux", current: false},
        ]), {status: 200});
    }
    return new Response('{"id":7,"username":"ada","displayName":"Ada Lovelace","email":"","createdAt":"2026-11-27T10:00:00Z"}', {status: 200});"#;

fn device_button(position: usize) -> web_sys::HtmlButtonElement {
    let selector = format!("[data-testid=sessions] li:nth-child({position}) button");
    crate::support::document().query_selector(&selector).unwrap().expect("a button").unchecked_into()
}

#[wasm_bindgen_test]
async fn each_device_row_has_its_own_pending_state_and_a_device_already_gone_leaves_the_list() {
    let _clean = clean_page();
    stub_fetch(THREE_DEVICES);
    store_token("valid", 900_000.0);
    let _page = mount_page(browser_client(""), UserPage);
    let list = wait_for("[data-testid=sessions]").await;
    eventually_true("three devices listed", || list.child_element_count() == 3).await;

    let (tablet, laptop) = (device_button(2), device_button(3));
    tablet.focus().unwrap();
    tablet.click();
    eventually_true("the tablet's row waits", || tablet.disabled()).await;
    assert!(!laptop.disabled(), "the laptop's row does not wait for the tablet's request");

    laptop.focus().unwrap();
    laptop.click();
    eventually_true("already gone: the laptop leaves the list", || list.child_element_count() == 2).await;
    let heading = wait_for("#sessions-heading").await;
    let focused = crate::support::document().active_element();
    assert_eq!(focused.as_ref(), Some(heading.unchecked_ref()), "the focus is not lost with the row");
    let announced = wait_for("section section [role=status]").await.text_content().unwrap();
    assert_eq!(announced, "Signed out Linux.", "the device as its row names it");
    assert!(crate::support::document().query_selector("#page-under-test .notice").unwrap().is_none(), "no error");

    run_js("window.releaseTablet();");
    eventually_true("the tablet leaves too", || list.child_element_count() == 1).await;
}

#[wasm_bindgen_test]
async fn a_refused_load_is_shown_and_its_notice_goes_away_when_a_refresh_succeeds() {
    let _clean = clean_page();
    stub_fetch(&format!(
        "if (window.serverDown) {{ return new Response('', {{status: 404}}); }}
         {ACCOUNT}"
    ));
    run_js("window.serverDown = true;");
    store_token("valid", 900_000.0);
    let _page = mount_page(browser_client(""), UserPage);
    let notice = wait_for("[role=alert] .notice").await.text_content().unwrap();
    assert!(notice.contains("(404)"), "{notice}");

    run_js("window.serverDown = false;");
    wait_for(".actions button").await.click();
    wait_for("[data-testid=display-name]").await;
    eventually_true("the notice empties itself", || {
        crate::support::document().query_selector("#page-under-test [role=alert] .notice").unwrap().is_none()
    })
    .await;
}
