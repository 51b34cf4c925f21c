//! Every failure the API can answer with, mapped to its HTTP form in this one place.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("The request is malformed: {0}")]
    BadRequest(String),
    #[error("The request body must be JSON (Content-Type: application/json).")]
    UnsupportedMediaType,
    #[error("The username or password is incorrect.")]
    InvalidCredentials,
    #[error("Too many sign-in attempts. Try again in {retry_after} seconds.")]
    TooManyAttempts { retry_after: u64 },
    #[error("The session has expired. Please sign in again.")]
    SessionExpired,
    #[error("This refresh token was already used; the session has been revoked.")]
    RefreshTokenReused,
    #[error("The access token is missing, invalid or expired.")]
    InvalidToken,
    #[error("Cross-site or unmarked state-changing request refused.")]
    Csrf,
    #[error("No such resource.")]
    NotFound,
    #[error("storage failure: {0}")]
    Storage(#[from] sqlx::Error),
    #[error("internal failure: {0}")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            Self::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            Self::SessionExpired => (StatusCode::FORBIDDEN, "session_expired"),
            Self::RefreshTokenReused => (StatusCode::FORBIDDEN, "refresh_token_reused"),
            Self::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
            Self::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::Storage(_) | Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            "The server could not complete the request.".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (status, Json(json!({ "error": code, "message": message }))).into_response();
        let headers = response.headers_mut();
        match self {
            Self::InvalidToken => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer error="invalid_token""#));
            }
            Self::TooManyAttempts { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            _ => {}
        }
        response
    }
}
