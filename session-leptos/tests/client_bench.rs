//! `cargo xtask bench client`: the session client's time per request beside a bare gloo-net fetch of the same
//! endpoint, in headless Chromium, against the real server (started by xtask, which sets `API_ORIGIN` and turns
//! on the `client-bench` feature that plain `wasm-pack test` leaves off).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use gloo_net::http::Request;
use session_contract::paths;
use session_core::{RequestRecipe, SessionClient, SingleTab, TokenStore};
use session_leptos::browser::{BrowserClock, FetchTransport, LocalStorageTokens, monotonic_ms};
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Bare and client requests alternate one by one (their order swapped each time), so both meet the same
/// conditions of the machine: drift that would favour whichever ran in a quieter moment cancels out. Medians
/// keep a garbage collection or scheduling hiccup in one request from deciding the result.
const PAIRS: usize = 2_000;

#[wasm_bindgen_test]
async fn the_client_costs_little_beside_a_bare_fetch() {
    let Some(base_url) = option_env!("API_ORIGIN") else {
        panic!("run through `cargo xtask bench client`, which starts the server and sets API_ORIGIN")
    };
    let transport = FetchTransport::new(base_url, Duration::from_secs(15));
    let client = SessionClient::new(transport, LocalStorageTokens::default(), BrowserClock, SingleTab);
    client.sign_in("demo", "correct-horse-battery").await.expect("the demo account signs in");
    let bearer = format!("Bearer {}", LocalStorageTokens::default().load().expect("a stored token").value);
    let url = format!("{base_url}{}", paths::USER);
    let recipe = RequestRecipe::get(paths::USER);

    let bare_fetch = || async {
        let started = monotonic_ms();
        let response = Request::get(&url)
            .header("Accept", "application/json")
            .header("Authorization", &bearer)
            .credentials(web_sys::RequestCredentials::Include)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200);
        response.binary().await.expect("a body");
        monotonic_ms() - started
    };
    let through_client = || async {
        let started = monotonic_ms();
        assert_eq!(client.send(&recipe).await.expect("an answer").status, 200);
        monotonic_ms() - started
    };
    let (mut bare_times, mut client_times) = (Vec::with_capacity(PAIRS), Vec::with_capacity(PAIRS));
    for pair in 0..PAIRS {
        if pair % 2 == 0 {
            bare_times.push(bare_fetch().await);
            client_times.push(through_client().await);
        } else {
            client_times.push(through_client().await);
            bare_times.push(bare_fetch().await);
        }
    }
    let mean = |times: &[f64]| times.iter().sum::<f64>() / times.len() as f64;
    let (bare_mean, client_mean) = (mean(&bare_times), mean(&client_times));
    let (bare_median, client_median) = (median(&mut bare_times), median(&mut client_times));
    let overhead = |client: f64, bare: f64| (client - bare) / bare * 100.0;
    console_log!(
        "GET /user, {PAIRS} interleaved pairs, per request: median bare gloo-net {bare_median:.3} ms, session client \
         {client_median:.3} ms: overhead {:.1}% (target: under 5%); mean {bare_mean:.3} against {client_mean:.3} ms: \
         {:.1}%",
        overhead(client_median, bare_median),
        overhead(client_mean, bare_mean),
    );
    LocalStorageTokens::default().clear();
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
