use std::time::Duration;

use futures::future::{Either, select};
use leptos::prelude::{GetUntracked, Owner};
use session_core::{RequestRecipe, Transport, TransportError};
use session_leptos::browser::{FetchTransport, use_online_signal};
use session_leptos::browser_client;
use wasm_bindgen_test::wasm_bindgen_test;

use session_leptos::testing::{HANGS_UNTIL_ABORTED, clean_page, sent_requests, sleep, stub_fetch, window_value};

#[wasm_bindgen_test]
async fn a_request_that_outlives_its_timeout_fails_as_a_timeout() {
    let _clean = clean_page();
    stub_fetch(HANGS_UNTIL_ABORTED);
    let outcome =
        FetchTransport::new("", Duration::from_millis(50)).send(&RequestRecipe::get("/user"), Some("token")).await;
    assert_eq!(outcome, Err(TransportError::Timeout));
    assert_eq!(window_value("aborted"), 1.0);
}

#[wasm_bindgen_test]
async fn dropping_a_request_aborts_its_fetch() {
    let _clean = clean_page();
    stub_fetch(HANGS_UNTIL_ABORTED);
    let transport = FetchTransport::new("", Duration::from_secs(60));
    let request = RequestRecipe::get("/user");
    let sending = Box::pin(transport.send(&request, Some("token")));
    match select(sending, Box::pin(sleep(Duration::from_millis(30)))).await {
        Either::Left(_) => panic!("the stub never answers"),
        Either::Right(((), sending)) => drop(sending),
    }
    session_leptos::testing::eventually_true("the fetch is aborted", || window_value("aborted") == 1.0).await;
    assert_eq!(sent_requests()[0]["url"], "/user");
    assert_eq!(sent_requests()[0]["authorization"], "Bearer token");
}

#[wasm_bindgen_test]
async fn no_answer_at_all_is_a_network_error() {
    let _clean = clean_page();
    stub_fetch("return Promise.reject(new TypeError('Failed to fetch'));");
    let outcome = FetchTransport::new("", Duration::from_secs(60)).send(&RequestRecipe::get("/user"), None).await;
    assert_eq!(outcome, Err(TransportError::Network));
}

#[wasm_bindgen_test]
async fn any_method_and_header_goes_out_as_made_and_the_answers_headers_come_back() {
    let _clean = clean_page();
    stub_fetch("return new Response('{}', {status: 201, headers: {'Retry-After': '7', 'X-Trace': 'back'}});");
    let transport = FetchTransport::new("", Duration::from_secs(60));
    for recipe in [RequestRecipe::put("/things/1"), RequestRecipe::patch("/things/1")] {
        let answer = transport.send(&recipe.with_header("X-Trace", "out"), Some("token")).await.unwrap();
        assert_eq!(
            (answer.status, answer.header("retry-after"), answer.header("x-trace")),
            (201, Some("7"), Some("back"))
        );
    }
    let sent = sent_requests();
    for (request, method) in sent.as_array().unwrap().iter().zip(["PUT", "PATCH"]) {
        assert_eq!(request["method"], method);
        assert_eq!(request["headers"]["x-trace"], "out");
        assert_eq!(request["marker"], "fetch", "the recipe's CSRF marker goes out as it is");
        assert_eq!(request["authorization"], "Bearer token");
    }
}

#[wasm_bindgen_test]
async fn a_header_the_browser_refuses_is_an_error_and_nothing_is_sent() {
    let _clean = clean_page();
    stub_fetch("return new Response('{}', {status: 200});");
    let transport = FetchTransport::new("", Duration::from_secs(60));
    for (name, value) in [("Bad Name", "x"), ("X-Trace", "a\nb")] {
        let outcome = transport.send(&RequestRecipe::get("/user").with_header(name, value), None).await;
        assert_eq!(outcome, Err(TransportError::Rejected), "{name:?}: {value:?}");
    }
    let outcome = transport.send(&RequestRecipe::get("/user"), Some("a token\nwith a line break")).await;
    assert_eq!(outcome, Err(TransportError::Rejected), "a token no header can hold");
    assert_eq!(sent_requests().as_array().unwrap().len(), 0, "nothing was sent");
}

#[wasm_bindgen_test]
fn the_online_signal_follows_the_browsers_events() {
    let owner = Owner::new();
    let client = browser_client("");
    let online = owner.with(|| use_online_signal(&client));
    assert!(online.get_untracked(), "headless Chromium starts online");
    let window = web_sys::window().unwrap();
    let fire = |name| window.dispatch_event(&web_sys::Event::new(name).unwrap()).unwrap();
    fire("offline");
    assert!(!online.get_untracked());
    fire("online");
    assert!(online.get_untracked());
    owner.cleanup();
}
