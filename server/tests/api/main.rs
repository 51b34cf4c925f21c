//! The server over real HTTP on an ephemeral port: API.md's contract and the hardening promises.

mod access_tokens;
mod contract;
mod headers;
mod login;
mod robustness;
mod sessions;
mod support;
