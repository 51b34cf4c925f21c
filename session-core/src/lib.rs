#![warn(missing_docs)]
//! A sans-IO client that keeps a user signed in with short-lived JWT access tokens and a rotating refresh
//! cookie, following the contract of the `session-contract` crate.
//!
//! The client does no I/O of its own: a [`Transport`] (fetch in a browser), a [`TokenStore`] (localStorage),
//! a [`Clock`] and the other [`Tabs`] are passed in, so the same rules run in a wasm app and under `cargo test`
//! with fakes. What it guarantees:
//!
//! - **One refresh, however many requests are refused at once**, and each refused request is replayed once
//!   with the new token; a request started while a refresh runs waits for it.
//! - **No loops**: the refresh never goes through the refusal path, and a refusal after a successful refresh
//!   goes back to the caller as [`SessionError::Unauthorized`].
//! - **Only the refresh's 403 ends the session**; no answer, a timeout or a 5xx keep the token and back off.
//! - **Renew ahead of expiry**, from `expiresIn` at receipt, so a wrong device clock does not matter.
//! - **Across tabs**, the refresh runs under [`Tabs::lock`], and a tab that waited adopts the token another tab
//!   stored meanwhile.
//! - **Tokens bound to the device** (DPoP, RFC 9449) with a [`DeviceKey`] (the browser's WebCrypto): the sign-in
//!   binds the session to the key, every request and refresh carries a fresh proof, a server's nonce is adopted
//!   and the request sent once more with it, and the sign-out forgets the key.
//!
//! ```
//! use std::cell::RefCell;
//! use futures::executor::block_on;
//! use session_core::*;
//!
//! /// A server whose access tokens have all expired: `/user` wants the refreshed one.
//! struct Server;
//! impl Transport for Server {
//!     async fn send(&self, request: &RequestRecipe, bearer: Option<&str>) -> Result<Response, TransportError> {
//!         let (status, body) = match (request.path.as_str(), bearer) {
//!             ("/auth/refresh", _) => (200, r#"{"accessToken":"new","tokenType":"Bearer","expiresIn":900}"#),
//!             ("/user", Some("new")) => (200, r#"{"hello":"world"}"#),
//!             _ => (401, r#"{"error":"invalid_token","message":"expired"}"#),
//!         };
//!         Ok(Response::new(status, body))
//!     }
//!     fn url(&self, path: &str) -> String { format!("https://app.example{path}") }
//! }
//!
//! #[derive(Default)]
//! struct Memory(RefCell<Option<AccessToken>>);
//! impl TokenStore for Memory {
//!     fn load(&self) -> Option<AccessToken> { self.0.borrow().clone() }
//!     fn save(&self, token: &AccessToken) { *self.0.borrow_mut() = Some(token.clone()); }
//!     fn clear(&self) { *self.0.borrow_mut() = None; }
//! }
//!
//! struct Noon;
//! impl Clock for Noon {
//!     fn now_ms(&self) -> f64 { 43_200_000.0 }
//!     fn monotonic_ms(&self) -> f64 { 1_000.0 }
//! }
//!
//! let store = Memory::default();
//! let old = AccessToken::new("old", "s", None, std::time::Duration::ZERO);
//! store.save(&old);
//! let client = SessionClient::new(Server, store, Noon, SingleTab);
//!
//! // Refused with 401, refreshed once, replayed with the new token.
//! let hello: serde_json::Value = block_on(client.get_json("/user")).unwrap();
//! assert_eq!(hello["hello"], "world");
//! ```

mod client;
mod dpop;
mod error;
mod listeners;
mod options;
mod policy;
mod ports;
mod request;

pub use client::SessionClient;
pub use dpop::{DeviceKey, KeyPair, KeyUnavailable, NoDeviceKey, NoKeyPair, PublicKey};
pub use error::{DecodeError, DecodeErrorKind, SessionError, TransportError};
pub use listeners::Subscription;
pub use options::Options;
pub use ports::{
    AccessToken, Clock, EndReason, News, SessionEvent, SingleTab, Tabs, TokenStore, Transport, is_bearer_token,
    session_of,
};
pub use request::{Auth, Method, RequestRecipe, Response};
pub use session_contract::ErrorCode;
