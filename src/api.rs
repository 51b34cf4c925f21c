//! The HTTP client of API.md: a sans-IO session core, and (in the browser) its fetch and localStorage adapters.

#[cfg(target_arch = "wasm32")]
pub mod browser;
pub mod error;
pub mod session;

use miniserde::Deserialize;

pub use error::ApiError;

/// `GET /user`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    #[serde(rename = "displayName")]
    pub display_name: String,
    pub email: String,
    #[serde(rename = "createdAt")]
    pub created_at: String,
}
