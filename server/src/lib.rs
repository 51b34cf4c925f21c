//! The reference auth API: short-lived JWT access tokens and rotating, reuse-detecting refresh cookies.
//!
//! `build_app` assembles the router from a [`ServerConfig`] and `serve` runs it with the transport limits; the
//! binary in `main.rs` and every test start the server the same way, so what the tests check is what runs.

mod client_address;
pub mod clock;
pub mod config;
mod cookie_mode;
mod cookies;
mod credentials;
mod error;
mod extract;
mod live_sessions;
mod metrics;
mod revocations;
mod rotation;
mod router;
mod routes;
mod security;
mod serve;
mod startup;
mod state;
mod static_files;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod throttle;
mod tokens;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConnectionLimits, DEMO_PASSWORD, DEMO_USERNAME, ServerConfig, Settings};
pub use cookie_mode::{CookieMode, CookieModeError};
pub use credentials::{NewUser, add_user, set_password};
pub use live_sessions::RECHECK_SECONDS;
pub use serve::{raise_open_file_limit, serve};
pub use startup::{StartupError, build_app};
pub use state::{AppState, SharedState};
pub use store::Store;
