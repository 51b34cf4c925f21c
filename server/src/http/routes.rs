//! The endpoints of docs/API.md; bodies and paths come from the contract crate.

pub(crate) mod auth;
pub(crate) mod health;
pub(crate) mod user;

use axum::Router;
use axum::routing::{delete, get, post};
use session_contract::paths;

use crate::state::SharedState;

/// The endpoints that change state (they must be same-site and marked).
pub fn state_changing() -> Router<SharedState> {
    Router::new()
        .route(paths::LOGIN, post(auth::login))
        .route(paths::REFRESH, post(auth::refresh))
        .route(paths::LOGOUT, post(auth::logout))
        .route(paths::USER_SESSION, delete(user::revoke_session))
}

pub fn reads() -> Router<SharedState> {
    Router::new().route(paths::USER, get(user::current_user)).route(paths::USER_SESSIONS, get(user::list_sessions))
}

/// Liveness and readiness: no token, no CSRF check, no navigation fallback.
pub fn health() -> Router<SharedState> {
    Router::new().route(paths::HEALTH_LIVE, get(health::live)).route(paths::HEALTH_READY, get(health::ready))
}
