//! The server over real HTTP on an ephemeral port: docs/API.md's contract and the hardening promises.
// A test that unwraps fails with the place it failed: what a test should do.
#![allow(clippy::unwrap_used)]

mod abuse;
mod access_tokens;
mod contract;
mod dpop;
mod headers;
mod instances;
mod login;
mod openapi;
mod robustness;
mod sessions;
mod startup;
mod static_files;
mod support;
