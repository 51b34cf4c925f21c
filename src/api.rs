//! The HTTP client of API.md: a sans-IO session core, and (in the browser) its fetch and localStorage adapters.

#[cfg(target_arch = "wasm32")]
pub mod browser;
pub mod error;
pub mod session;

use serde::Deserialize;

pub use error::ApiError;

/// `GET /user`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub created_at: String,
}
