//! The reference auth API: short-lived JWT access tokens and rotating, reuse-detecting refresh cookies.
//!
//! `build_app` assembles the router from a [`ServerConfig`] and `serve` runs it with the transport limits; the
//! binary in `main.rs` and every test start the server the same way, so what the tests check is what runs.

mod auth;
pub mod cli;
pub mod clock;
pub mod config;
mod http;
mod metrics;
mod revocations;
mod startup;
mod state;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use auth::cookie_mode::{CookieMode, CookieModeError};
pub use auth::dpop::DpopMode;
pub use auth::live_sessions::RECHECK_SECONDS;
pub use auth::passwords::{NewUser, add_user, set_password};
pub use auth::site_origin::SiteOrigin;
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{ConnectionLimits, DEMO_PASSWORD, DEMO_USERNAME, ServerConfig, Settings, SettingsError};
pub use http::openapi::openapi;
pub use http::router::metrics as metrics_router;
pub use http::serve::{raise_open_file_limit, serve, serve_until};
pub use startup::{StartupError, build_app};
pub use state::{AppState, SharedState};
pub use store::{LISTENER_NAME, MAX_SESSIONS_PER_ACCOUNT, NewSession, Store};
