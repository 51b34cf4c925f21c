//! Every failure the API can answer with, mapped to its HTTP form in this one place.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use session_contract::{ErrorBody, ErrorCode};

use crate::auth::dpop::ProofError;
use crate::auth::passwords::Unchecked;
use crate::http::cookies::cleared_refresh_cookies;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("The request is malformed: {}", .0.body_text())]
    BadRequest(#[source] JsonRejection),
    #[error("The path is malformed: {}", .0.body_text())]
    BadPath(#[source] PathRejection),
    #[error("This endpoint does not take that method (the Allow header says which it takes).")]
    MethodNotAllowed,
    #[error(
        "The refresh cookie was sent more than once (another site of this domain may have set one); none was used."
    )]
    CookieTwice,
    #[error("The request body must be JSON (Content-Type: application/json).")]
    UnsupportedMediaType,
    #[error("The username or password is incorrect.")]
    InvalidCredentials,
    #[error("Too many attempts. Try again in {retry_after} seconds.")]
    TooManyAttempts { retry_after: u64 },
    #[error("The server is busy checking other sign-ins. Try again in {retry_after} seconds.")]
    ServerBusy { retry_after: u64 },
    #[error("The session has expired. Please sign in again.")]
    SessionExpired,
    #[error("This refresh token was already used; the session has been revoked.")]
    RefreshTokenReused,
    #[error("The access token is missing, invalid or expired.")]
    InvalidToken,
    #[error("Cross-site or unmarked state-changing request refused.")]
    Csrf,
    #[error("The DPoP proof is refused: {reason}.")]
    InvalidDpopProof { reason: ProofError, at: ProofAt },
    #[error("Send the DPoP proof again with the server's nonce (the DPoP-Nonce header).")]
    UseDpopNonce { at: ProofAt },
    #[error("No such resource.")]
    NotFound,
    #[error("The server is busy. Try again in a moment.")]
    DatabaseBusy,
    #[error("storage failure")]
    Storage(#[source] sqlx::Error),
    #[error("cannot sign the access token")]
    Signing(#[from] jsonwebtoken::errors::Error),
    #[error("cannot check the password")]
    PasswordChecks(#[source] Unchecked),
}

/// Where a DPoP proof was refused: a session endpoint (sign-in, refresh, sign-out) answers `400`, as RFC 9449's
/// token endpoint does; a protected resource `401` with a `DPoP` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofAt {
    Session,
    Resource,
}

impl ProofAt {
    fn status(self) -> StatusCode {
        match self {
            Self::Session => StatusCode::BAD_REQUEST,
            Self::Resource => StatusCode::UNAUTHORIZED,
        }
    }
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::BadRequest(_) | Self::BadPath(_) | Self::CookieTwice => {
                (StatusCode::BAD_REQUEST, ErrorCode::BadRequest)
            }
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::BadRequest),
            Self::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorCode::UnsupportedMediaType),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, ErrorCode::InvalidCredentials),
            Self::TooManyAttempts { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyAttempts),
            Self::ServerBusy { .. } | Self::DatabaseBusy => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::ServerBusy),
            Self::SessionExpired => (StatusCode::FORBIDDEN, ErrorCode::SessionExpired),
            Self::RefreshTokenReused => (StatusCode::FORBIDDEN, ErrorCode::RefreshTokenReused),
            Self::InvalidToken => (StatusCode::UNAUTHORIZED, ErrorCode::InvalidToken),
            Self::Csrf => (StatusCode::FORBIDDEN, ErrorCode::Csrf),
            Self::InvalidDpopProof { at, .. } => (at.status(), ErrorCode::InvalidDpopProof),
            Self::UseDpopNonce { at } => (at.status(), ErrorCode::UseDpopNonce),
            Self::NotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::Storage(_) | Self::Signing(_) | Self::PasswordChecks(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        }
    }
}

/// Every database connection stayed in use for the pool's whole wait: a burst, not a failure (`503`, not `500`).
impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut => {
                tracing::warn!(event = "database_busy", "every database connection stayed in use");
                Self::DatabaseBusy
            }
            error => Self::Storage(error),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::UnsupportedMediaType,
            rejection => Self::BadRequest(rejection),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::BadPath(rejection)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // The whole chain, for the operator; the client learns nothing of the inside.
            let source = std::error::Error::source(&self).map(ToString::to_string).unwrap_or_default();
            tracing::error!(error = %self, %source, "request failed");
            "The server could not complete the request.".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (status, Json(ErrorBody { error: code, message })).into_response();
        let headers = response.headers_mut();
        match self {
            Self::InvalidToken => {
                let challenge = format!(r#"Bearer error="{}""#, ErrorCode::InvalidToken);
                if let Ok(challenge) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, challenge);
                }
            }
            // RFC 9449 §7.1: a protected resource says so in its challenge.
            Self::InvalidDpopProof { at: ProofAt::Resource, .. } | Self::UseDpopNonce { at: ProofAt::Resource } => {
                let challenge = format!(r#"DPoP error="{code}", algs="ES256""#);
                if let Ok(challenge) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, challenge);
                }
            }
            Self::TooManyAttempts { retry_after } | Self::ServerBusy { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            Self::DatabaseBusy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
            }
            // The session is over: the browser may drop its cookie too, in whichever form it holds it.
            Self::SessionExpired | Self::RefreshTokenReused => {
                for cleared in cleared_refresh_cookies() {
                    headers.append(header::SET_COOKIE, cleared);
                }
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_that_stayed_busy_is_a_503_to_retry_and_any_other_database_failure_a_500() {
        let busy = ApiError::from(sqlx::Error::PoolTimedOut).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        let failed = ApiError::from(sqlx::Error::RowNotFound).into_response();
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
