//! The session client with every browser adapter.

use std::time::Duration;

use futures::future::LocalBoxFuture;
use session_core::{Options, SessionClient};

use super::clock::BrowserClock;
use super::device_key::WebCryptoKey;
use super::tabs::BrowserTabs;
use super::token_store::LocalStorageTokens;
use super::transport::FetchTransport;

/// How long a request may take before it fails as a timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The session client with every browser adapter: what [`browser_client`] makes and
/// [`provide_session`](crate::provide_session) puts in context.
pub type BrowserClient = SessionClient<FetchTransport, LocalStorageTokens, BrowserClock, BrowserTabs, WebCryptoKey>;

/// A client for this tab that talks to the auth API at `base_url` (`""`: the page's own origin; otherwise an
/// origin that allows this one by CORS, with credentials). It hears the other tabs once
/// [`OtherTabs::listen`] runs, which [`provide_session`](crate::provide_session) does.
pub fn browser_client(base_url: &str) -> BrowserClient {
    let spawn: fn(LocalBoxFuture<'static, ()>) = wasm_bindgen_futures::spawn_local;
    let mut options = Options::default();
    options.spawn = Some(spawn);
    SessionClient::with_device_key(
        FetchTransport::new(base_url, REQUEST_TIMEOUT),
        LocalStorageTokens::default(),
        BrowserClock,
        BrowserTabs::new(REQUEST_TIMEOUT),
        WebCryptoKey::default(),
        options,
    )
}
