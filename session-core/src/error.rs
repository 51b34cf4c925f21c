//! What went wrong with a call, in the terms a page needs to decide what to show.

use session_contract::{ErrorBody, ErrorCode};

use crate::request::TransportError;

/// The error of every call. The page decides on the variant and, for [`ApiError::Status`], on the contract's
/// [`ErrorCode`], never on a status number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The server refused the access token even after a refresh, or nobody is signed in here.
    #[error("You are not signed in.")]
    Unauthorized,
    /// While this request waited, this tab or another signed in as someone else: its answer is not theirs to see,
    /// and it is not replayed with their token.
    #[error("You are now signed in as someone else.")]
    SessionChanged,
    /// The refresh was refused: the session is over and the user must sign in again.
    #[error("Your session has expired. Please sign in again.")]
    SessionExpired,
    /// No answer at all: offline, DNS, connection refused, CORS.
    #[error("Check your network connection.")]
    Network,
    /// The transport's deadline passed before an answer came.
    #[error("The server took too long to answer. Please try again.")]
    Timeout,
    /// A 5xx answer.
    #[error("Server error. Please try again later.")]
    Server {
        /// The status the server answered with.
        status: u16,
    },
    /// Any other refusal, with the server's code and its message for people.
    #[error("{message}")]
    Status {
        /// The status the server answered with.
        status: u16,
        /// The contract's code: what to decide on.
        code: ErrorCode,
        /// The server's words for people.
        message: String,
    },
    /// An answer that is not the JSON the contract promises.
    #[error("Unexpected answer from the server.")]
    Decode(#[source] DecodeError),
    /// A request body that cannot be encoded as JSON.
    #[error("The request could not be encoded.")]
    Encode,
}

impl From<TransportError> for ApiError {
    fn from(error: TransportError) -> Self {
        // The transport's error says no more than the variant: nothing is lost.
        match error {
            TransportError::Network => Self::Network,
            TransportError::Timeout => Self::Timeout,
        }
    }
}

impl ApiError {
    /// The error for a non-success status; the session client decides on 401 and the refresh's 403 itself.
    pub fn from_status(status: u16, body: &[u8]) -> Self {
        if status >= 500 {
            return Self::Server { status };
        }
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(ErrorBody { error, message }) => Self::Status { status, code: error, message },
            Err(_) => {
                Self::Status { status, code: ErrorCode::Unknown, message: format!("The request failed ({status}).") }
            }
        }
    }

    /// The contract's code of a refusal, if the server sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Status { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Where a body stopped being the JSON expected, without any of its text: the body of a sign-in answer may hold
/// a token, and an error message ends up on screen and in logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at line {line}, column {column}")]
pub struct DecodeError {
    /// What was wrong.
    pub kind: DecodeErrorKind,
    /// Where, counting from 1.
    pub line: usize,
    /// Where, counting from 1.
    pub column: usize,
}

/// How a body failed to be the JSON expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// Not JSON at all.
    #[error("not JSON")]
    Syntax,
    /// JSON, but not of the contract's shape (a missing field, a string for a number).
    #[error("JSON of another shape")]
    Shape,
    /// JSON cut short.
    #[error("a truncated body")]
    Truncated,
}

impl From<&serde_json::Error> for DecodeError {
    fn from(error: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let kind = match error.classify() {
            Category::Data => DecodeErrorKind::Shape,
            Category::Eof => DecodeErrorKind::Truncated,
            Category::Syntax | Category::Io => DecodeErrorKind::Syntax,
        };
        Self { kind, line: error.line(), column: error.column() }
    }
}
