//! The reference auth API: short-lived JWT access tokens and rotating, reuse-detecting refresh cookies.
//!
//! `build_app` assembles the router from a [`ServerConfig`]; the binary in `main.rs` and every test start the
//! server the same way, so what the tests check is what runs.

mod app;
pub mod clock;
pub mod config;
mod credentials;
mod error;
mod live_sessions;
mod metrics;
mod routes;
mod security;
mod static_files;
mod store;
mod throttle;
mod tokens;

pub use app::{App, StartupError, build_app, serve};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{DEMO_PASSWORD, DEMO_USERNAME, ServerConfig, Settings};
pub use credentials::{NewUser, add_user, set_password};
pub use live_sessions::RECHECK_SECONDS;
pub use store::Store;
