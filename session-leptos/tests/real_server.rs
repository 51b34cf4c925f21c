//! Browser tests against the real server: `cargo xtask test` starts it, sets `API_ORIGIN` and turns on the
//! `real-server` feature (the design card's plain `wasm-pack test` has no server, so it leaves these out).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

use futures::future::join_all;
use session_contract::paths;
use session_core::{AccessToken, RequestRecipe, TokenStore};
use session_leptos::browser::LocalStorageTokens;
use session_leptos::{BrowserClient, browser_client};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Counts the refreshes this page sends, and lets them through to the server.
fn count_refreshes() {
    let spy = "window.refreshes = 0;
        window.unspiedFetch = window.unspiedFetch || window.fetch;
        window.fetch = (input, init) => {
            const url = typeof input === 'string' ? input : input.url;
            if (new URL(url).pathname === '/auth/refresh') window.refreshes += 1;
            return window.unspiedFetch(input, init);
        };";
    js_sys::Function::new_no_args(spy).call0(&wasm_bindgen::JsValue::NULL).unwrap();
}

fn refreshes() -> f64 {
    js_sys::Reflect::get(&web_sys::window().unwrap(), &"refreshes".into()).unwrap().as_f64().unwrap()
}

/// The app's client, with the API on the server's origin.
fn client() -> BrowserClient {
    let Some(api_origin) = option_env!("API_ORIGIN") else {
        panic!("run through `cargo xtask test`, which starts the server and sets API_ORIGIN")
    };
    browser_client(api_origin)
}

/// Twenty `GET /user` at once: all must succeed after exactly one refresh.
async fn twenty_at_once(client: &BrowserClient) {
    count_refreshes();
    let requests: Vec<_> = (0..20).map(|_| RequestRecipe::get(paths::USER)).collect();
    let answers = join_all(requests.iter().map(|request| client.send(request))).await;
    let statuses: Vec<_> = answers.into_iter().map(|answer| answer.map(|response| response.status)).collect();
    assert_eq!(statuses, vec![Ok(200); 20], "every call answered");
    assert_eq!(refreshes(), 1.0, "exactly one refresh for the twenty calls");
}

#[wasm_bindgen_test]
async fn twenty_calls_at_once_on_a_refused_token_share_one_refresh_and_all_succeed() {
    let client = client();
    client.sign_in("demo", "correct-horse-battery").await.unwrap();
    // The server no longer takes the token this page holds (as after its expiry), and the page cannot tell.
    let signed_in = LocalStorageTokens::default().load().unwrap();
    LocalStorageTokens::default().save(&AccessToken { value: "refused.by.the-server".to_owned(), ..signed_in });
    twenty_at_once(&client).await;
    client.sign_out().await;
}

#[wasm_bindgen_test]
async fn twenty_calls_at_once_on_an_expired_token_share_one_refresh_and_all_succeed() {
    let client = client();
    client.sign_in("demo", "correct-horse-battery").await.unwrap();
    let signed_in = LocalStorageTokens::default().load().unwrap();
    LocalStorageTokens::default().save(&AccessToken { expires_at_ms: Some(js_sys::Date::now() - 1.0), ..signed_in });
    twenty_at_once(&client).await;
    client.sign_out().await;
}
