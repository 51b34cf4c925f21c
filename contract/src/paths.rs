//! The endpoints, as the server routes them and the clients call them.

/// `POST`: credentials in, tokens out.
pub const LOGIN: &str = "/auth/login";
/// `POST`: the refresh cookie in, rotated tokens out.
pub const REFRESH: &str = "/auth/refresh";
/// `POST`: ends the cookie's session.
pub const LOGOUT: &str = "/auth/logout";
/// `GET` (Bearer): the signed-in user.
pub const USER: &str = "/user";
/// `GET` (Bearer): the user's live sessions.
pub const USER_SESSIONS: &str = "/user/sessions";
/// The route of one session, with its `{id}` parameter (axum's syntax); clients call [`user_session`].
pub const USER_SESSION: &str = "/user/sessions/{id}";
/// `GET`: the process answers (liveness; never touches the database).
pub const HEALTH_LIVE: &str = "/health/live";
/// `GET`: the process answers and reaches its database (readiness).
pub const HEALTH_READY: &str = "/health/ready";
/// Prometheus counters, when the server exposes them.
pub const METRICS: &str = "/metrics";

/// The path that signs out one session (another device).
pub fn user_session(id: &str) -> String {
    format!("{USER_SESSIONS}/{id}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_session_path_fills_the_route_parameter() {
        assert_eq!(super::user_session("abc"), super::USER_SESSION.replace("{id}", "abc"));
    }
}
