//! The endpoints, as the server routes them and the clients call them.

pub const LOGIN: &str = "/auth/login";
pub const REFRESH: &str = "/auth/refresh";
pub const LOGOUT: &str = "/auth/logout";
pub const USER: &str = "/user";
pub const USER_SESSIONS: &str = "/user/sessions";
/// The route of one session, with its `{id}` parameter (axum's syntax); clients call [`user_session`].
pub const USER_SESSION: &str = "/user/sessions/{id}";
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
