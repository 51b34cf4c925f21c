//! Browser tests (`wasm-pack test --headless --chrome`): the adapters and pages in real Chromium.
#![cfg(target_arch = "wasm32")]
// A test that unwraps fails with the place it failed: what a test should do.
#![allow(clippy::unwrap_used)]

mod login_page;
mod query;
mod routes;
mod support;
mod tabs;
mod token_store;
mod transport;
mod user_page;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
