//! `cargo xtask bench client`: the session client's time per request beside a bare gloo-net fetch of the same
//! endpoint, in headless Chromium, against the real server (started by xtask, which sets `BENCH_API`).
#![cfg(target_arch = "wasm32")]

use gloo_net::http::Request;
use session_app::api::browser::{BrowserClock, FetchTransport, LocalStorageTokens};
use session_app::api::session::{RequestRecipe, SessionClient, SingleTab, TokenStore};
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Bare and client requests alternate one by one (their order swapped each time), so both meet the same
/// conditions of the machine: drift that would favour whichever ran in a quieter moment cancels out.
const PAIRS: usize = 2_000;

fn now_ms() -> f64 {
    web_sys::window().and_then(|window| window.performance()).map_or_else(js_sys::Date::now, |clock| clock.now())
}

#[wasm_bindgen_test]
async fn the_client_costs_little_beside_a_bare_fetch() {
    let Some(base_url) = option_env!("BENCH_API") else {
        panic!("run through `cargo xtask bench client`, which starts the server and sets BENCH_API")
    };
    let transport = FetchTransport::new(base_url, 15_000);
    let client = SessionClient::new(transport, LocalStorageTokens, BrowserClock, SingleTab);
    client.sign_in("demo", "correct-horse-battery").await.expect("the demo account signs in");
    let bearer = format!("Bearer {}", LocalStorageTokens.load().expect("a stored token").value);
    let url = format!("{base_url}/user");
    let recipe = RequestRecipe::get("/user");

    let bare_fetch = || async {
        let started = now_ms();
        let response = Request::get(&url)
            .header("Accept", "application/json")
            .header("Authorization", &bearer)
            .credentials(web_sys::RequestCredentials::Include)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200);
        response.binary().await.expect("a body");
        now_ms() - started
    };
    let through_client = || async {
        let started = now_ms();
        assert_eq!(client.send(&recipe).await.expect("an answer").status, 200);
        now_ms() - started
    };
    let (mut bare_total, mut client_total) = (0.0, 0.0);
    for pair in 0..PAIRS {
        if pair % 2 == 0 {
            bare_total += bare_fetch().await;
            client_total += through_client().await;
        } else {
            client_total += through_client().await;
            bare_total += bare_fetch().await;
        }
    }
    let (bare, client_ms) = (bare_total / PAIRS as f64, client_total / PAIRS as f64);
    let overhead = (client_ms - bare) / bare * 100.0;
    console_log!(
        "GET /user, {PAIRS} interleaved pairs: bare gloo-net {bare:.3} ms, session client {client_ms:.3} ms per request: \
         overhead {overhead:.1}% (target: under 5%)"
    );
    LocalStorageTokens.clear();
}
