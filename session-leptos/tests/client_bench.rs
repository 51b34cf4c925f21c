//! `cargo xtask bench client`: the session client's time per request beside a bare gloo-net fetch of the same
//! endpoint, and a DPoP-bound session's beside a Bearer one's (the proof's cost), in headless Chromium, against the real server (started by xtask, which sets `API_ORIGIN` and turns
//! on the `client-bench` feature that plain `wasm-pack test` leaves off).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

use std::cell::RefCell;
use std::time::Duration;

use gloo_net::http::Request;
use session_contract::paths;
use session_core::{AccessToken, Options, RequestRecipe, SessionClient, SingleTab, TokenStore};
use session_leptos::browser::{BrowserClock, FetchTransport, WebCryptoKey, monotonic_ms};
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// Bare and client requests alternate one by one (their order swapped each time), so both meet the same
/// conditions of the machine: drift that would favour whichever ran in a quieter moment cancels out. Medians
/// keep a garbage collection or scheduling hiccup in one request from deciding the result.
const PAIRS: usize = 2_000;

/// A token store of its own for each client measured, so the two sessions do not overwrite one another.
#[derive(Default)]
struct Memory(RefCell<Option<AccessToken>>);

impl TokenStore for Memory {
    fn load(&self) -> Option<AccessToken> {
        self.0.borrow().clone()
    }
    fn save(&self, token: &AccessToken) {
        self.0.replace(Some(token.clone()));
    }
    fn clear(&self) {
        self.0.replace(None);
    }
}

#[wasm_bindgen_test]
async fn the_client_costs_little_beside_a_bare_fetch_and_a_proof_is_measured() {
    let Some(base_url) = option_env!("API_ORIGIN") else {
        panic!("run through `cargo xtask bench client`, which starts the server and sets API_ORIGIN")
    };
    let transport = || FetchTransport::new(base_url, Duration::from_secs(15));
    // A Bearer session (xtask starts the server with `--dpop allowed`) and a session bound to this browser's key.
    let client = SessionClient::new(transport(), Memory::default(), BrowserClock, SingleTab);
    client.sign_in("demo", "correct-horse-battery").await.expect("the demo account signs in");
    let bearer = format!("Bearer {}", client.store().load().expect("a stored token").value);
    let bound = SessionClient::with_device_key(
        transport(),
        Memory::default(),
        BrowserClock,
        SingleTab,
        WebCryptoKey::default(),
        Options::default(),
    );
    bound.sign_in("demo", "correct-horse-battery").await.expect("the demo account signs in with a key");
    assert!(bound.store().load().is_some_and(|token| token.bound), "bound to the key");
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
    let started = std::cell::Cell::new(0.0);
    let since = |status: u16| {
        assert_eq!(status, 200);
        monotonic_ms() - started.get()
    };
    let (mut bare_times, mut client_times, mut bound_times) =
        (Vec::with_capacity(PAIRS), Vec::with_capacity(PAIRS), Vec::with_capacity(PAIRS));
    for round in 0..PAIRS {
        // Each in turn first, so drift favours none.
        for turn in 0..3 {
            match (round + turn) % 3 {
                0 => bare_times.push(bare_fetch().await),
                1 => {
                    started.set(monotonic_ms());
                    client_times.push(since(client.send(&recipe).await.expect("an answer").status));
                }
                _ => {
                    started.set(monotonic_ms());
                    bound_times.push(since(bound.send(&recipe).await.expect("an answer").status));
                }
            }
        }
    }
    let mean = |times: &[f64]| times.iter().sum::<f64>() / times.len() as f64;
    let (bare_mean, client_mean) = (mean(&bare_times), mean(&client_times));
    let (bare_median, client_median) = (median(&mut bare_times), median(&mut client_times));
    let bound_median = median(&mut bound_times);
    let overhead = |client: f64, bare: f64| (client - bare) / bare * 100.0;
    console_log!(
        "GET /user, {PAIRS} interleaved rounds, per request: median bare gloo-net {bare_median:.3} ms, session client \
         {client_median:.3} ms: overhead {:.1}% (target: under 5%); mean {bare_mean:.3} against {client_mean:.3} ms: \
         {:.1}%",
        overhead(client_median, bare_median),
        overhead(client_mean, bare_mean),
    );
    console_log!(
        "DPoP: the bound session's request {bound_median:.3} ms against {client_median:.3} ms as Bearer: the proof \
         (WebCrypto: the key from IndexedDB, SHA-256 of the token, an ECDSA signature) costs {:.3} ms per request \
         (median)",
        bound_median - client_median,
    );
    bound.sign_out().await;
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
