use session_app::pages::LoginPage;
use session_core::TokenStore;
use session_leptos::browser::LocalStorageTokens;
use session_leptos::browser_client;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{
    clean_page, document, eventually_true, mount_page, sent_requests, stub_fetch, type_into, wait_for,
};

fn mount_login_page() -> crate::support::Mounted {
    mount_page(browser_client(""), LoginPage)
}

async fn submit(username: &str, password: &str) {
    type_into("#username", username);
    type_into("#password", password);
    wait_for("button[type=submit]").await.click();
}

/// Screen readers announce what is inserted into a live region they already watch; a region inserted together
/// with its text is often read out by none.
#[wasm_bindgen_test]
async fn the_error_appears_in_a_live_region_that_was_there_before_it() {
    let _clean = clean_page();
    stub_fetch(r#"return new Response('{"error":"invalid_credentials","message":"nope"}', {status: 401});"#);
    let _page = mount_login_page();
    let region = wait_for("form [role=alert]").await;
    assert_eq!(region.child_element_count(), 0, "nothing to announce yet");

    submit("demo", "wrong password").await;
    let error = wait_for("form [role=alert] .error").await;
    assert!(region.contains(Some(&error)), "the error went into the region the reader was already watching");
}

#[wasm_bindgen_test]
async fn a_wrong_password_shows_the_error_and_sends_a_marked_json_post() {
    let _clean = clean_page();
    stub_fetch(r#"return new Response('{"error":"invalid_credentials","message":"nope"}', {status: 401});"#);
    let _page = mount_login_page();
    submit("demo", "wrong password").await;
    assert_eq!(wait_for("[role=alert] .error").await.text_content().unwrap(), "Incorrect username or password.");

    let requests = sent_requests();
    assert_eq!(requests.as_array().unwrap().len(), 1, "a refused sign-in is not a reason to refresh");
    let request = &requests[0];
    assert_eq!(request["url"], "/auth/login");
    assert_eq!(request["method"], "POST");
    assert_eq!(request["marker"], "fetch");
    assert_eq!(request["contentType"], "application/json");
    assert_eq!(request["credentials"], "include");
    let body: serde_json::Value = serde_json::from_str(request["body"].as_str().unwrap()).unwrap();
    assert_eq!(body, serde_json::json!({"username": "demo", "password": "wrong password"}));
}

#[wasm_bindgen_test]
async fn throttling_shows_the_servers_wait_time() {
    let _clean = clean_page();
    stub_fetch(
        r#"return new Response('{"error":"too_many_attempts","message":"Too many sign-in attempts. Try again in 8 seconds."}', {status: 429, headers: {'Retry-After': '8'}});"#,
    );
    let _page = mount_login_page();
    submit("demo", "guess").await;
    assert_eq!(
        wait_for("[role=alert] .error").await.text_content().unwrap(),
        "Too many sign-in attempts. Try again in 8 seconds."
    );
}

#[wasm_bindgen_test]
async fn no_answer_asks_to_check_the_network() {
    let _clean = clean_page();
    stub_fetch("return Promise.reject(new TypeError('Failed to fetch'));");
    let _page = mount_login_page();
    submit("demo", "password").await;
    assert_eq!(wait_for("[role=alert] .error").await.text_content().unwrap(), "Check your network connection.");
}

#[wasm_bindgen_test]
async fn the_button_is_disabled_while_signing_in_and_success_stores_the_token() {
    let _clean = clean_page();
    stub_fetch(
        r#"return new Promise(resolve => { window.answerSignIn = () => resolve(new Response(
            '{"accessToken":"fresh.access.token","tokenType":"Bearer","expiresIn":900}', {status: 200})); });"#,
    );
    let _page = mount_login_page();
    submit("demo", "correct password").await;
    let button: web_sys::HtmlButtonElement = wait_for("button[type=submit]").await.unchecked_into();
    eventually_true("the button is disabled while signing in", || button.disabled()).await;
    assert_eq!(button.text_content().unwrap(), "Signing in…");
    // The stub sets `answerSignIn` once it has read the request's body.
    let answer: js_sys::Function = crate::support::eventually("the sign-in reaches fetch", || {
        js_sys::Reflect::get(&web_sys::window().unwrap(), &"answerSignIn".into())
            .ok()
            .and_then(|answer| answer.dyn_into().ok())
    })
    .await;
    answer.call0(&wasm_bindgen::JsValue::NULL).unwrap();
    // Signed in, the page follows the session (in the app, to /user): the form goes.
    wait_for("[data-testid=signed-in-as]").await;
    assert_eq!(LocalStorageTokens::default().load().map(|token| token.value).as_deref(), Some("fresh.access.token"));
    assert!(document().query_selector("#page-under-test .error").unwrap().is_none());
}

#[wasm_bindgen_test]
async fn signed_in_already_the_page_says_so_and_signing_out_first_brings_the_form() {
    let _clean = clean_page();
    stub_fetch(
        r#"if (new URL(request.url).pathname === '/user') return new Response(
            '{"id":2,"username":"ada","displayName":"Ada Lovelace","email":"","createdAt":"2026-11-27T00:00:00Z"}');
        return new Response(null, {status: 204});"#,
    );
    crate::support::store_token("someone.elses.token", 900_000.0);
    let _page = mount_login_page();
    let says = wait_for("[data-testid=signed-in-as]").await;
    eventually_true("it names who is signed in", || {
        says.text_content().as_deref() == Some("You are signed in as Ada Lovelace.")
    })
    .await;
    assert!(document().query_selector("#page-under-test #username").unwrap().is_none(), "no form over a session");

    let sign_out: web_sys::HtmlElement = wait_for("button.secondary").await;
    sign_out.click();
    wait_for("#username").await;
    assert!(LocalStorageTokens::default().load().is_none());
    let last_request = || sent_requests().as_array().unwrap().last().unwrap()["url"].clone();
    eventually_true("then the server is told", || last_request() == "/auth/logout").await;
}

#[wasm_bindgen_test]
async fn signing_out_first_shows_the_form_before_the_server_answers() {
    let _clean = clean_page();
    // The logout does not answer until the test ends.
    stub_fetch(
        r#"return new Promise(resolve => { window.release = () => resolve(new Response(null, {status: 204})); });"#,
    );
    crate::support::store_token("someone.elses.token", 900_000.0);
    let _page = mount_login_page();
    let sign_out: web_sys::HtmlElement = wait_for("button.secondary").await;
    sign_out.click();
    wait_for("#username").await;
    // The logout holds the session's lock until it has its answer: the next test's sign-in would wait for it.
    crate::support::eventually("the logout is sent", || {
        js_sys::Reflect::get(&web_sys::window().unwrap(), &"release".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
    })
    .await
    .call0(&wasm_bindgen::JsValue::NULL)
    .unwrap();
}

#[wasm_bindgen_test]
async fn the_page_follows_a_sign_out_and_a_sign_in_in_another_tab() {
    let _clean = clean_page();
    stub_fetch(
        r#"const path = new URL(request.url).pathname;
        if (path === '/auth/login') return new Response(
            '{"accessToken":"h.p.other-tab","tokenType":"Bearer","expiresIn":900}', {status: 200});
        if (path === '/user') return new Response(
            '{"id":2,"username":"ada","displayName":"Ada Lovelace","email":"","createdAt":"2026-11-27T00:00:00Z"}');
        return new Response(null, {status: 204});"#,
    );
    crate::support::store_token("valid", 900_000.0);
    let _page = mount_login_page();
    wait_for("[data-testid=signed-in-as]").await;

    // Another tab: a client of its own, whose BroadcastChannel reaches this page's.
    let other_tab = browser_client("");
    other_tab.sign_out().await;
    wait_for("#username").await;
    other_tab.sign_in("ada", "secret").await.unwrap();
    wait_for("[data-testid=signed-in-as]").await;
}
