//! Browser tests (`wasm-pack test --headless --chrome`): the app's pages and routes in real Chromium. The session
//! crate's adapters and query cache have browser tests of their own, in `session-leptos/tests/`.
#![cfg(target_arch = "wasm32")]
// A test that unwraps fails with the place it failed: what a test should do.
#![allow(clippy::unwrap_used)]

mod login_page;
mod routes;
mod support;
mod user_page;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
