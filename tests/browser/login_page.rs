use std::time::Duration;

use leptos::prelude::*;
use session_app::api::browser::{ACCESS_TOKEN_KEY, api};
use session_app::components::SessionNotice;
use session_app::pages::LoginPage;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::wasm_bindgen_test;

use crate::support::{document, mount, sent_requests, sleep, stub_fetch, type_into, wait_for};

fn mount_login_page() -> impl Drop {
    mount(|| {
        provide_context(StoredValue::new_local(api()));
        provide_context(SessionNotice::new());
        view! { <LoginPage/> }
    })
}

async fn submit(username: &str, password: &str) {
    type_into("#username", username);
    type_into("#password", password);
    wait_for("button[type=submit]").await.click();
}

#[wasm_bindgen_test]
async fn a_wrong_password_shows_the_error_and_sends_a_marked_json_post() {
    stub_fetch(r#"return new Response('{"error":"invalid_credentials","message":"nope"}', {status: 401});"#);
    let _page = mount_login_page();
    submit("demo", "wrong password").await;
    assert_eq!(wait_for(".error[role=alert]").await.text_content().unwrap(), "Incorrect username or password.");

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
    stub_fetch(
        r#"return new Response('{"error":"too_many_attempts","message":"Too many sign-in attempts. Try again in 8 seconds."}', {status: 429, headers: {'Retry-After': '8'}});"#,
    );
    let _page = mount_login_page();
    submit("demo", "guess").await;
    assert_eq!(
        wait_for(".error[role=alert]").await.text_content().unwrap(),
        "Too many sign-in attempts. Try again in 8 seconds."
    );
}

#[wasm_bindgen_test]
async fn no_answer_asks_to_check_the_network() {
    stub_fetch("return Promise.reject(new TypeError('Failed to fetch'));");
    let _page = mount_login_page();
    submit("demo", "password").await;
    assert_eq!(wait_for(".error[role=alert]").await.text_content().unwrap(), "Check your network connection.");
}

#[wasm_bindgen_test]
async fn the_button_is_disabled_while_signing_in_and_success_stores_the_token() {
    stub_fetch(
        r#"return new Promise(resolve => { window.answerSignIn = () => resolve(new Response(
            '{"accessToken":"fresh.access.token","tokenType":"Bearer","expiresIn":900}', {status: 200})); });"#,
    );
    let _page = mount_login_page();
    submit("demo", "correct password").await;
    sleep(Duration::from_millis(50)).await;
    let button: web_sys::HtmlButtonElement = wait_for("button[type=submit]").await.unchecked_into();
    assert!(button.disabled());
    assert_eq!(button.text_content().unwrap(), "Signing in…");

    let answer: js_sys::Function =
        js_sys::Reflect::get(&web_sys::window().unwrap(), &"answerSignIn".into()).unwrap().unchecked_into();
    answer.call0(&wasm_bindgen::JsValue::NULL).unwrap();
    for _ in 0..100 {
        if !button.disabled() {
            break;
        }
        sleep(Duration::from_millis(10)).await;
    }
    assert!(!button.disabled());
    let storage = web_sys::window().unwrap().local_storage().unwrap().unwrap();
    assert_eq!(storage.get_item(ACCESS_TOKEN_KEY).unwrap().as_deref(), Some("fresh.access.token"));
    assert!(document().query_selector("#page-under-test .error").unwrap().is_none());
    storage.clear().unwrap();
}
