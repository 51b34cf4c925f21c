//! The session client of `session-core`, plugged into the browser: fetch through gloo-net, the token in
//! localStorage through gloo-storage, the other tabs through Web Locks and a BroadcastChannel.

mod clock;
mod lifecycle;
mod tabs;
mod token_store;
mod transport;

pub use clock::{BrowserClock, monotonic_ms};
use futures::future::LocalBoxFuture;
pub use lifecycle::{keep_fresh, use_online_signal};
use session_core::{Options, SessionClient};
pub use tabs::{ANNOUNCEMENT_KEY, BrowserTabs, OtherTabs};
pub use token_store::LocalStorageTokens;
pub use transport::FetchTransport;

/// How long a request may take before it fails as a timeout.
pub const REQUEST_TIMEOUT_MS: u32 = 15_000;

/// The app's client.
pub type Api = SessionClient<FetchTransport, LocalStorageTokens, BrowserClock, BrowserTabs>;

/// A client for this tab, on the app's own origin. It hears the other tabs once [`OtherTabs::listen`] runs.
pub fn api() -> Api {
    let spawn: fn(LocalBoxFuture<'static, ()>) = wasm_bindgen_futures::spawn_local;
    SessionClient::with_options(
        FetchTransport::new("", REQUEST_TIMEOUT_MS),
        LocalStorageTokens::default(),
        BrowserClock,
        BrowserTabs::new(REQUEST_TIMEOUT_MS),
        Options { spawn: Some(spawn), ..Options::default() },
    )
}
