//! What went wrong with a call, in the terms a page needs to decide what to show.

use session_contract::{ErrorBody, ErrorCode};

/// The error of every call through the client. A page decides on the variant and, for
/// [`SessionError::Status`], on the contract's [`ErrorCode`], never on a status number. `Display` says what
/// happened in a developer's words, for logs; what to tell the user is the app's to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The server refused the access token even after a refresh, or nobody is signed in here.
    #[error("not signed in, or the access token was refused after a refresh")]
    Unauthorized,
    /// The session this request (or this data) belonged to is not the one there is now: while it waited, this
    /// tab or another signed in as someone else, signed out, or the session ended. Its answer is not for whoever
    /// is signed in now, and it is not replayed with their token.
    #[error("the session changed while the request waited")]
    SessionChanged,
    /// The refresh was refused: the session is over and the user must sign in again.
    #[error("the session has ended: the refresh was refused")]
    SessionExpired,
    /// No answer at all: offline, DNS, connection refused, CORS.
    #[error("no answer from the server")]
    Network,
    /// The transport's deadline passed before an answer came.
    #[error("the server did not answer in time")]
    Timeout,
    /// A 5xx answer.
    #[error("server error (status {status})")]
    Server {
        /// The status the server answered with.
        status: u16,
    },
    /// Any other refusal, with the server's code and its message for people.
    #[error("refused with status {status} ({code}): {message}")]
    Status {
        /// The status the server answered with.
        status: u16,
        /// The contract's code: what to decide on.
        code: ErrorCode,
        /// The server's words for people; empty when the answer was not the contract's error body.
        message: String,
    },
    /// An answer that is not the JSON the contract promises.
    #[error("the answer is not the JSON expected")]
    Decode(#[source] DecodeError),
    /// The device's key could not be read or sign a proof the sign-in or the session needs (WebCrypto or
    /// IndexedDB failed just now): the request is not sent without it, which would be a silent downgrade, and
    /// the session stays for the next attempt. (A key that is gone ends its session instead.)
    #[error("the device's key could not sign the request")]
    DeviceKey,
    /// A request that cannot be sent as it was made: a body that cannot be JSON, or a header name or value the
    /// transport refuses.
    #[error("the request cannot be sent as it was made")]
    Encode,
}

impl From<TransportError> for SessionError {
    fn from(error: TransportError) -> Self {
        // The transport's error says no more than the variant: nothing is lost.
        match error {
            TransportError::Network => Self::Network,
            TransportError::Timeout => Self::Timeout,
            TransportError::Rejected => Self::Encode,
        }
    }
}

impl SessionError {
    /// The error for a non-success status; the session client decides on 401 and the refresh's 403 itself.
    pub fn from_status(status: u16, body: &[u8]) -> Self {
        if status >= 500 {
            return Self::Server { status };
        }
        match json_text(body).ok().and_then(|text| serde_json::from_str::<ErrorBody>(text).ok()) {
            Some(ErrorBody { error, message }) => Self::Status { status, code: error, message },
            // No words from the server: the app writes its own, with the status.
            None => Self::Status { status, code: ErrorCode::Unknown, message: String::new() },
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
#[non_exhaustive]
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

/// A body as JSON text. JSON is UTF-8 (RFC 8259); read as `&str`, as gloo reads every other JSON of the app,
/// serde_json is compiled with one reader rather than two (`from_slice` adds a second: 0.6 KB brotli, 5.9 KB raw).
/// The whole body is checked before any of it is parsed: a byte that is not UTF-8 is a syntax error where it
/// stands (even in a member the body type ignores, which `from_slice` skipped unread, and ahead of a JSON error
/// earlier in the body); a character cut short, a truncated body.
pub(crate) fn json_text(body: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(body).map_err(|error| {
        let read = &body[..error.valid_up_to()];
        let line = 1 + read.iter().filter(|&&byte| byte == b'\n').count();
        let column = 1 + read.iter().rev().take_while(|&&byte| byte != b'\n').count();
        let kind = if error.error_len().is_some() { DecodeErrorKind::Syntax } else { DecodeErrorKind::Truncated };
        DecodeError { kind, line, column }
    })
}

/// A request that got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Offline, DNS, connection refused or reset, CORS.
    #[error("no answer from the server")]
    Network,
    /// The transport's deadline passed first.
    #[error("the server did not answer in time")]
    Timeout,
    /// The request was not sent: the transport refused it as made (a header name or value a browser rejects).
    #[error("the request was refused before it was sent")]
    Rejected,
}
