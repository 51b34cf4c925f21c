//! The session client of `session-core`, plugged into the browser: fetch through gloo-net, the token in
//! localStorage through gloo-storage, the other tabs through Web Locks and a BroadcastChannel, time from
//! `Date.now()` and `performance.now()`, the device's DPoP key through WebCrypto and IndexedDB.

mod client;
mod clock;
pub(crate) mod device_key;
mod lifecycle;
mod tabs;
mod token_store;
mod transport;

pub use client::{BrowserClient, REQUEST_TIMEOUT, browser_client};
pub(crate) use clock::sleep;
pub use clock::{BrowserClock, monotonic_ms};
pub use device_key::{BrowserKeyPair, WebCryptoKey};
pub use lifecycle::{keep_fresh, use_online_signal};
pub use tabs::{ANNOUNCEMENT_KEY, BrowserTabs, HeldLock, OtherTabs, SessionLock};
pub use token_store::LocalStorageTokens;
pub use transport::FetchTransport;
