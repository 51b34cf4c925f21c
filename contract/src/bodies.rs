use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// `POST /auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Credentials {
    /// The account's name.
    pub username: String,
    /// In the clear: the request travels over TLS, and the server keeps only an Argon2id hash.
    pub password: String,
}

/// The answer of a login or a refresh; the refresh token travels in the cookie, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: <tokenType> …`.
    pub access_token: String,
    /// `DPoP` for a session bound to the client's key (send the token as `Authorization: DPoP` with a proof), else
    /// `Bearer`.
    pub token_type: TokenType,
    /// Seconds the access token is valid for, from the moment it was issued.
    pub expires_in: u64,
}

/// How the access token is presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[non_exhaustive]
pub enum TokenType {
    /// RFC 6750: `Authorization: Bearer <token>`.
    Bearer,
    /// RFC 9449: `Authorization: DPoP <token>` with a `DPoP` proof signed by the key the session is bound to.
    DPoP,
}

/// `GET /user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Stable id; the access token's `sub`.
    pub id: i64,
    /// What the user signs in with.
    pub username: String,
    /// What the user is called on screen.
    pub display_name: String,
    /// May be empty.
    pub email: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

/// One entry of `GET /user/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionEntry {
    /// The session id (the access token's `sid`); `DELETE /user/sessions/{id}` ends it.
    pub id: String,
    /// When the user signed in, RFC 3339.
    pub created_at: String,
    /// The session's last refresh, RFC 3339.
    pub last_used_at: String,
    /// The browser that signed in, as it named itself (at most 256 characters).
    pub user_agent: String,
    /// The session this request's access token belongs to.
    pub current: bool,
}

/// `GET /health/live` and `GET /health/ready`: what a proxy or an orchestrator probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `live` (the process answers), `ready` (it can reach its database too), or `unavailable`.
    pub status: HealthStatus,
}

/// The one word of a health answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// The process serves (`/health/live`, which never touches the database).
    Live,
    /// The process serves and its database answers (`/health/ready`).
    Ready,
    /// The database did not answer in time (`/health/ready`, with `503`).
    Unavailable,
}

/// Every error answer: `{"error": "<code>", "message": "<text for people>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What a client decides on.
    pub error: ErrorCode,
    /// For people; never contains a token or a password.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn bodies_use_the_contracts_camel_case_names() {
        let token = TokenResponse { access_token: "a.b.c".into(), token_type: TokenType::Bearer, expires_in: 900 };
        assert_eq!(
            serde_json::to_value(&token).unwrap(),
            json!({"accessToken": "a.b.c", "tokenType": "Bearer", "expiresIn": 900})
        );
        let user: User = serde_json::from_value(json!({
            "id": 1, "username": "demo", "displayName": "Demo User", "email": "", "createdAt": "2026-11-27T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(user.display_name, "Demo User");
        let entry = SessionEntry {
            id: "s".into(),
            created_at: "c".into(),
            last_used_at: "l".into(),
            user_agent: "u".into(),
            current: true,
        };
        assert_eq!(
            serde_json::to_value(&entry).unwrap(),
            json!({"id": "s", "createdAt": "c", "lastUsedAt": "l", "userAgent": "u", "current": true})
        );
    }

    #[test]
    fn an_error_body_carries_its_code_as_snake_case() {
        let body = ErrorBody { error: ErrorCode::RefreshTokenReused, message: "revoked".into() };
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(text, r#"{"error":"refresh_token_reused","message":"revoked"}"#);
        assert_eq!(serde_json::from_str::<ErrorBody>(&text).unwrap(), body);
    }
}
