use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The `error` field of every error answer. A client that meets a code it does not know (a newer server) reads
/// it as [`ErrorCode::Unknown`] and falls back on the answer's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: malformed JSON, a missing field, a body over the limit.
    BadRequest,
    /// 415: a body that is not `application/json`.
    UnsupportedMediaType,
    /// 401 from the login: the same answer for an unknown user and a wrong password.
    InvalidCredentials,
    /// 429, with `Retry-After`: too many sign-in attempts, too many failed refreshes from one address, or too many
    /// refreshes of one session in a minute.
    TooManyAttempts,
    /// 403 from the refresh: the session is over (missing, unknown, expired, idle or revoked token).
    SessionExpired,
    /// 403 from the refresh: a rotated token was presented again; the whole session is revoked.
    RefreshTokenReused,
    /// 401 from a Bearer endpoint: the access token is missing, invalid, expired or its session revoked.
    InvalidToken,
    /// 403: a state-changing request without the marker header, or from another site.
    Csrf,
    /// 404.
    NotFound,
    /// 400 from the sign-in, refresh and sign-out, 401 (with `WWW-Authenticate: DPoP`) from a protected
    /// endpoint: the DPoP proof is missing where it is required, malformed, for another request, replayed, or
    /// signed by another key than the session's.
    InvalidDpopProof,
    /// 400 or 401 like [`ErrorCode::InvalidDpopProof`]: the proof's `iat` cannot be trusted; send it again with
    /// the `DPoP-Nonce` the answer carries (once; this is not a refresh).
    UseDpopNonce,
    /// 503, with `Retry-After`: every password check is busy (the sign-in was not tried), or every database
    /// connection is.
    ServerBusy,
    /// 5xx: the server could not complete the request.
    Internal,
    /// A code this build does not know.
    Unknown,
}

impl ErrorCode {
    const KNOWN: [Self; 13] = [
        Self::BadRequest,
        Self::UnsupportedMediaType,
        Self::InvalidCredentials,
        Self::TooManyAttempts,
        Self::SessionExpired,
        Self::RefreshTokenReused,
        Self::InvalidToken,
        Self::Csrf,
        Self::NotFound,
        Self::InvalidDpopProof,
        Self::UseDpopNonce,
        Self::ServerBusy,
        Self::Internal,
    ];

    /// The code as it travels, snake_case.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::InvalidCredentials => "invalid_credentials",
            Self::TooManyAttempts => "too_many_attempts",
            Self::SessionExpired => "session_expired",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::InvalidToken => "invalid_token",
            Self::Csrf => "csrf",
            Self::NotFound => "not_found",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::ServerBusy => "server_busy",
            Self::Internal => "internal",
            Self::Unknown => "unknown",
        }
    }

    /// The code for its wire form; anything else is [`ErrorCode::Unknown`].
    pub fn parse(code: &str) -> Self {
        Self::KNOWN.into_iter().find(|known| known.as_str() == code).unwrap_or(Self::Unknown)
    }
}

/// A string with one of the known codes; a client reads any other as `unknown`.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let codes = utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Self::KNOWN.map(Self::as_str)))
            .description(Some("What a client decides on; a code it does not know reads as `unknown`."))
            .build();
        utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(codes))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ErrorCode {}

impl fmt::Display for ErrorCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

// By hand rather than derived: the names are spelled once, in `as_str`, and unknown codes are not an error.
impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodeVisitor;
        impl Visitor<'_> for CodeVisitor {
            type Value = ErrorCode;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("an error code")
            }
            fn visit_str<E: de::Error>(self, code: &str) -> Result<ErrorCode, E> {
                Ok(ErrorCode::parse(code))
            }
        }
        deserializer.deserialize_str(CodeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_known_code_reads_back_as_itself() {
        for code in ErrorCode::KNOWN {
            assert_eq!(ErrorCode::parse(code.as_str()), code);
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{code}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
        }
    }

    #[test]
    fn a_code_from_a_newer_server_is_unknown_not_an_error() {
        assert_eq!(serde_json::from_str::<ErrorCode>("\"account_locked\"").unwrap(), ErrorCode::Unknown);
        assert_eq!(ErrorCode::parse(""), ErrorCode::Unknown);
    }
}
