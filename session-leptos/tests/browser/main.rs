//! Browser tests (`wasm-pack test --headless --chrome` in this folder): the adapters and the query cache in a
//! real browser, against a stubbed `fetch`.
#![cfg(target_arch = "wasm32")]
// A test that unwraps fails with the place it failed: what a test should do.
#![allow(clippy::unwrap_used)]

mod device_key;
mod query;
mod tabs;
mod token_store;
mod transport;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
